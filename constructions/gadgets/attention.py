"""One-head attention blocks (Defs C.7-C.12, Lemmas C.13-C.18, corrected; docs/errata.md).

Each builder returns a :class:`Head` whose score is written as a sum of (key form) x (query form)
terms over named residual coordinates; the closed-form score and its margin are stated above the
terms. Conventions shared by every block:

* ``bos`` is the coordinate equal to ``1[k' = 1]`` (the ``<s>`` indicator ``tok:<s>``), ``one`` is a
  constant-1 coordinate and ``pos``/``pos_sq`` hold k and k^2 (an earlier FFN builds ``one`` and
  ``pos_sq``). Every quantity a block compares must be 0 at position 1, so ``<s>`` can act as the
  default ("sink") key.
* A :class:`Quantity` is a value and its square, each a linear form (the square usually comes from
  an embedding coordinate, e.g. the token value ``num`` with square ``-2 num_sq``).
* ``beta`` multiplies every score. The scores below are integers (or, for MatchNext, reals with the
  stated margin), so with margin ``gap`` the softmax leaks at most ``L exp(-beta gap)`` of its mass
  off the arg-max; :func:`default_beta` makes that leak smaller than float64's resolution
  (docs/errata.md: hard attention is only asymptotic, so beta is a calibrated constant, not 1).
* The Match family uses the gap-calibrated constants of docs/errata.md (mismatch weight ``P = L^2 + 10``,
  sink at ``-(L^2 + 5)``) instead of the paper's powers of n, which overflow float64's exact range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from constructions.gadgets.ffn import added, scaled
from constructions.runtime.builder import Form, HeadSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Head
from theory import tokens
from theory.tokens import tok

BOS = tok(tokens.BOS)


@dataclass(frozen=True)
class Quantity:
    """A residual quantity ``value`` together with a linear form equal to ``value ** 2``."""

    value: Form
    square: Form


def token_value(num: str = "num", num_sq: str = "num_sq") -> Quantity:
    """A token's number: ``num`` holds i and ``num_sq`` holds -i^2/2 (theory.tokens), so i^2 = -2 num_sq."""
    return Quantity({num: 1.0}, {num_sq: -2.0})


def coordinate(name: str, name_sq: str) -> Quantity:
    """A coordinate whose square an FFN already wrote into ``name_sq``."""
    return Quantity({name: 1.0}, {name_sq: 1.0})


def position_minus(offset: int, pos: str = "pos", pos_sq: str = "pos_sq", one: str = "one") -> Quantity:
    """``k - offset`` and ``(k - offset)^2 = k^2 - 2 offset k + offset^2``."""
    return Quantity({pos: 1.0, one: -float(offset)},
                    {pos_sq: 1.0, pos: -2.0 * offset, one: float(offset) ** 2})


def default_beta(length: int, gap: float) -> float:
    """Smallest integer beta with ``length * exp(-beta * gap) < 2^-54``: float64 sees exact one-hot weights.

    It also exceeds ``(q + 1) ln 2 / gap`` for every q <= 26, so in R_p every off-max exp rounds to 0.
    """
    return float(math.ceil((54 * math.log(2) + math.log(max(length, 2))) / gap))


def _check_pairs(keys: list[Quantity], queries: list[Quantity]) -> None:
    if not keys or len(keys) != len(queries):
        raise ValueError(f"need as many key as query quantities (>= 1), got {len(keys)} and {len(queries)}")


def _values(spec: HeadSpec, values: dict[str, str]) -> None:
    if not values:
        raise ValueError(f"head {spec.name} copies nothing: give at least one src -> dst value")
    for src, dst in values.items():
        spec.value(src, dst)


