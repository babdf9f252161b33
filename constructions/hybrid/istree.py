"""Thm 5.7: a hybrid Linear RNN (+ one attention layer) solving IsTree with an
O(n log n)-token chain of thought.

Input ``<s>, u_1, ~, v_1, ..., u_m, ~, v_m, <sep>``; the CoT is theory.hybrid_trace.istree_hybrid_trace:
a DFS from vertex 1 written as records ``dfs:q v w t x`` and moves ``dfs:down x`` / ``dfs:up f``
(see that module for the grammar and the decision after each record).

Why a new search (the paper only sketches it; docs/errata.md). One attention layer cannot
chain COUNT -> MatchNext as the Transformer of Thm 4.7 does, and a Linear RNN cannot hold a DFS stack.
The only one-step lookups available are Match (first occurrence), MatchClose (latest occurrence up to
the query position) and MatchNearest (the key nearest a target). "The next neighbour of v after w" is
a one-sided search, which none of them does in one step: a quadratic score -(t - b)^2 is symmetric
about its target. So the CoT performs it as a doubling search, one MatchNearest query per record:

  Scan v's neighbours in increasing order (the DFS is correct in any scan order). Let w be the last
  scanned neighbour of v (or 0) and s the smallest neighbour > w. Query t_0 = w + 1 and, while the
  answer is w, t_{i+1} = 2 t_i - w = w + 2^{i+1}. NEAREST(v, t) returns the neighbour b minimising
  (|t - b|, b). Claim: if no neighbour lies in (w, t_i) then the answer x_i is w when s >= 2 t_i - w
  (or s does not exist), and is s otherwise. Proof: w is a neighbour (or 0, the sink's value, when v
  has none at all), at distance t_i - w; every neighbour below w is farther; a neighbour b >= t_i with
  b - t_i < t_i - w is closer than w, and the first of them is s; at b - t_i = t_i - w the tie goes
  to the smaller, w. By induction (answer w at t_i excludes (w, 2 t_i - w) = (w, t_{i+1})) the search
  ends with x = s, or with x = w once 2 t - w > n (no neighbour left), after <= floor(log2 n) + 1
  queries. The RNN computes each target from the previous record (T = 2T' - W' is linear), as the
  paper's "doubling a state coordinate".

Per arrival at a vertex there are at most two searches (the second after skipping the parent), and
2n - 1 arrivals in a tree: CoT length <= (2n - 1)(2 + 10 (floor(log2 n) + 1)) + 1 = O(n log n).

Every quantity a token needs sits at a fixed lag behind it, so the Linear RNN needs only shift
registers (Lemma C.20) and a running sum (Lemma C.21, the arrival count); the stack lives in the context.
No head needs a position (PARENT and VISITED keys are unique), so there is no position counter:

  token (position)   emits                              from
  <sep>              1                                  RNN
  arrival a          dfs:q                              RNN (the token before is a move or <sep>)
  dfs:q              v: the arrival 1 back, else V 4 back        RNN
  V                  w: 0 after <sep>/down (3 back), the child 7 back after up, else X 2 back   RNN
  W                  t: W + 1 on a new search, else 2T' - W' if X' = W' (3, 4, 5 back)           RNN
  T                  x = NEAREST(v = V 2 back, t)       head NEAREST (MatchNearest, Lemma C.17 + tie fix)
  X                  the decision of the table above    heads PARENT(v), VISITED(x) + RNN flags
  dfs:down           x (1 back)                         RNN
  dfs:up             f(v), v 4 back                      head PARENT

Heads (all in the top block, reading RNN outputs only):
  NEAREST   keys: edge records (vertex a, other b) at the second endpoint of ``u ~ v`` (a = u, b = v)
            and at the token after it (a = v, b = u); query a = v, target t; value b -> near.
  PARENT    Match on a unique key (:func:`unique_match_head`): key = the vertex after ``dfs:down``,
            value = the record's v 5 back; query v -> par (0 = the sink: v is the root).
  VISITED   the same, key = the vertex after ``dfs:down`` or ``<sep>``; value 1 -> vis.

Claimed size (independent of n): RNN depth 2, state dimension 37, top block 3 heads, residual width 77
(:func:`claim`); RNN FFN width 44, top FFN width 33. Parameters grow like poly(n) in magnitude (the
Match constants). Number tokens run to n + 1: a first target w + 1 is n + 1 when w = n.
"""

