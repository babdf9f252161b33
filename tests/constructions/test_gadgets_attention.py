"""Attention blocks (Lemmas C.13-C.18): every sequence over a small alphabet, against brute force.

A test model is: L1 FFN (one, k^2, maybe squares), then the block under test, run by the runtime's
forward pass over ``<s>, x_1, ..., x_m`` for every x in {1..a}^m. Each head's output at every
position is compared with the definition evaluated directly on the token list.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from constructions.gadgets import attention as A
from constructions.gadgets import ffn as G
from constructions.runtime.arithmetic import FLOAT64, HARD, Rp
from constructions.runtime.builder import FFNSpec, HeadSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.tasks.common import all_words
from theory.tokens import Vocab

MODES = [FLOAT64, HARD, Rp(41)]


def sequences(alphabet: int, m: int) -> np.ndarray:
    vocab = Vocab(8)
    words = all_words(alphabet, m)
    return np.concatenate([np.full((len(words), 1), vocab.id("<s>")), words], axis=1)


def model_with(scratch, build_blocks):
    vocab = Vocab(8)
    layout = Layout.for_vocab(vocab, ["one", "pos_sq"] + scratch)
    first = FFNSpec(layout)
    G.positions(first)
    blocks = [Block([], first.build(), "L1")] + build_blocks(layout)
    return Transformer(vocab, layout, blocks, score_scale=1.0)


def values(ids: np.ndarray) -> np.ndarray:
    """Token values with 0 for <s> (what ``num`` holds)."""
    return np.where(ids <= 8, ids, 0)


def outputs(model, ids, coord, mode):
    return model.forward(ids, mode)[:, :, model.layout[coord]]


def assert_exact(got, expect, mode):
    """Exact in hard and R_p. In float64 an off-max weight is e^{-beta gap} > 0 (it only underflows
    for beta gap > 745), so a copied 0 keeps a residue ~1e-17 while nonzero values round exactly."""
    expect = np.broadcast_to(expect, got.shape)
    if mode.name == "float64":
        assert np.all(np.abs(got - expect) <= 2.0**-50 * np.maximum(1.0, np.abs(expect)))
        assert np.array_equal(got[expect != 0], expect[expect != 0])
    else:
        assert np.array_equal(got, expect)


# -- COPY ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("s", [1, 2, 3])
def test_copy_all_sequences(mode, s):
    ids = sequences(3, 5)
    L = ids.shape[1]
    model = model_with(["out"], lambda lay: [Block([A.copy_head(lay, s=s, values={"num": "out"},
                                                                 beta=A.default_beta(L, 1))])])
    got = outputs(model, ids, "out", mode)
    vals = values(ids)
    # definition with max{k - s, 1} (docs/errata.md; the paper's max{k - s, 0} has no position 0)
    expect = np.stack([vals[:, max(k - s, 1) - 1] for k in range(1, L + 1)], axis=1)
    assert_exact(got, expect, mode)


def test_copy_needs_beta():
    """At beta = 1 the softmax leaks mass: hard attention is only asymptotic (docs/errata.md)."""
    ids = sequences(3, 5)
    model = model_with(["out"], lambda lay: [Block([A.copy_head(lay, s=1, values={"num": "out"}, beta=1.0)])])
    vals = values(ids)
    assert not np.array_equal(outputs(model, ids, "out", FLOAT64)[:, 2:], vals[:, 1:-1])


# -- closed-form scores ------------------------------------------------------------------------------
def raw_scores(model, head, ids):
    """score[b, k, k'] = (W_K x_{k'}) . (W_Q x_k) from the residual entering the head's block."""
    _, dump = model.forward(ids, FLOAT64, dump=True)
    x = dump[1]["residual"]
    return np.einsum("bqh,bkh->bqk", x @ head.W_Q.T, x @ head.W_K.T)