# -- COPY (Def C.7, Lemma C.13) -----------------------------------------------------------------------
def copy_head(layout: Layout, *, s: int, values: dict[str, str], beta: float = 1.0,
              pos: str = "pos", pos_sq: str = "pos_sq", one: str = "one", name: str | None = None) -> Head:
    """Write ``X[src, max(k - s, 1)]`` into ``dst`` at every position k (docs/errata.md: max with 1, not 0)."""
    if s < 1:
        raise ValueError(f"COPY needs a shift s >= 1, got {s}")
    spec = HeadSpec(layout, name or f"COPY s={s}")
    # score(k', k) = -beta (k - s - k')^2 = beta [ -k'^2 + 2 (k - s) k' - (k - s)^2 ].
    # Over keys k' in 1..k it peaks at k' = k - s when k > s and at k' = 1 otherwise; any other key
    # is at least beta lower (the squares of distinct integers differ by >= 1): gap 1.
    spec.term(key={pos_sq: 1.0}, query={one: -beta})
    spec.term(key={pos: 1.0}, query={pos: 2.0 * beta, one: -2.0 * s * beta})
    spec.term(key={one: 1.0}, query={pos_sq: -beta, pos: 2.0 * s * beta, one: -float(s * s) * beta})
    _values(spec, values)
    return spec.build()


# -- COUNT (Def C.8, Lemma C.14) ----------------------------------------------------------------------
def count_head(layout: Layout, *, keys: list[Quantity], queries: list[Quantity], dst: str,
               beta: float = 1.0, bos: str = BOS, one: str = "one", name: str = "COUNT") -> Head:
    """Write ``1 / (1 + #{h <= k : a(h) = b(k)})`` into ``dst`` (integer quantities, a = 0 at position 1)."""
    _check_pairs(keys, queries)
    spec = HeadSpec(layout, name)
    # score(k', k) = beta [ -sum_i (a_i - b_i)^2 + 1[k'=1] sum_i b_i^2 ]
    #             = beta sum_i [ -a_i^2 + 2 a_i b_i - (1 - 1[k'=1]) b_i^2 ]      (a_i(1) = 0).
    # The printed factorisation has sign errors (docs/errata.md); this one is checked term by term in
    # tests. Score 0 at k' = 1 and at every match, <= -beta at every mismatch (integers): the softmax
    # is uniform over {1} and the matches, and the value 1[k'=1] averages to 1/(m+1).
    for a, b in zip(keys, queries):
        spec.term(key=a.square, query={one: -beta})
        spec.term(key=a.value, query=scaled(b.value, 2.0 * beta))
        spec.term(key={one: 1.0, bos: -1.0}, query=scaled(b.square, -beta))
    spec.value(bos, dst)
    return spec.build()


# -- Match family (Defs C.9-C.11, Lemmas C.15-C.17) ---------------------------------------------------
def match_constants(length: int, spread: int) -> tuple[float, float]:
    """Gap-calibrated (P, S): mismatch weight and sink depth for position penalties in [0, spread].

    A match scores -penalty >= -spread, the sink -S = -(spread + 5), a mismatch <= -P = -(spread + 10).
    """
    return float(spread + 10), float(spread + 5)


def _mismatch_terms(spec: HeadSpec, keys, queries, P: float, beta: float, bos: str, one: str) -> Form:
    """Add -beta P sum_i (a_i - b_i)^2 + beta 1[k'=1] P sum_i b_i^2; return the key form paired with `one`.

    Expanded: sum_i [ -P a_i^2 + 2 P a_i b_i - P (1 - 1[k'=1]) b_i^2 ] (a_i = 0 at k' = 1).
    """
    _check_pairs(keys, queries)
    with_one: Form = {}
    for a, b in zip(keys, queries):
        with_one = added(with_one, scaled(a.square, -P))
        spec.term(key=a.value, query=scaled(b.value, 2.0 * P * beta))
        spec.term(key={one: 1.0, bos: -1.0}, query=scaled(b.square, -P * beta))
    return with_one


def match_head(layout: Layout, *, keys: list[Quantity], queries: list[Quantity], values: dict[str, str],
               length: int, beta: float | None = None, bos: str = BOS, one: str = "one",
               pos_sq: str = "pos_sq", name: str = "Match") -> Head:
    """Match: copy ``values`` from ``k* = min{h : a(h) = b(k)}``, or from position 1 if there is none.

    Integer quantities, a = 0 at position 1, positions k <= ``length``.
    """
    P, S = match_constants(length, length * length)
    beta = default_beta(length, 5) if beta is None else beta
    spec = HeadSpec(layout, name)
    # score(k', k) = beta [ -P sum_i (a_i - b_i)^2 - k'^2 + 1[k'=1] (P sum_i b_i^2 + 1 - S) ]
    #   k' = 1 (sink): -S = -(L^2 + 5);    a match k' >= 2: -k'^2 >= -L^2;
    #   a mismatch: <= -P - k'^2 <= -(L^2 + 14).
    # The smallest matching k' wins by (k'+1)^2 - k'^2 >= 5 over later matches (k' >= 2) and by
    # S - k'^2 >= 5 over the sink; with no match the sink wins by >= 9. Gap 5 in units of beta.
    # (The paper's text says "largest"; its own formula, like this one, picks the smallest: docs/errata.md.)
    with_one = _mismatch_terms(spec, keys, queries, P, beta, bos, one)
    spec.term(key=added(with_one, {pos_sq: -1.0, bos: 1.0 - S}), query={one: beta})
    _values(spec, values)
    return spec.build()


