"""Theorem 4.7 (Lemma C.27): a constant-size Transformer whose greedy CoT is the IsTree DFS trace.

Claimed size (independent of n): 7 blocks, at most 3 heads per block (10 heads in all), residual
width 58, FFN width at most 16. Parameters grow like poly(n) in magnitude (the largest is
``8 beta n^4``, in NEXT2); every attention column is one-hot up to ``L e^{-beta}`` (beta = 64 by default), which
is below float64 resolution for every n the checkers reach. CoT length: at most 2n tokens.

Input: ``<s>, u_1, ~, v_1, ..., u_m, ~, v_m, <sep>, c_1, c_2, ...`` (docs/istree.md, problem 5). At ``<sep>``
the model emits vertex 1; at CoT position l with current vertex v = c_l it emits the next tour
vertex, or NO at a cycle, or YES/NO when the tour is complete (see :mod:`theory.tasks.istree`).

This is the corrected schedule of docs/istree.md, tightened from 9 to 7 blocks:

* The next-edge search needs no approximation of next(x). Edge records carry unit-fraction
  counters c = 1/(j+1) (j = occurrence of the vertex among edge tokens); for the current counter x',
  the next record has c = x'/(1+x'), i.e. ``c (1 + x') - x' = 0``; the one after has
  ``c (1 + 2x') - x' = 0``. The squared residual is a bilinear form in key features (c^2, c, 1)
  and query features (1, x', x'^2), so it sits directly in the attention score (docs/istree.md, problem 3:
  a division-free test, used inside the head instead of after it).
* The descent flag and the counter x' = desc ? 1 : x come out of one FFN, because desc is a sum of
  ReLUs of the integer w - f and each ReLU can gate the linear quantity (1 - x) (and x^2 is fetched
  by the same attention that fetches x).
* "Is there a next edge?" is answered by the attention itself: when no record matches, the sink
  (position 1, whose values are all zero) wins, and the fetched other-endpoint is 0.

Blocks (A = attention heads, F = FFN):
  1 F  one, pos^2, is_num
  2 A  COUNT(num) -> cnt = 1/(1 + #occurrences so far);  SEP -> after_sep, sep_pos
    F  cnt^2, is_cot, cot_val = is_cot * num, cot_val^2, tour_ok = [pos - sep_pos = 2n - 1]
  3 A  COPY s=1, 2, 3 of (num, num^2, cnt, cnt^2, [token = ~])
    F  unified edge records (rec_v, rec_o, rec_c) + squares at v_i and at the position after v_i
  4 A  EDGE: record (v, w) -> x, x^2;  PARENT: first CoT occurrence of v -> f, f^2
    F  desc = [w = f];  x' = x + desc (1 - x);  x'^2 likewise
  5 A  NEXT: record (v, c) with c(1+x') = x' -> o1, o1^2;  NEXT2: c(1+2x') = x' -> o2, o2^2
    F  nz1 = [o1 > 0], e1 = [o1 = f], nz2 = [o2 > 0], fin = [f = 0 and o1 = 0]
  6 F  cand = f + nz1 (o1 - f) + [e1 and nz2] (o2 - f), cand^2, eqf = [cand is the parent]
  7 A  VISITED: does cand occur in the CoT? -> vis
    F  read-out: cancel the embedding; emit cand, NO (cycle) or YES/NO (tour finished); 1 at <sep>
"""

from __future__ import annotations

from constructions.gadgets.attention import copy_head, count_head, token_value
from constructions.gadgets.gates import hat
from constructions.runtime.builder import FFNSpec, HeadSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.tasks.istree import check_n, max_cot_length, max_prompt_length
from theory import tokens
from theory.tokens import Vocab, tok

BOS, SEP, TILDE, YES, NO = (tok(t) for t in (tokens.BOS, tokens.SEP, tokens.TILDE, tokens.YES, tokens.NO))