def test_factorisations_reproduce_closed_forms():
    ids = sequences(3, 4)
    L = ids.shape[1]
    vocab = Vocab(8)
    layout = Layout.for_vocab(vocab, ["one", "pos_sq", "out"])
    heads = {
        "copy": A.copy_head(layout, s=2, values={"num": "out"}, beta=1.0),
        "count": A.count_head(layout, keys=[A.token_value()], queries=[A.token_value()], dst="out", beta=1.0),
        "match": A.match_head(layout, keys=[A.token_value()], queries=[A.token_value()], values={"pos": "out"},
                              length=L, beta=1.0),
        "close": A.match_close_head(layout, keys=[A.token_value()], queries=[A.token_value()],
                                    values={"pos": "out"}, length=L, beta=1.0),
        "nearest": A.match_nearest_head(layout, keys=[A.token_value()], queries=[A.token_value()],
                                        target=A.position_minus(1), values={"pos": "out"}, length=L, beta=1.0),
    }
    first = FFNSpec(layout)
    G.positions(first)
    a = values(ids)[:, None, :].astype(float)       # key value at k'
    b = values(ids)[:, :, None].astype(float)       # query value at k
    k = np.arange(1, L + 1)[None, :, None].astype(float)
    kp = np.arange(1, L + 1)[None, None, :].astype(float)
    sink = (kp == 1).astype(float)
    P, S = A.match_constants(L, L * L)
    P2, S2 = A.match_constants(L, 2 * L * L + L)
    t = k - 1
    f = lambda d: 2 * d**2 - d  # noqa: E731
    expect = {
        "copy": -(k - 2 - kp) ** 2,
        "count": -(a - b) ** 2 + sink * b**2,
        "match": -P * (a - b) ** 2 - kp**2 + sink * (P * b**2 + 1 - S),
        "close": -P * (a - b) ** 2 - (k - kp) ** 2 + sink * (P * b**2 + (k - 1) ** 2 - S),
        "nearest": -P2 * (a - b) ** 2 - f(t - kp) + sink * (P2 * b**2 + f(t - 1) - S2),
    }
    for name, head in heads.items():
        model = Transformer(vocab, layout, [Block([], first.build()), Block([head])], score_scale=1.0)
        assert np.array_equal(raw_scores(model, head, ids), np.broadcast_to(expect[name], (len(ids), L, L))), name


# -- COUNT -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES, ids=str)
def test_count_all_sequences(mode):
    ids = sequences(3, 6)
    L = ids.shape[1]
    model = model_with(["out"], lambda lay: [Block([A.count_head(lay, keys=[A.token_value()],
                                                                  queries=[A.token_value()], dst="out",
                                                                  beta=A.default_beta(L, 1))])])
    got = outputs(model, ids, "out", mode)
    vals = values(ids)
    m = np.stack([(vals[:, 1:k + 1] == vals[:, k:k + 1]).sum(axis=1) for k in range(L)], axis=1)
    expect = 1.0 / (m + 1)
    if mode.name == "rp":
        expect = mode.round(expect)
    assert np.array_equal(got[:, 1:], expect[:, 1:])  # position 1 (<s>) is the sink itself


# -- Match family ----------------------------------------------------------------------------------
def plus_one(q: A.Quantity) -> A.Quantity:
    """b + 1 and (b + 1)^2 = b^2 + 2b + 1 as linear forms (so the query need not occur at k itself)."""
    return A.Quantity(G.added(q.value, {"one": 1.0}), G.added(q.square, G.scaled(q.value, 2.0), {"one": 1.0}))


def brute(ids, pick):
    """out[b, k] = position chosen by ``pick(vals_row, k)`` (1-based), 1 when it returns None."""
    vals = values(ids)
    out = np.ones(ids.shape)
    for r in range(len(ids)):
        for k in range(1, ids.shape[1] + 1):
            h = pick(list(vals[r]), k)
            out[r, k - 1] = 1 if h is None else h
    return out


def first_match(vals, k):
    hits = [h for h in range(2, k + 1) if vals[h - 1] == vals[k - 1] + 1]
    return min(hits) if hits else None


def last_match(vals, k):
    hits = [h for h in range(2, k + 1) if vals[h - 1] == vals[k - 1] + 1]
    return max(hits) if hits else None


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_match_first_occurrence(mode):
    ids = sequences(3, 6)
    L = ids.shape[1]
    model = model_with(["out"], lambda lay: [Block([A.match_head(lay, keys=[A.token_value()],
                                                                  queries=[plus_one(A.token_value())],
                                                                  values={"pos": "out"}, length=L)])])
    assert np.array_equal(outputs(model, ids, "out", mode), brute(ids, first_match))