def match_close_head(layout: Layout, *, keys: list[Quantity], queries: list[Quantity],
                     values: dict[str, str], length: int, beta: float | None = None, bos: str = BOS,
                     one: str = "one", pos: str = "pos", pos_sq: str = "pos_sq",
                     name: str = "MatchClose") -> Head:
    """MatchClose: copy ``values`` from the last match ``k* = max{h <= k : a(h) = b(k)}``, else position 1."""
    P, S = match_constants(length, length * length)
    beta = default_beta(length, 1) if beta is None else beta
    spec = HeadSpec(layout, name)
    # score = beta [ -P sum (a-b)^2 - (k - k')^2 + 1[k'=1] (P sum b^2 + (k-1)^2 - S) ]
    #   sink: -S;  match: -(k-k')^2 >= -L^2 > -S + 4;  mismatch <= -P.
    # The latest match wins by (k-k'+1)^2 - (k-k')^2 = 2(k-k') + 1 >= 1: gap 1.
    # -(k-k')^2 = -k^2 + 2 k k' - k'^2;  1[k'=1](k-1)^2 = 1[k'=1](k^2 - 2k + 1).
    with_one = _mismatch_terms(spec, keys, queries, P, beta, bos, one)
    spec.term(key={one: 1.0}, query={pos_sq: -beta})
    spec.term(key={pos: 2.0}, query={pos: beta})
    spec.term(key={bos: 1.0}, query={pos_sq: beta, pos: -2.0 * beta, one: beta})
    spec.term(key=added(with_one, {pos_sq: -1.0, bos: -S}), query={one: beta})
    _values(spec, values)
    return spec.build()


def match_nearest_head(layout: Layout, *, keys: list[Quantity], queries: list[Quantity], target: Quantity,
                       values: dict[str, str], length: int, beta: float | None = None, bos: str = BOS,
                       one: str = "one", pos: str = "pos", pos_sq: str = "pos_sq",
                       name: str = "MatchNearest") -> Head:
    """MatchNearest with the tie fix of docs/errata.md: the match closest to the target position t(k).

    Among matches at equal distance from t the earlier one wins; no match gives position 1.
    The target is an integer in 1..``length``.
    """
    spread = 2 * length * length + length
    P, S = match_constants(length, spread)
    beta = default_beta(length, 1) if beta is None else beta
    spec = HeadSpec(layout, name)
    # Penalty f(d) = 2 d^2 - d with d = t - k'. f(d) = f(e) means (d - e)(2(d + e) - 1) = 0, so for
    # integers d = e: no two keys tie (the printed -(t - k')^2 ties at d = +-1, +-2, ...). f orders
    # distances as 0, +1, -1, +2, -2, ...: nearest first, earlier first on equal distance, gap 1.
    # score = beta [ -P sum (a-b)^2 - f(t - k') + 1[k'=1] (P sum b^2 + f(t - 1) - S) ]
    #   sink: -S = -(2L^2 + L + 5);  match: -f >= -(2L^2 + L);  mismatch: <= -P = -(2L^2 + L + 10).
    # -f(t - k') = -2t^2 + 4 t k' - 2k'^2 + t - k';  f(t - 1) = 2t^2 - 5t + 3.
    with_one = _mismatch_terms(spec, keys, queries, P, beta, bos, one)
    t, t2 = target.value, target.square
    spec.term(key={one: 1.0}, query=scaled(added(scaled(t2, -2.0), t), beta))
    spec.term(key={pos: 4.0}, query=scaled(t, beta))
    spec.term(key={bos: 1.0}, query=scaled(added(scaled(t2, 2.0), scaled(t, -5.0), {one: 3.0}), beta))
    spec.term(key=added(with_one, {pos_sq: -2.0, pos: -1.0, bos: -S}), query={one: beta})
    _values(spec, values)
    return spec.build()