SCRATCH = [
    "one", "pos_sq", "is_num",                                                # block 1
    "cnt", "after_sep", "sep_pos",                                            # block 2 A
    "cnt_sq", "is_cot", "cot_val", "cot_sq", "tour_ok",                       # block 2 F
    "p1_num", "p1_nsq", "p1_c", "p1_c2", "p1_tilde",                          # block 3 A
    "p2_num", "p2_nsq", "p2_c", "p2_c2", "p2_tilde", "p3_num", "p3_nsq",
    "rec_v", "rec_v2", "rec_o", "rec_o2", "rec_c", "rec_c2",                  # block 3 F
    "x", "x2", "f", "f_nsq",                                                  # block 4 A
    "xp", "xp2",                                                              # block 4 F
    "o1", "o1_sq", "o2", "o2_sq",                                             # block 5 A
    "nz1", "e1", "nz2", "fin",                                                # block 5 F
    "cand", "cand_sq", "eqf",                                                 # block 6 F
    "vis",                                                                    # block 7 A
]

CLAIM = {"depth": 7, "heads": 3, "heads_total": 10, "width": 58, "ffn_width": 16}

NOT_BOS = {"one": 1.0, BOS: -1.0}  # 1 at every real position but the sink (position 1)


def build_istree_transformer(n: int, beta: float = 64.0, out_scale: float = 2.0) -> Transformer:
    """The IsTree Transformer for graphs on vertices 1..n (any number of edges up to C(n,2)).

    ``beta`` is the attention margin: every head's target beats every other key by at least
    ``beta`` (a head with tied targets, listed in ``meta["tied_heads"]``: they beat the rest by
    beta), so a column's leaked weight is at most ``L e^{-beta}``. ``out_scale`` is the logit margin of the read-out (numbers win by out_scale/2,
    YES/NO by out_scale).
    """
    n = check_n(n)
    if beta <= 0 or out_scale <= 0:
        raise ValueError("beta and out_scale must be positive")
    vocab = Vocab(n)
    lay = Layout.for_vocab(vocab, SCRATCH)
    max_len = max_prompt_length(n) + max_cot_length(n)
    blocks = [
        Block([], _block1(lay), "1: constants"),
        Block(_block2_heads(lay, beta), _block2_ffn(lay, n), "2: count, separator"),
        Block(_block3_heads(lay, beta), _block3_ffn(lay), "3: copy, edge records"),
        Block(_block4_heads(lay, beta, max_len), _block4_ffn(lay), "4: current edge, parent"),
        Block(_block5_heads(lay, beta, n), _block5_ffn(lay), "5: next edges"),
        Block([], _block6_ffn(lay), "6: candidate"),
        Block(_block7_heads(lay, beta), _block7_ffn(lay, vocab, out_scale), "7: visited, read-out"),
    ]
    meta = {"builder": "build_istree_transformer", "theorem": "Thm 4.7 (Lemma C.27)", "n": n,
            "beta": beta, "out_scale": out_scale, "max_len": max_len,
            # premises of the rounding-error argument (verify.smt.precision): the read-out's margin,
            # and the heads whose column can average over several maximal keys, with the values
            # that the average reaches (at the other values every tied key holds 0). COUNT ties the
            # sink with the matches; VISITED ties every CoT occurrence of cand; SEP ties every key
            # before the separator, where after_sep is 0 at every key and only sep_pos averages;
            # NEXT and NEXT2 tie the non-record keys at <sep> (query vertex 0), which hold
            # rec_o = rec_o2 = 0. Every other head has one target at every row that matters.
            "logit_margin": out_scale / 2,
            "tied_heads": {"COUNT": "all", "VISITED": "all", "SEP": ["sep_pos"], "NEXT": [], "NEXT2": []}}
    return Transformer(vocab, lay, blocks, score_scale=1.0, meta=meta)


