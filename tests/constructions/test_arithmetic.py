"""Exact R_p (App. A.2) against rational arithmetic written here from the definition, for odd p in 3..255.

The reference uses only ``fractions.Fraction`` and the rules of docs/precision.md: ROUND is the
nearest grid point k 2^-q (ties to even k), saturating at +-(2^q - 2^-q); a matrix product rounds each
product and then each partial sum left to right; softmax rounds exp(s - max), sums left to right,
and rounds each quotient once. exp is decided with mpmath at 2p + 80 bits (far more than the gap to
any rounding midpoint for these arguments), an independent route from the code's integer bounds.
"""

from __future__ import annotations

from fractions import Fraction

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.runtime.arithmetic import FLOAT64, Rp
from constructions.runtime.exact import Grid
from theory.precision import P_MAX, exp_round

# -- the reference, from the definition ----------------------------------------------------------------


def q_of(p):
    return (p - 1) // 2


def top(p):
    return Fraction(2 ** (p - 1) - 1, 2 ** q_of(p))


def ROUND(x: Fraction, p: int) -> Fraction:  # noqa: N802 - the paper's name
    step = Fraction(1, 2 ** q_of(p))
    k = x / step
    lo = k.numerator // k.denominator
    rest = k - lo
    n = lo + 1 if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and lo % 2) else lo
    return max(-top(p), min(top(p), n * step))


def ref_matmul(x, w, p):
    out = []
    for row in x:
        res = []
        for col in zip(*w):
            acc = Fraction(0)
            for a, b in zip(row, col):
                acc = ROUND(acc + ROUND(a * b, p), p)
            res.append(acc)
        out.append(res)
    return out


def ref_exp(x: Fraction, p: int) -> Fraction:
    with mpmath.workprec(2 * p + 80):
        v = mpmath.exp(mpmath.mpf(x.numerator) / x.denominator) * 2 ** q_of(p)
        if v > 2 ** p:
            return top(p)
        return ROUND(Fraction(int(mpmath.floor(v * 2))) / 2 ** (q_of(p) + 1) + Fraction(1, 2 ** (q_of(p) + 2)), p)


def ref_softmax(scores, p):
    """Column softmax of one query's visible scores."""
    m = max(scores)
    e = [ref_exp(ROUND(s - m, p), p) for s in scores]
    total = Fraction(0)
    for v in e:
        total = ROUND(total + v, p)
    return [ROUND(v / total, p) for v in e]


# -- strategies ------------------------------------------------------------------------------------------
odd_p = st.integers(1, (P_MAX - 1) // 2).map(lambda h: 2 * h + 1)


@st.composite
def grid_value(draw, p, small: bool = False):
    """A point of R_p: anywhere, near the top (saturation), or a small dyadic (the shortcuts' range)."""
    q = q_of(p)
    kind = draw(st.sampled_from(["any", "top", "small"] if not small else ["small"]))
    if kind == "any":
        k = draw(st.integers(-(2 ** (2 * q) - 1), 2 ** (2 * q) - 1))
    elif kind == "top":
        k = draw(st.sampled_from([1, -1])) * (2 ** (2 * q) - 1 - draw(st.integers(0, 3)))
    else:
        k = draw(st.integers(-64, 64)) << draw(st.integers(0, q))
        k = max(-(2 ** (2 * q) - 1), min(2 ** (2 * q) - 1, k))
    return Fraction(k, 2**q)


def ints(values, p):
    return np.array([[int(v * 2 ** q_of(p)) for v in row] for row in values], dtype=object)


def fracs(k, p):
    return [[Fraction(int(v), 2 ** q_of(p)) for v in row] for row in np.asarray(k)]


# -- properties -------------------------------------------------------------------------------------------
@given(odd_p, st.data())
def test_round_of_rationals_ties_and_saturation(p, data):
    q = q_of(p)
    k = data.draw(st.integers(-(2 ** (2 * q + 2)), 2 ** (2 * q + 2)))
    half = data.draw(st.sampled_from([Fraction(0), Fraction(1, 2), Fraction(1, 3), Fraction(-1, 2)]))
    x = (k + half) / 2**q  # grid points, ties and points between, up to twice beyond the range
    g = Grid(p, fast=False)
    assert Fraction(int(g.from_values(np.array([x], dtype=object))[0]), 2**q) == ROUND(x, p)


@given(odd_p, st.data())
def test_sums_and_products(p, data):
    a, b = data.draw(grid_value(p)), data.draw(grid_value(p))
    for g in (Grid(p), Grid(p, fast=False)):
        ka, kb = ints([[a]], p), ints([[b]], p)
        assert fracs(g.add(ka.astype(g.dtype), kb.astype(g.dtype)), p)[0][0] == ROUND(a + b, p)
        assert fracs(g.mul(ka.astype(g.dtype), kb.astype(g.dtype)), p)[0][0] == ROUND(a * b, p)


@settings(max_examples=20)
@given(odd_p, st.data())
def test_matrix_products_saturate_midway(p, data):
    small = data.draw(st.booleans())  # small dyadics: the float64 shortcut's range
    shape = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 3)))
    x = [[data.draw(grid_value(p, small)) for _ in range(shape[1])] for _ in range(shape[0])]
    w = [[data.draw(grid_value(p, small)) for _ in range(shape[2])] for _ in range(shape[1])]
    want = ref_matmul(x, w, p)
    for g in (Grid(p), Grid(p, fast=False)):
        assert fracs(g.matmul(ints(x, p).astype(g.dtype), ints(w, p).astype(g.dtype)), p) == want