# -- MatchNext (Def C.12, Lemma C.18) -----------------------------------------------------------------
def match_next_constants(max_count: int) -> tuple[float, float]:
    """(M1, M3) of docs/errata.md: M1 = 8 N^4, M3 = M1 + 10, for counters 1/2 .. 1/(N+1)."""
    m1 = 8.0 * max_count**4
    return m1, m1 + 10.0


def match_next_head(layout: Layout, *, keys: list[Quantity], queries: list[Quantity], counter: Quantity,
                    target: Form, values: dict[str, str], max_count: int, length: int,
                    beta: float | None = None, bos: str = BOS, one: str = "one",
                    sink: float | None = None, name: str = "MatchNext") -> Head:
    """MatchNext: among matches h, copy ``values`` from the one whose counter y(h) is closest to nh(k).

    ``target`` is the query's next-hat of its own counter (FFN :func:`constructions.gadgets.ffn.next_hat`);
    counters are unit fractions 1/2 .. 1/(N+1) with N = ``max_count``; no match gives position 1
    (docs/errata.md: define MatchNext by the score's behaviour, which is what IsTree needs).
    """
    M1, M3 = match_next_constants(max_count)
    sink = -M1 / 4 - 5.0 if sink is None else sink  # the sink's score / beta; see the margins below
    beta = default_beta(length, 1) if beta is None else beta
    spec = HeadSpec(layout, name)
    # score = beta [ -M3 sum (a-b)^2 - M1 (y^2 - 2 nh y) + 1[k'=1] (M3 sum b^2 - M1/4 - 5) ]
    # This is the score of docs/errata.md plus M1 nh^2 on every non-sink key, which removes the need for nh^2.
    #   match: M1 (nh^2 - (nh - y)^2) > -M1/4 (y <= 1/2, nh > 0);  sink (y = 0): -M1/4 - 5;
    #   mismatch: <= -M3 + M1 nh^2 <= -M1 - 10 + M1/4 = -3 M1/4 - 10, below the sink by M1/2 + 5.
    # (The sink used to sit at -M1 - 5, under the best mismatch: verify.smt found the counterexample
    # query (2, 2), x = 1, key (2, 3) with counter 1/4 at n = 4; tests/verify/test_smt.py replays it.)
    # Among matches the counter nearest nh wins. With nh = 1/(m+1) + delta, 0 <= delta <= 1/(m^3 (m+1))
    # (Lemma C.19) and neighbouring unit fractions g apart (g >= 1/((N+1)(N+2))), the margin is
    # M1 (g^2 - 2 g delta) >= 1 for M1 = 8 N^4 (checked with exact rationals in the tests).
    with_one = _mismatch_terms(spec, keys, queries, M3, beta, bos, one)
    spec.term(key=counter.value, query=scaled(target, 2.0 * M1 * beta))
    spec.term(key=added(with_one, scaled(counter.square, -M1), {bos: sink}), query={one: beta})
    _values(spec, values)
    return spec.build()


# -- Match on keys that occur at most once ------------------------------------------------------
def unique_match_head(layout: Layout, *, key: Quantity, query: Quantity, values: dict[str, str], beta: float,
                      name: str, bos: str = BOS, one: str = "one") -> Head:
    """Match for keys that occur at most once (every vertex arrives by ``dfs:down`` at most once).

    score = beta [ -P (a - b)^2 + 1[k'=1] (P b^2 - S) ],  P = 10, S = 5, a = 0 at k' = 1:
    the sink scores -5 beta, the matching key 0, every mismatch <= -10 beta (integers): gap 5 both
    ways. With unique keys no position tie-break is needed, so the scores stay O(beta n^2) instead of
    Match's O(beta L^2 n^2) (which R_p cannot hold at p <= 53, the largest float64 emulates). A query
    0 matches every zero-keyed position; those queries only occur where the value is not read.
    """
    P, S = 10.0, 5.0
    spec = HeadSpec(layout, name)
    # -P (a - b)^2 + 1[k'=1] P b^2 = -P a^2 + 2P a b - P (1 - 1[k'=1]) b^2   (a = 0 at k' = 1)
    spec.term(key=key.square, query={one: -P * beta})
    spec.term(key=key.value, query=scaled(query.value, 2.0 * P * beta))
    spec.term(key={one: 1.0, bos: -1.0}, query=scaled(query.square, -P * beta))
    spec.term(key={bos: 1.0}, query={one: -S * beta})
    for src, dst in values.items():
        spec.value(src, dst)
    return spec.build()