# -- block 1 ----------------------------------------------------------------------------------------
def _block1(lay: Layout):
    f = FFNSpec(lay)
    f.out_bias("one", 1.0)
    f.unit("pos^2", {"pos": 1.0}, {"pos": 1.0}, {"pos_sq": 1.0})  # ReLU(k) k = k^2 for k >= 1
    # num is 0 (special token or padding) or an integer in 1..n: R(num) - R(num - 1) = [num >= 1]
    f.unit("is_num+", {"num": 1.0}, {"bias": 1.0}, {"is_num": 1.0})
    f.unit("is_num-", {"num": 1.0, "bias": -1.0}, {"bias": 1.0}, {"is_num": -1.0})
    return f.build()


# -- block 2 ----------------------------------------------------------------------------------------
def _block2_heads(lay: Layout, beta: float):
    # COUNT (Lemma C.14, corrected factorisation). With a = num(k'), b = num(k):
    #   score = -beta (a - b)^2 at every k' > 1, and 0 at the sink k' = 1.
    # Expanded: a^2 = -2 num_sq(k'), b^2 = -2 num_sq(k), so
    #   -beta a^2 + 2 beta a b - beta b^2 [k' > 1].
    # Every earlier token with the same value (and the token itself) ties with the sink at 0; the
    # rest score <= -beta. The value is the sink indicator, so cnt = 1 / (1 + #matches).
    count = count_head(lay, keys=[token_value()], queries=[token_value()], dst="cnt", beta=beta)
    # SEP: score = beta [token k' is <sep>]. With a separator at or before k the column is one-hot
    # on it (others score 0, leak < L e^-beta): after_sep = 1 and sep_pos = its position. Without
    # one every value read is 0 for after_sep; sep_pos is then an average that no later block uses
    # (every use is gated by is_cot, which needs after_sep).
    sep = HeadSpec(lay, "SEP")
    sep.term(key={SEP: 1.0}, query={"one": beta})
    sep.value(SEP, "after_sep").value("pos", "sep_pos")
    return [count, sep.build()]


def _block2_ffn(lay: Layout, n: int):
    f = FFNSpec(lay)
    f.unit("cnt^2", {"cnt": 1.0}, {"cnt": 1.0}, {"cnt_sq": 1.0})
    f.unit("is_cot", {"is_num": 1.0, "after_sep": 1.0, "bias": -1.0}, {"bias": 1.0}, {"is_cot": 1.0})
    # cot_val = R(num - n (1 - after_sep)): num when after the separator, else 0 (num <= n).
    gate = {"num": 1.0, "after_sep": float(n), "bias": -float(n)}
    f.unit("cot_val", gate, {"bias": 1.0}, {"cot_val": 1.0})
    f.unit("cot_val^2", gate, {"num": 1.0}, {"cot_sq": 1.0})
    # tour length at a CoT position is pos - sep_pos; a full tour has 2n - 1 vertices.
    hat(f, "tour_ok", {"pos": 1.0, "sep_pos": -1.0, "bias": -(2.0 * n - 1)}, {"bias": 1.0}, {"tour_ok": 1.0})
    return f.build()


# -- block 3 ----------------------------------------------------------------------------------------
def _block3_heads(lay: Layout, beta: float):
    # COPY (Lemma C.13): score = -beta (k - s - k')^2, maximal at k' = k - s, others <= -beta; for
    # k <= s the nearest admissible key is the sink k' = 1, whose copied values are 0.
    common = [("num", "num"), ("num_sq", "nsq"), ("cnt", "c"), ("cnt_sq", "c2"), (TILDE, "tilde")]
    return [
        copy_head(lay, s=1, beta=beta, values={src: f"p1_{dst}" for src, dst in common}),
        copy_head(lay, s=2, beta=beta, values={src: f"p2_{dst}" for src, dst in common}),
        copy_head(lay, s=3, beta=beta, values={"num": "p3_num", "num_sq": "p3_nsq"}),
    ]