from __future__ import annotations

import math

from constructions.gadgets.attention import (Quantity, coordinate, default_beta, match_nearest_head,
                                             unique_match_head)
from constructions.gadgets.gates import emit_value, gated, hat
from constructions.gadgets.ffn import added, constant, linear, scaled
from constructions.runtime.builder import FFNSpec, Form, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import Hybrid, LinearRNN, RNNBlock
from constructions.runtime.transformer import Block
from theory.hybrid_trace import DOWN, ISTREE_EXTRA, QUERY, UP, ZERO
from theory.tasks.istree import check_n
from theory.tokens import BOS, NO, SEP, TILDE, YES, Vocab, tok

T = {name: tok(name) for name in (BOS, SEP, TILDE, YES, NO, ZERO, QUERY, DOWN, UP)}
LAGS = {"num": 7, "nsq": 4, "down": 4, "up": 4, "sep": 4, "q": 4, "tilde": 2}
SOURCES = {"num": "num", "nsq": "num_sq", "down": T[DOWN], "up": T[UP], "sep": T[SEP], "q": T[QUERY],
           "tilde": T[TILDE]}
LOGIT = 2.0       # logit of an emitted special token
NUM_SCALE = 2.0   # emitted number v: logit of i is NUM_SCALE (i v - i^2 / 2)


def scratch_names() -> list[str]:
    regs = [f"{k}@{j}" for k, lags in LAGS.items() for j in range(lags + 1)]
    return regs + ["count", "one",
                   "emit_num", "emit_sq", "emit_zero", "emit_q", "found", "ok", "cont", "none",
                   "rec_a", "rec_a_sq", "rec_b", "rec_b_sq", "rec_val", "par_key", "par_key_sq", "par_val",
                   "par_q", "par_q_sq", "vis_key", "vis_key_sq", "vis_val",
                   "near", "par", "vis"]


def max_cot_length(n: int) -> int:
    """Upper bound on the CoT (module docstring)."""
    return (2 * n - 1) * (2 + 10 * (int(math.log2(n)) + 1)) + 1


def max_length(n: int) -> int:
    """Prompt with up to C(n, 2) edges, then the CoT."""
    return 3 * math.comb(n, 2) + 2 + max_cot_length(n)


def _lag(name: str, j: int) -> str:
    return f"{name}@{j}"


def _mk(j: int) -> Form:
    """Indicator that the token j back is a move marker or <sep> (the token after it is an arrival)."""
    return {_lag("down", j): 1.0, _lag("up", j): 1.0, _lag("sep", j): 1.0}


def claim(n: int | None = None) -> dict:
    return {"depth": 3, "rnn_depth": 2, "heads": 3, "width": 77, "state_dim": 37}