# -- position-keyed heads (used by Thm 4.8's RNN simulator) -------------------------------------------
def position_head(layout: Layout, *, target: Form, values: dict[str, str], beta: float, pos: str = "pos",
                  pos_sq: str = "pos_sq", one: str = "one", name: str = "Match position") -> Head:
    """Copy ``values`` from position t(k), a linear form of the query's residual (integer, 1 <= t <= k).

    Match (Lemma C.15) with the position as the key: keys are distinct, so the match is unique and
    no sink is needed; equivalently COPY (Lemma C.13) with a per-query offset k - t(k).
    score(k', k) = beta (2 t k' - k'^2) = beta (t^2 - (t - k')^2): the t^2 term is the same for every
    key and is dropped. It peaks at k' = t, every other key is at least beta lower (gap 1). A
    non-integer t (a float rounding of an integer) moves the peak nowhere while |t - round(t)| < 1/2.
    """
    spec = HeadSpec(layout, name)
    spec.term(key={pos: 1.0}, query=scaled(target, 2.0 * beta))
    spec.term(key={pos_sq: 1.0}, query={one: -beta})
    _values(spec, values)
    return spec.build()


def latest_head(layout: Layout, *, flag: Form, values: dict[str, str], length: int, beta: float,
                pos: str = "pos", one: str = "one", name: str = "MatchClose flag=0") -> Head:
    """Copy ``values`` from the latest position k' <= k whose 0/1 ``flag`` is 0 (one must exist).

    MatchClose (Lemma C.16) with a single 0/1 key and query 0, and a position penalty linear in k':
    score = beta (k' - M flag(k')), M = length + 1. Unflagged keys score beta k' >= beta, flagged
    ones beta (k' - M) < 0; the latest unflagged key wins by beta (gap 1).
    """
    spec = HeadSpec(layout, name)
    spec.term(key=added({pos: 1.0}, scaled(flag, -float(length + 1))), query={one: beta})
    _values(spec, values)
    return spec.build()


def earliest_head(layout: Layout, *, flag: Form, values: dict[str, str], length: int, beta: float,
                  pos: str = "pos", one: str = "one", name: str = "Match flag=1") -> Head:
    """Copy ``values`` from the earliest position k' <= k whose 0/1 ``flag`` is 1, else position 1.

    Match (Lemma C.15, first occurrence) with a single 0/1 key and a linear position penalty:
    score = beta (M flag(k') - k'), M = length + 1. Flagged keys score >= beta (M - k) > 0 and the
    earliest wins by beta; with none flagged every key scores -beta k' and position 1 wins (the sink).
    """
    spec = HeadSpec(layout, name)
    spec.term(key=added({pos: -1.0}, scaled(flag, float(length + 1))), query={one: beta})
    _values(spec, values)
    return spec.build()


def mean_head(layout: Layout, *, key: Quantity, query: Quantity, values: list[tuple[str, str, float]],
              beta: float, one: str = "one", name: str = "Mean") -> Head:
    """``dst += coef * (average of src)`` for each ``(src, dst, coef)`` in ``values``, the average taken
    uniformly over the positions k' <= k with a(k') = b(k) (integers; at least one must match).

    COUNT (Lemma C.14) without the sink: score = -beta (a - b)^2 = beta (-a^2 + 2 a b) - beta b^2, and
    the last term is the same for every key. Matches score -beta b^2, mismatches at least beta lower
    (gap 1), so the softmax is uniform over the matches.
    """
    spec = HeadSpec(layout, name)
    spec.term(key=key.square, query={one: -beta})
    spec.term(key=key.value, query=scaled(query.value, 2.0 * beta))
    if not values:
        raise ValueError(f"head {name} copies nothing: give at least one (src, dst, coef) value")
    for src, dst, c in values:
        spec.value(src, dst, c)
    return spec.build()