def _block3_ffn(lay: Layout):
    # Unified edge records (docs/istree.md, problem 4). Edge i = (u_i, v_i) sits at positions 3i-1, 3i, 3i+1.
    #   at v_i     (previous token is ~):      record (u_i, v_i, cnt(u_i)) from 2 back / here
    #   at 3i + 2  (token 2 back is ~):        record (v_i, u_i, cnt(v_i)) from 1 back / 3 back
    # Elsewhere both flags are 0 and the record is 0 (vertex 0 matches no query).
    f = FFNSpec(lay)
    at_v, after_v = {"p1_tilde": 1.0}, {"p2_tilde": 1.0}
    fields = {
        "rec_v": ({"p2_num": 1.0}, {"p1_num": 1.0}),
        "rec_v2": ({"p2_nsq": -2.0}, {"p1_nsq": -2.0}),
        "rec_o": ({"num": 1.0}, {"p3_num": 1.0}),
        "rec_o2": ({"num_sq": -2.0}, {"p3_nsq": -2.0}),
        "rec_c": ({"p2_c": 1.0}, {"p1_c": 1.0}),
        "rec_c2": ({"p2_c2": 1.0}, {"p1_c2": 1.0}),
    }
    for out, (first, second) in fields.items():
        f.unit(f"{out}@v", at_v, first, {out: 1.0})  # ReLU(flag) * value, flag in {0, 1}
        f.unit(f"{out}@after", after_v, second, {out: 1.0})
    return f.build()


# -- block 4 ----------------------------------------------------------------------------------------
def _block4_heads(lay: Layout, beta: float, max_len: int):
    # EDGE: the record (rec_v, rec_o) = (v, w), v = num(k), w = p1_num(k) (the previous CoT vertex):
    #   score = -2 beta [(rec_v - v)^2 + (rec_o - w)^2] at k' > 1,  -beta at the sink.
    # A simple graph has one record with (v, w): it scores 0, the sink -beta, every other key
    # <= -2 beta (integers). Without a match (w = 0 at the first CoT position) the sink wins: x = 0.
    b2 = 2 * beta
    edge = HeadSpec(lay, "EDGE")
    edge.term(key={"rec_v2": 1.0, "rec_o2": 1.0}, query={"one": -b2})
    edge.term(key={"rec_v": 1.0}, query={"num": 2 * b2})
    edge.term(key={"rec_o": 1.0}, query={"p1_num": 2 * b2})
    edge.term(key=NOT_BOS, query={"num_sq": 2 * b2, "p1_nsq": 2 * b2})  # -b2 (v^2 + w^2)
    edge.term(key={BOS: 1.0}, query={"one": -beta})
    edge.value("rec_c", "x").value("rec_c2", "x2")
    # PARENT: the first CoT occurrence of v; its predecessor there is the DFS parent f(v).
    #   score = -lam (cot_val - v)^2 - beta k',   lam = beta (max_len + 1).
    # Matches score -beta k' (the earliest wins by >= beta); a non-match scores <= -lam - beta k'',
    # below every match since k' <= max_len. The query position itself always matches.
    lam = beta * (max_len + 1)
    parent = HeadSpec(lay, "PARENT")
    parent.term(key={"cot_sq": 1.0}, query={"one": -lam})
    parent.term(key={"cot_val": 1.0}, query={"num": 2 * lam})
    parent.term(key={"one": 1.0}, query={"num_sq": 2 * lam})  # -lam v^2
    parent.term(key={"pos": 1.0}, query={"one": -beta})
    parent.value("p1_num", "f").value("p1_nsq", "f_nsq")
    return [edge.build(), parent.build()]


def _block4_ffn(lay: Layout):
    # desc = [w = f]: we just arrived at v from its parent (or start at the root: w = f = 0). Then
    # the search starts before v's first record: x' = 1 (next counter 1/2). Otherwise x' = x.
    # x' = x + desc (1 - x): each ReLU of the hat gates the linear form (1 - x); same for x'^2.
    f = FFNSpec(lay)
    d = {"p1_num": 1.0, "f": -1.0}
    f.linear("x'", {"x": 1.0}, {"xp": 1.0})
    hat(f, "x'", d, {"bias": 1.0, "x": -1.0}, {"xp": 1.0})
    f.linear("x'^2", {"x2": 1.0}, {"xp2": 1.0})
    hat(f, "x'^2", d, {"bias": 1.0, "x2": -1.0}, {"xp2": 1.0})
    return f.build()