def build_istree_hybrid(n: int, *, beta: float | None = None) -> Hybrid:
    """Thm 5.7: hybrid IsTree model, CoT = theory.hybrid_trace.istree_hybrid_trace (O(n log n) tokens)."""
    n = check_n(n)
    # Number tokens 1..n + 1: a search target t = w + 1 reaches n + 1 when w = n (no vertex is n + 1).
    vocab = Vocab(n + 1, extra=ISTREE_EXTRA)
    layout = Layout.for_vocab(vocab, scratch_names())
    L = max_length(n)
    M = float(4 * n + 8)                  # big-M for gates: exceeds every |integer| compared below

    # ---- R1: shift registers of the current token's number, square and marker indicators; count.
    u1 = LinearUnitSpec(layout, "R1 registers")
    for key, lags in LAGS.items():
        u1.read(_lag(key, 0), SOURCES[key])
        for j in range(1, lags + 1):
            u1.keep(_lag(key, j), _lag(key, j - 1))
    # arrivals so far = markers so far (every dfs:down, dfs:up and <sep> is followed by its arrival)
    for src in (T[DOWN], T[UP], T[SEP]):
        u1.read("count", src)
    u1.keep("count")
    f1 = FFNSpec(layout)
    constant(f1, "one", "one")
    num = lambda j: {_lag("num", j): 1.0}                       # noqa: E731
    sq = lambda j: {_lag("nsq", j): -2.0}                       # noqa: E731  (i^2 = -2 num_sq)
    q = lambda j: {_lag("q", j): 1.0}                           # noqa: E731

    # Emissions decided by the RNN alone (module docstring's table). Every gate below is a 0/1
    # combination of lagged marker indicators, 1 exactly at the position type named.
    E = dict(num="emit_num", sq="emit_sq", zero="emit_zero")
    gated(f1, "sep->1", {_lag("sep", 0): 1.0}, {"bias": 1.0}, {E["num"]: 1.0, E["sq"]: 1.0})
    linear(f1, "arrival->q", {"emit_q": _mk(1)})
    gated(f1, "q->v new", added(q(0), _mk(2), {"bias": -1.0}), num(1), {E["num"]: 1.0})
    gated(f1, "q->v again", added(q(0), scaled(_mk(2), -1.0)), num(4), {E["num"]: 1.0})
    linear(f1, "q->sq", {E["sq"]: q(0)})
    v_child = added(q(1), {_lag("up", 3): 1.0, "bias": -1.0})
    gated(f1, "V->child", v_child, num(7), {E["num"]: 1.0})
    gated(f1, "V->child sq", v_child, {"bias": 1.0}, {E["sq"]: 1.0})
    gated(f1, "V->0", added(q(1), {_lag("down", 3): 1.0, _lag("sep", 3): 1.0, "bias": -1.0}), {"bias": 1.0},
           {E["zero"]: 1.0})
    emit_value(f1, "V->x'", added(q(1), scaled(_mk(3), -1.0)), num(2), M, **E)
    # W -> t. New search (4 back is a marker): t = W + 1. Otherwise t = W + 1 + [X' = W'] (2T' - W' - W - 1)
    # with X' 3 back, T' 4 back, W' 5 back (and W = X' here).
    linear(f1, "W->sq", {E["sq"]: q(2)})
    gated(f1, "W->w+1", q(2), added(num(0), {"bias": 1.0}), {E["num"]: 1.0})
    again = added(q(2), scaled(_mk(4), -1.0))
    hat(f1, "W->double", added(num(3), scaled(num(5), -1.0), scaled(again, M), {"bias": -M}),
        added(scaled(num(4), 2.0), scaled(num(5), -1.0), scaled(num(0), -1.0), {"bias": -1.0}), {E["num"]: 1.0})
    gated(f1, "down->x", {_lag("down", 0): 1.0}, num(1), {E["num"]: 1.0})
    linear(f1, "down->sq", {E["sq"]: {_lag("down", 0): 1.0}})
    # Flags at X (q 4 back): found = [X > W] = min(X - W, 1) (X >= W there); ok = [2T - W <= n].
    shut_x = added(scaled(q(4), M), {"bias": -M})
    d = added(num(0), scaled(num(2), -1.0))
    f1.unit("found:a", added(d, shut_x), {"bias": 1.0}, {"found": 1.0})
    f1.unit("found:b", added(d, shut_x, {"bias": -1.0}), {"bias": 1.0}, {"found": -1.0})
    y = added({"bias": float(n)}, scaled(num(1), -2.0), num(2))
    f1.unit("ok:a", added(y, shut_x, {"bias": 1.0}), {"bias": 1.0}, {"ok": 1.0})
    f1.unit("ok:b", added(y, shut_x), {"bias": 1.0}, {"ok": -1.0})
    # Keys, queries and values of the three heads (gates are 0/1 indicators, so ReLU(gate) = gate).
    t1, t2 = {_lag("tilde", 1): 1.0}, {_lag("tilde", 2): 1.0}
    gated(f1, "rec a fwd", t1, num(2), {"rec_a": 1.0})
    gated(f1, "rec a2 fwd", t1, sq(2), {"rec_a_sq": 1.0})
    gated(f1, "rec b fwd", t1, num(0), {"rec_b": 1.0, "rec_val": 1.0})
    gated(f1, "rec b2 fwd", t1, sq(0), {"rec_b_sq": 1.0})
    gated(f1, "rec a rev", t2, num(1), {"rec_a": 1.0})
    gated(f1, "rec a2 rev", t2, sq(1), {"rec_a_sq": 1.0})
    gated(f1, "rec b rev", t2, num(3), {"rec_b": 1.0, "rec_val": 1.0})
    gated(f1, "rec b2 rev", t2, sq(3), {"rec_b_sq": 1.0})
    # MatchNearest's sink is written for a key "position" 1 at k' = 1: put b = b^2 = 1 at <s>; the
    # value copied is rec_val (= b, but 0 at <s>, so "no neighbour" reads 0).
    linear(f1, "rec b sink", {"rec_b": {T[BOS]: 1.0}, "rec_b_sq": {T[BOS]: 1.0}})
    down1 = {_lag("down", 1): 1.0}
    gated(f1, "par key", down1, num(0), {"par_key": 1.0})
    gated(f1, "par key2", down1, sq(0), {"par_key_sq": 1.0})
    gated(f1, "par val", down1, num(5), {"par_val": 1.0})
    gated(f1, "par q@X", q(4), num(3), {"par_q": 1.0})
    gated(f1, "par q2@X", q(4), sq(3), {"par_q_sq": 1.0})
    gated(f1, "par q@up", {_lag("up", 0): 1.0}, num(4), {"par_q": 1.0})
    gated(f1, "par q2@up", {_lag("up", 0): 1.0}, sq(4), {"par_q_sq": 1.0})
    arrived = {_lag("down", 1): 1.0, _lag("sep", 1): 1.0}
    gated(f1, "vis key", arrived, num(0), {"vis_key": 1.0})
    gated(f1, "vis key2", arrived, sq(0), {"vis_key_sq": 1.0})
    linear(f1, "vis val", {"vis_val": arrived})

    # ---- R2: the X flags combined (an FFN-only block: its linear unit is zero).
    u2 = LinearUnitSpec(layout, "R2 (no recurrence)")
    f2 = FFNSpec(layout)
    f2.unit("cont", {"ok": 1.0, "found": -1.0}, {"bias": 1.0}, {"cont": 1.0})            # ok and not found
    f2.unit("none", added(q(4), {"ok": -1.0, "found": -1.0}), {"bias": 1.0}, {"none": 1.0})
    rnn = LinearRNN(vocab, layout, [RNNBlock(u1.build(), f1.build(), "R1: registers, count, emissions, keys"),
                                    RNNBlock(u2.build(), f2.build(), "R2: X flags")])

    # ---- top block: three heads over the RNN outputs.
    beta1 = default_beta(L, 1) if beta is None else beta
    near = match_nearest_head(layout, keys=[coordinate("rec_a", "rec_a_sq")],
                              queries=[Quantity(num(2), sq(2))], target=Quantity({"num": 1.0}, {"num_sq": -2.0}),
                              values={"rec_val": "near"}, length=n + 1, beta=beta1, pos="rec_b", pos_sq="rec_b_sq",
                              name="NEAREST")
    beta5 = default_beta(L, 5) if beta is None else beta
    parent = unique_match_head(layout, key=coordinate("par_key", "par_key_sq"), query=coordinate("par_q", "par_q_sq"),
                               values={"par_val": "par"}, beta=beta5, name="PARENT")
    visited = unique_match_head(layout, key=coordinate("vis_key", "vis_key_sq"),
                                query=Quantity({"num": 1.0}, {"num_sq": -2.0}), values={"vis_val": "vis"},
                                beta=beta5, name="VISITED")
    top = FFNSpec(layout)
    _readout(top, n, M)
    meta = {"builder": "build_istree_hybrid", "task": "istree", "n": n, "theorem": "Thm 5.7",
            "max_length": L, "claim": claim()}
    return Hybrid(rnn, Block([near, parent, visited], top.build(), "top: NEAREST, PARENT, VISITED, decide"),
                  score_scale=1.0, meta=meta)