def test_match_picks_smallest_not_largest():
    """Erratum 6: the text says "largest", the score picks the smallest matching position."""
    ids = sequences(3, 6)
    L = ids.shape[1]
    model = model_with(["out"], lambda lay: [Block([A.match_head(lay, keys=[A.token_value()],
                                                                  queries=[plus_one(A.token_value())],
                                                                  values={"pos": "out"}, length=L)])])
    got = outputs(model, ids, "out", FLOAT64)
    assert not np.array_equal(got, brute(ids, last_match))


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_match_close_last_occurrence(mode):
    ids = sequences(3, 6)
    L = ids.shape[1]
    model = model_with(["out"], lambda lay: [Block([A.match_close_head(lay, keys=[A.token_value()],
                                                                        queries=[plus_one(A.token_value())],
                                                                        values={"pos": "out"}, length=L)])])
    assert np.array_equal(outputs(model, ids, "out", mode), brute(ids, last_match))


def nearest_match(vals, k):
    t = k - 2
    hits = [h for h in range(2, k + 1) if vals[h - 1] == vals[k - 1] + 1]
    return min(hits, key=lambda h: (abs(t - h), h)) if hits else None


def _nearest_model(L, printed=False):
    def blocks(lay):
        if not printed:
            head = A.match_nearest_head(lay, keys=[A.token_value()], queries=[plus_one(A.token_value())],
                                        target=A.position_minus(2), values={"pos": "out"}, length=L)
        else:
            head = _printed_nearest(lay, L)
        return [Block([head])]
    return model_with(["out"], blocks)


def _printed_nearest(lay, L):
    """The paper's MatchNearest penalty -(t - k')^2 (sink term to match), built here for comparison."""
    P, S = float(L * L + 10), float(L * L + 5)
    beta = A.default_beta(L, 1)
    spec = HeadSpec(lay, "printed MatchNearest")
    q = plus_one(A.token_value())
    spec.term(key={"num_sq": 2.0 * P}, query={"one": beta})
    spec.term(key={"num": 2.0 * P}, query=G.scaled(q.value, beta))
    spec.term(key={"one": 1.0, "tok:<s>": -1.0}, query=G.scaled(q.square, -P * beta))
    # -(t - k')^2 with t = k - 2: -t^2 + 2 t k' - k'^2; sink adds (t - 1)^2 - S
    t = A.position_minus(2)
    spec.term(key={"one": 1.0}, query=G.scaled(t.square, -beta))
    spec.term(key={"pos": 2.0}, query=G.scaled(t.value, beta))
    spec.term(key={"pos_sq": -1.0, "tok:<s>": -S}, query={"one": beta})
    spec.term(key={"tok:<s>": 1.0}, query=G.scaled(A.position_minus(3).square, beta))
    spec.value("pos", "out")
    return spec.build()


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_match_nearest_with_tie_fix(mode):
    ids = sequences(3, 6)
    L = ids.shape[1]
    got = outputs(_nearest_model(L), ids, "out", mode)
    expect = brute(ids, nearest_match)
    assert np.array_equal(got[:, 2:], expect[:, 2:])  # targets t = k - 2 >= 1


def tied_average(vals, k):
    """The printed penalty's hard-attention output: the mean of all matches nearest to t = k - 2."""
    t = k - 2
    hits = [h for h in range(2, k + 1) if vals[h - 1] == vals[k - 1] + 1]
    if not hits:
        return None
    best = min(abs(t - h) for h in hits)
    near = [h for h in hits if abs(t - h) == best]
    return sum(near) / len(near)


def test_match_nearest_printed_penalty_ties():
    """Lemma C.17 as printed: with -(t - k')^2 two matches equidistant from t tie; hard attention averages them."""
    ids = sequences(3, 6)
    L = ids.shape[1]
    got = outputs(_nearest_model(L, printed=True), ids, "out", HARD)
    assert np.array_equal(got[:, 2:], brute(ids, tied_average)[:, 2:])
    assert np.any(got[:, 2:] != brute(ids, nearest_match)[:, 2:])   # so the printed version is wrong