# -- block 5 ----------------------------------------------------------------------------------------
def _next_head(lay: Layout, name: str, beta: float, n: int, step: int, out: tuple[str, str]):
    # NEXT (step 1) / NEXT2 (step 2): the record of v whose counter c satisfies
    #   r = c (1 + step x') - x' = 0,  i.e. c = x' / (1 + step x')  (the next / next-next unit fraction).
    # For c = 1/a, x' = 1/b (a in 2..n, b in 1..n): r = (b + step - a) / (a b), so |r| >= 1/n^2 when
    # r != 0. Score = -2 beta (rec_v - v)^2 - 2 beta n^4 r^2 at k' > 1, and -beta at the sink:
    # the target scores 0, the sink -beta, every other key <= -2 beta. No target -> the sink wins and
    # every fetched value is 0 (no such edge).
    #   r^2 = c^2 (1 + step x')^2 - 2 c x' (1 + step x') + x'^2,  expanded in (1, x', x'^2).
    lam_v, lam_c = 2 * beta, 2 * beta * float(n) ** 4
    s = float(step)
    h = HeadSpec(lay, name)
    h.term(key={"rec_v2": 1.0}, query={"one": -lam_v})
    h.term(key={"rec_v": 1.0}, query={"num": 2 * lam_v})
    h.term(key={"rec_c2": 1.0}, query={"one": -lam_c, "xp": -2 * s * lam_c, "xp2": -s * s * lam_c})
    h.term(key={"rec_c": 1.0}, query={"xp": 2 * lam_c, "xp2": 2 * s * lam_c})
    h.term(key=NOT_BOS, query={"num_sq": 2 * lam_v, "xp2": -lam_c})  # -lam_v v^2 - lam_c x'^2
    h.term(key={BOS: 1.0}, query={"one": -beta})
    h.value("rec_o", out[0]).value("rec_o2", out[1])
    return h.build()


def _block5_heads(lay: Layout, beta: float, n: int):
    return [_next_head(lay, "NEXT", beta, n, 1, ("o1", "o1_sq")),
            _next_head(lay, "NEXT2", beta, n, 2, ("o2", "o2_sq"))]


def _block5_ffn(lay: Layout):
    f = FFNSpec(lay)
    one = {"bias": 1.0}
    f.unit("nz1+", {"o1": 1.0}, one, {"nz1": 1.0})
    f.unit("nz1-", {"o1": 1.0, "bias": -1.0}, one, {"nz1": -1.0})
    f.unit("nz2+", {"o2": 1.0}, one, {"nz2": 1.0})
    f.unit("nz2-", {"o2": 1.0, "bias": -1.0}, one, {"nz2": -1.0})
    hat(f, "e1", {"o1": 1.0, "f": -1.0}, one, {"e1": 1.0})
    # fin = [f = 0 and o1 = 0]: the root has no edge left. For integers f, o1 >= 0, R(1 - f - o1).
    f.unit("fin", {"f": -1.0, "o1": -1.0, "bias": 1.0}, one, {"fin": 1.0})
    return f.build()


# -- block 6 ----------------------------------------------------------------------------------------
def _block6_ffn(lay: Layout):
    # cand = o1 if the next edge exists and does not lead to the parent;
    #      = o2 if it leads to the parent and a next-next edge exists (skip the parent edge);
    #      = f  otherwise (backtrack; f = 0 at the root means the tour is finished).
    # As gated sums: cand = f + nz1 (o1 - f) + [e1 and nz2] (o2 - f); when o1 = f the first term is 0.
    f = FFNSpec(lay)
    skip = {"e1": 1.0, "nz2": 1.0, "bias": -1.0}  # R(e1 + nz2 - 1) = [e1 and nz2]
    f.linear("cand<-f", {"f": 1.0}, {"cand": 1.0})
    f.unit("cand<-o1", {"nz1": 1.0}, {"o1": 1.0, "f": -1.0}, {"cand": 1.0})
    f.unit("cand<-o2", skip, {"o2": 1.0, "f": -1.0}, {"cand": 1.0})
    f.linear("cand^2<-f", {"f_nsq": -2.0}, {"cand_sq": 1.0})
    f.unit("cand^2<-o1", {"nz1": 1.0}, {"o1_sq": 1.0, "f_nsq": 2.0}, {"cand_sq": 1.0})
    f.unit("cand^2<-o2", skip, {"o2_sq": 1.0, "f_nsq": 2.0}, {"cand_sq": 1.0})
    # eqf = [cand = f] = 1 - [nz1 and not e1] - [e1 and nz2] (the two events are disjoint).
    f.out_bias("eqf", 1.0)
    f.unit("eqf-descend", {"nz1": 1.0, "e1": -1.0}, {"bias": 1.0}, {"eqf": -1.0})
    f.unit("eqf-skip", skip, {"bias": 1.0}, {"eqf": -1.0})
    return f.build()