def test_saturation_midway_then_back():
    """top + 1 - 1: the partial sum saturates at top, then steps back below it (not the exact sum)."""
    p = 7  # q = 3, top = 7.875
    g = Grid(p, fast=False)
    x = ints([[Fraction(7), Fraction(7), Fraction(-7)]], p)
    w = ints([[Fraction(1)], [Fraction(1)], [Fraction(1)]], p)
    assert fracs(g.matmul(x, w), p) == [[Fraction(63, 8) - 7]] == ref_matmul(fracs(x, p), fracs(w, p), p)


@given(odd_p, st.data())
def test_exp_is_correctly_rounded(p, data):
    q = q_of(p)
    d = data.draw(st.one_of(st.integers(-(2 ** (2 * q) - 1), 2 ** (2 * q) - 1),
                            st.integers(-((q + 2) << q), (q + 1) << q)))
    assert Fraction(exp_round(d, p), 2**q) == ref_exp(Fraction(d, 2**q), p)


@settings(max_examples=20)
@given(odd_p, st.data())
def test_softmax_weights_and_division(p, data):
    q = q_of(p)
    length = data.draw(st.integers(1, 6))
    spread = data.draw(st.sampled_from([1, q + 2, 2**q]))
    scores = [Fraction(data.draw(st.integers(-spread << q, spread << q)), 2**q) for _ in range(length)]
    scores = [max(-top(p), min(top(p), s)) for s in scores]
    causal = np.tril(np.ones((length, length), dtype=bool))
    got = Rp(p).raw().attention_weights(ints([scores] * length, p)[None], causal)[0]
    for i in range(length):
        assert fracs(got, p)[i][:i + 1] == ref_softmax(scores[:i + 1], p)
        assert not got[i, i + 1:].any()  # masked keys: weight exactly 0


# -- the fast paths are the exact path -------------------------------------------------------------------
@pytest.mark.parametrize("p", [5, 21, 27, 41, 53, 63, 127])
def test_fast_paths_equal_reference_on_random_heads(p):
    rng = np.random.default_rng(p)
    q, top_k = q_of(p), 2 ** (p - 1) - 1
    causal = np.tril(np.ones((7, 7), dtype=bool))
    fast, ref = Grid(p), Grid(p, fast=False)
    for scale in (3, 2 ** min(q // 2, 62), 2 ** min(q, 62)):  # small values (the shortcuts apply) up to large
        def draw():
            k = np.array(rng.integers(-scale, scale + 1, (3, 7, 2)).tolist(), dtype=object) << (q // 2)
            return np.minimum(np.maximum(k, -top_k), top_k)

        qq, kk, vv = draw(), draw(), draw()
        out_f, w_f = fast.attend(qq.astype(fast.dtype), kk.astype(fast.dtype), vv.astype(fast.dtype), causal, True)
        out_r, w_r = ref.attend(qq, kk, vv, causal, True)
        assert out_f.tolist() == out_r.tolist() and w_f.tolist() == w_r.tolist()


@pytest.mark.parametrize("p", [41, 53, 63])
def test_fast_paths_equal_reference_on_the_index_transformer(p):
    from constructions.transformer.index import build_index_transformer

    model = build_index_transformer(8)
    ids = _index_batch(model, 8, 6)
    fast, ref = Rp(p), Rp(p, fast=False)
    lf = model.logits(model.forward(ids, fast.raw()), fast.raw())
    lr = model.logits(model.forward(ids, ref.raw()), ref.raw())
    assert np.asarray(lf).tolist() == np.asarray(lr).tolist()  # bit for bit


@pytest.mark.parametrize("p", [9, 15])
def test_int64_sequential_products_equal_python_ints_on_a_saturating_rnn(p):
    """At low p the IsTree RAG-RNN's FFN products saturate, so the BLAS shortcut refuses and the
    sequential rule runs; with ``fast`` it runs in int64 when every product fits. Same integers."""
    from constructions import registry
    from theory.tasks.istree import IstreeTask
    from verify import core

    construction, task = registry.get("istree", "rag"), IstreeTask(4)
    model = construction.build(task)
    seqs = core.build_sequences(construction, task, model, task.domain(samples=3, seed=1).chunk(0)[1])
    fast, ref = Rp(p), Rp(p, fast=False)
    lf = model.logits(model.forward(seqs.ids, fast.raw()), fast.raw())
    lr = model.logits(model.forward(seqs.ids, ref.raw()), ref.raw())
    assert np.asarray(lf).tolist() == np.asarray(lr).tolist()  # bit for bit


def test_values_out_are_float64_to_53_bits_and_fractions_above():
    from constructions.transformer.index import build_index_transformer

    model = build_index_transformer(4)
    ids = _index_batch(model, 4, 2)
    x53, x55 = model.forward(ids, Rp(53)), model.forward(ids, Rp(55))
    assert x53.dtype == float and x55.dtype == object and isinstance(x55.flat[0], Fraction)
    assert np.array_equal(x53, x55.astype(float))  # the model only meets small dyadic values here


# -- whole models in exact R_p above 53 bits --------------------------------------------------------------
def _index_batch(model, n, count, seed=0):
    from theory.tasks import index

    return index.sample(n, count, np.random.default_rng(seed)).ids


def _index_passes(n, mode, count=20):
    from constructions.runtime.decode import teacher_force
    from constructions.transformer.index import build_index_transformer
    from theory.tasks import index

    model = build_index_transformer(n)
    batch = index.sample(n, count, np.random.default_rng(1))
    return teacher_force(model, batch.ids, batch.check_mask(), mode).ok


def test_index_transformer_passes_exact_rp_above_53_bits_and_fails_at_few():
    assert _index_passes(64, FLOAT64).all()
    assert _index_passes(64, Rp(61)).all()
    assert not _index_passes(64, Rp(11)).any()