def _readout(top: FFNSpec, n: int, M: float) -> None:
    """The top FFN: attention-dependent emissions, the RNN's emissions, and clearing the embedding.

    Every special logit ends as LOGIT x (a 0/1 flag) and the number logits as NUM_SCALE (i v - i^2/2)
    or 0, so the due token wins by >= 1 (see constructions.hybrid.turing for the same read-out).
    """
    gT = {_lag("q", 3): 1.0}
    # T -> x = near (0 when v has no neighbour: emit the token 0)
    emit_value(top, "T->near", gT, {"near": 1.0}, M, num="num", sq="num_sq", zero=T[ZERO],
                scale=(NUM_SCALE, NUM_SCALE, LOGIT))
    # X -> decision. eq = [X = par] where found, fv = found and vis.
    X = {_lag("num", 0): 1.0}
    d = added(X, {"par": -1.0})
    shut_found = added(scaled({"found": 1.0}, M), {"bias": -M})
    shut_fv = added(scaled({"found": 1.0, "vis": 1.0}, M), {"bias": -2 * M})
    one = {"bias": 1.0}
    # found & eq -> skip the parent (emit dfs:q); found & vis & not eq -> NO; found & not vis & not eq -> down
    hat(top, "skip", added(d, shut_found), one, {T[QUERY]: LOGIT, T[DOWN]: -LOGIT})
    top.unit("found&vis", {"found": 1.0, "vis": 1.0, "bias": -1.0}, one, {T[NO]: LOGIT, T[DOWN]: -LOGIT})
    hat(top, "found&vis&eq", added(d, shut_fv), one, {T[NO]: -LOGIT, T[DOWN]: LOGIT})
    linear(top, "found->down", {T[DOWN]: {"found": LOGIT}})
    # not found: keep doubling (dfs:q), or none: up, or at the root (par = 0) YES / NO
    linear(top, "cont->q", {T[QUERY]: {"cont": LOGIT}})
    linear(top, "none->up", {T[UP]: {"none": LOGIT}})
    root_end = added({"par": -1.0, "bias": 1.0}, scaled({"none": 1.0}, M), {"bias": -M})
    top.unit("root end", root_end, one, {T[UP]: -LOGIT, T[NO]: LOGIT})
    shut_root = added(scaled({"none": 1.0}, M), {"par": -M, "bias": -M})
    hat(top, "tour complete", added({"count": 1.0, "bias": -float(2 * n - 1)}, shut_root), one,
        {T[YES]: LOGIT, T[NO]: -LOGIT})
    # up -> f(v) = par (>= 1)
    top.unit("up->par", {_lag("up", 0): 1.0}, {"par": 1.0}, {"num": NUM_SCALE})
    linear(top, "up->sq", {"num_sq": {_lag("up", 0): NUM_SCALE}})
    # The RNN's emissions and the clearing of the current token's embedding.
    linear(top, "readout", {"num": {"num": -1.0, "emit_num": NUM_SCALE},
                            "num_sq": {"num_sq": -1.0, "emit_sq": NUM_SCALE},
                            T[ZERO]: {"emit_zero": LOGIT}, T[QUERY]: {"emit_q": LOGIT}})
    for name, coord in T.items():
        linear(top, f"clear {name}", {coord: {coord: -1.0}})