# -- block 7 ----------------------------------------------------------------------------------------
def _block7_heads(lay: Layout, beta: float):
    # VISITED: does cand occur among the CoT tokens so far?
    #   score = -2 beta (cot_val - cand)^2 at k' > 1, -beta at the sink; value is_cot.
    # CoT keys equal to cand score 0, the sink -beta, all others <= -2 beta; so vis = 1 if cand was
    # visited, else 0 (the sink's is_cot). For cand = 0 vis is meaningless and unused.
    b2 = 2 * beta
    vis = HeadSpec(lay, "VISITED")
    vis.term(key={"cot_sq": 1.0}, query={"one": -b2})
    vis.term(key={"cot_val": 1.0}, query={"cand": 2 * b2})
    vis.term(key=NOT_BOS, query={"cand_sq": -b2})
    vis.term(key={BOS: 1.0}, query={"one": -beta})
    vis.value("is_cot", "vis")
    return [vis.build()]


def _block7_ffn(lay: Layout, vocab: Vocab, out_scale: float):
    # The read-out is tied to the embedding, so first cancel the current token's embedding, then
    # write the decision (theory.tokens.number_logit_target: num = s v, num_sq = s emits v).
    # Every decision is gated by G = 2 is_cot - 2 (0 at CoT positions, -2 elsewhere); each gated
    # argument is at most 2 off the CoT, so it vanishes there. At CoT positions, with flags in {0,1}:
    #   emit cand  iff not fin and (cand is the parent or not visited): R(1 - vis + eqf - 2 fin)
    #              (eqf = 1 implies vis = 1, since the parent was visited, so the argument is 0 or 1)
    #   NO (cycle) iff not fin, not the parent, visited:              R(vis - eqf - fin)
    #   NO (tour)  iff fin and the tour is short:                       R(fin - tour_ok)
    #   YES        iff fin and the tour has 2n - 1 vertices:            R(fin + tour_ok - 1)
    # At <sep> (is_cot = 0) the linear term emits vertex 1, the DFS root.
    f = FFNSpec(lay)
    s = out_scale
    for coord in vocab.coordinates:
        f.linear(f"cancel {coord}", {coord: 1.0}, {coord: -1.0})
    f.linear("root at <sep>", {SEP: 1.0}, {"num": s, "num_sq": s})
    g = {"is_cot": 2.0, "bias": -2.0}
    emit = {**g, "bias": -1.0, "vis": -1.0, "eqf": 1.0, "fin": -2.0}
    f.unit("emit cand", emit, {"cand": s}, {"num": 1.0})
    f.unit("emit cand (sq)", emit, {"bias": s}, {"num_sq": 1.0})
    f.unit("NO: cycle", {**g, "vis": 1.0, "eqf": -1.0, "fin": -1.0}, {"bias": s}, {NO: 1.0})
    f.unit("NO: short tour", {**g, "fin": 1.0, "tour_ok": -1.0}, {"bias": s}, {NO: 1.0})
    f.unit("YES", {**g, "bias": -3.0, "fin": 1.0, "tour_ok": 1.0}, {"bias": s}, {YES: 1.0})
    return f.build()


