"""FFN gadgets (Lemmas C.1-C.6): exhaustive over small integer grids, in float64, hard and R_p.

Each gadget is run through the runtime's real forward pass: a one-block model whose inputs are the
token value i (coordinate ``num``) and the position k (``pos``), so every (i, k) of a grid is one
residual column. Expected values are direct formulas.
"""

from __future__ import annotations

import numpy as np
import pytest

from constructions.gadgets import ffn as G
from constructions.runtime.arithmetic import FLOAT64, HARD, Rp
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.tokens import Vocab

N, L = 9, 9
MODES = [FLOAT64, HARD, Rp(21)]


def run_ffn(build, outputs=("out",), mode=FLOAT64, n=N, length=L):
    """Apply the FFN that ``build(spec)`` writes to every (i, k) in [n] x [length]; returns out[i-1, k-1]."""
    vocab = Vocab(n)
    layout = Layout.for_vocab(vocab, list(outputs))
    spec = FFNSpec(layout)
    build(spec)
    model = Transformer(vocab, layout, [Block([], spec.build(), "ffn")], score_scale=1.0)
    ids = np.repeat(np.arange(1, n + 1)[:, None], length, axis=1)
    res = model.forward(ids, mode)
    got = [res[:, :, layout[o]] for o in outputs]
    return got[0] if len(got) == 1 else got


I, K = np.meshgrid(np.arange(1, N + 1), np.arange(1, L + 1), indexing="ij")


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_multiply_any_signs(mode):
    got = run_ffn(lambda f: G.multiply(f, "m", {"num": 1.0, "bias": -5.0}, {"pos": 1.0, "bias": -4.0}, "out"),
                  mode=mode)
    assert np.array_equal(got, (I - 5) * (K - 4))


def test_multiply_printed_combination_fails():
    """Erratum (C.1): h_1 + h_2 computes |x| y, wrong whenever x < 0."""
    def printed(f):
        f.unit("a", {"num": 1.0, "bias": -5.0}, {"pos": 1.0}, {"out": 1.0})
        f.unit("b", {"num": -1.0, "bias": 5.0}, {"pos": 1.0}, {"out": 1.0})
    got = run_ffn(printed)
    assert np.array_equal(got, np.abs(I - 5) * K)
    assert not np.array_equal(got, (I - 5) * K)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_multiply_nonneg_and_square(mode):
    got = run_ffn(lambda f: (G.multiply_nonneg(f, "m", {"pos": 1.0}, {"num": 1.0, "bias": -3.0}, "a"),
                             G.square(f, "s", {"num": 1.0, "bias": -5.0}, "b")), ("a", "b"), mode)
    assert np.array_equal(got[0], K * (I - 3))
    assert np.array_equal(got[1], (I - 5) ** 2)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_linear_and_constant(mode):
    got = run_ffn(lambda f: (G.linear(f, "lin", {"out": {"num": 3.0, "pos": -2.0, "bias": 1.0}}),
                             G.constant(f, "c", "one", 1.0)), ("out", "one"), mode)
    assert np.array_equal(got[0], 3 * I - 2 * K + 1)
    assert np.array_equal(got[1], np.ones_like(got[1]))


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("B", [-3, 0, 1, 4, 8])
def test_indicator_exact(mode, B):
    got = run_ffn(lambda f: G.indicator(f, "ind", {"num": 1.0, "pos": -1.0}, float(B), "out"), mode=mode)
    assert np.array_equal(got, (I - K == B).astype(float))


def _indicator_printed(f, B, w3):
    """C.3 with the printed offsets 0.5, 0.5, 0.6, 0.4 (non-dyadic) and a given W_3, b_3 = 10."""
    x = {"num": 1.0}
    f.unit("1", {**x, "bias": -B - 0.5}, {"bias": 1.0}, {"out": w3[0]})
    f.unit("2", {**x, "bias": -B + 0.5}, {"bias": 1.0}, {"out": w3[1]})
    f.unit("3", {"num": -1.0, "bias": B - 0.6}, {"bias": 1.0}, {"out": w3[2]})
    f.unit("4", {"num": -1.0, "bias": B + 0.4}, {"bias": 1.0}, {"out": w3[3]})
    f.out_bias("out", 10.0)


def test_indicator_printed_weights_fail():
    """Erratum (C.3): W_3 = 10[1,-1,-1,1] gives 20 below B; the sign-fixed version is inexact in R_p."""
    B = 5
    printed = run_ffn(lambda f: _indicator_printed(f, B, [10, -10, -10, 10]))
    assert np.allclose(printed[I < B], 20)
    fixed = run_ffn(lambda f: _indicator_printed(f, B, [10, -10, 10, -10]), mode=Rp(21))
    assert np.any(fixed[I == B] != 1.0)          # 0.4 and 0.6 are not dyadic: 1 - O(2^-q)
    ours = run_ffn(lambda f: G.indicator(f, "ind", {"num": 1.0}, float(B), "out"), mode=Rp(21))
    assert np.array_equal(ours, (I == B).astype(float))


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_lookup_table(mode):
    rng = np.random.default_rng(0)
    base = 4
    table = {(a, b): float(rng.integers(-8, 9)) / 4 for a in range(1, base + 1) for b in range(1, base + 1)}
    got = run_ffn(lambda f: G.lookup(f, "tab", [{"num": 1.0}, {"pos": 1.0}], base, table, "out"),
                  mode=mode, n=base, length=base)
    for a in range(1, base + 1):
        for b in range(1, base + 1):
            assert got[a - 1, b - 1] == table[(a, b)]


def test_lookup_rejects_keys_out_of_range():
    with pytest.raises(ValueError, match="not in"):
        G.lookup(FFNSpec(Layout(["num", "out"])), "t", [{"num": 1.0}], 3, {(4,): 1.0}, "out")


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_threshold_non_strict_and_strict(mode):
    # x = (i - 5)/8 on a grid of step 1/8; u = 0 and eps = 1/8, so no grid point lies in a band.
    x = {"num": 0.125, "bias": -0.625}
    got = run_ffn(lambda f: (G.threshold(f, "ge", x, 0.0, 0.125, "a"),
                             G.threshold(f, "gt", x, 0.0, 0.125, "b", strict=True)), ("a", "b"), mode)
    xs = (I - 5) / 8
    assert np.array_equal(got[0], (xs >= 0).astype(float))
    assert np.array_equal(got[1], (xs > 0).astype(float))


def test_threshold_as_printed_is_non_strict():
    """Lemma C.5: the intended form is 1[x >= u] (not 1[x > u]): it differs exactly at x = u."""
    got = run_ffn(lambda f: G.threshold(f, "ge", {"num": 1.0}, 5.0, 1.0, "out"))
    assert np.all(got[I == 5] == 1.0)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_interval(mode):
    got = run_ffn(lambda f: G.interval(f, "in", {"num": 1.0, "pos": -1.0}, -2.0, 3.0, 0.5, "out"), mode=mode)
    d = I - K
    assert np.array_equal(got, ((d >= -2) & (d <= 3)).astype(float))


def test_bad_constants_are_rejected():
    f = FFNSpec(Layout(["num", "out"]))
    with pytest.raises(ValueError, match="positive"):
        G.threshold(f, "t", {"num": 1.0}, 0.0, 0.0, "out")
    with pytest.raises(ValueError, match="empty"):
        G.interval(f, "i", {"num": 1.0}, 2.0, 1.0, 0.5, "out")