# -- next-hat and MatchNext ------------------------------------------------------------------------------
def next_model(s: int, L: int, beta=None):
    """COUNT -> c, c^2; COPY s of (c, c^2, token) to the query; next_hat; MatchNext copies the position."""
    def blocks(lay):
        count = A.count_head(lay, keys=[A.token_value()], queries=[A.token_value()], dst="c",
                             beta=A.default_beta(L, 1))
        sq = FFNSpec(lay)
        G.square(sq, "c^2", {"c": 1.0}, "c_sq")
        copy = A.copy_head(lay, s=s, values={"c": "x", "c_sq": "x_sq", "num": "b", "num_sq": "b_sq"},
                           beta=A.default_beta(L, 1))
        nh = FFNSpec(lay)
        G.next_hat(nh, "nh", "x", "x_sq", "nh")
        head = A.match_next_head(lay, keys=[A.token_value()], queries=[A.token_value("b", "b_sq")],
                                 counter=A.coordinate("c", "c_sq"), target={"nh": 1.0},
                                 values={"pos": "out"}, max_count=L, length=L, beta=beta)
        return [Block([count], sq.build()), Block([copy], nh.build()), Block([head])]
    return model_with(["c", "c_sq", "x", "x_sq", "b", "b_sq", "nh", "out"], blocks)


def test_next_hat_on_unit_fractions():
    """nh(1/m) = 1/(m+1) for m <= 3 and the Lemma C.19 bound |nh - next| <= next^3 for m >= 4."""
    L = 12
    ids = np.concatenate([[[Vocab(8).id("<s>")]], np.ones((1, L - 1), dtype=np.int64)], axis=1)
    model = next_model(1, L)
    res = model.forward(ids, FLOAT64)
    x = res[0, 2:, model.layout["x"]]          # 1/m for m = 1.. (counter of the previous 1)
    nh = res[0, 2:, model.layout["nh"]]
    m = np.rint(1 / x).astype(int)
    assert np.array_equal(m, np.arange(2, L)) or np.array_equal(m, np.arange(1, L - 1))
    for mi, v in zip(m, nh):
        nxt = 1 / (mi + 1)
        if mi <= 3:
            assert v == pytest.approx(nxt, abs=1e-15)
        else:
            assert 0 <= v - nxt <= nxt**3 + 1e-15


@pytest.mark.parametrize("mode", [FLOAT64, HARD, Rp(51)], ids=str)
@pytest.mark.parametrize("s", [1, 3])
def test_match_next_all_sequences(mode, s):
    # R_p: docs/errata.md puts MatchNext at ~12 log2 n + 15 bits (51 at n = 8); p = 47 fails here.
    ids = sequences(2, 7)
    L = ids.shape[1]
    got = outputs(next_model(s, L), ids, "out", mode)
    vals = values(ids)
    for r in range(len(ids)):
        row = list(vals[r])
        for k in range(s + 2, L + 1):
            q = k - s                                       # the query looks at token q's next occurrence
            b = row[q - 1]
            cnt = lambda h: Fraction(1, 1 + sum(1 for j in range(2, h + 1) if row[j - 1] == row[h - 1]))  # noqa: E731
            target = 1 / (1 / cnt(q) + 1)                   # next(1/m) = 1/(m+1)
            hits = [h for h in range(2, k + 1) if row[h - 1] == b]
            best = min(hits, key=lambda h: abs(cnt(h) - target))
            assert got[r, k - 1] == best, (row, k)


@pytest.mark.parametrize("N", [1, 2, 3, 4, 8, 16, 64, 256])
def test_match_next_margin_exact(N):
    """M1 (g^2 - 2 g delta) >= 1 over all counters 1/2..1/(N+1), with exact rationals (docs/errata.md)."""
    M1, _ = A.match_next_constants(N)
    M1 = Fraction(int(M1))
    counters = [Fraction(1, j) for j in range(2, N + 2)]
    worst = None
    for x in counters:
        m = x.denominator
        nh = Fraction(1, m + 1) if m <= 3 else x - x**2 + x**3
        star = Fraction(1, m + 1)
        if star not in counters:
            continue
        # (nh - y)^2 grows with |nh - y|, so the runner-up is a neighbour of star: 1/m or 1/(m+2)
        for y in (x, Fraction(1, m + 2)):
            if y in counters + [x]:
                gap = M1 * ((nh - y) ** 2 - (nh - star) ** 2)
                worst = gap if worst is None else min(worst, gap)
    assert worst is None or worst >= 1


def test_builders_reject_bad_arguments():
    lay = Layout.for_vocab(Vocab(4), ["one", "pos_sq", "out"])
    with pytest.raises(ValueError, match="shift"):
        A.copy_head(lay, s=0, values={"num": "out"})
    with pytest.raises(ValueError, match="as many"):
        A.count_head(lay, keys=[A.token_value()], queries=[], dst="out")
    with pytest.raises(ValueError, match="copies nothing"):
        A.match_head(lay, keys=[A.token_value()], queries=[A.token_value()], values={}, length=5)
