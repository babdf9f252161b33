"""Thm 5.3 (corrected): a Linear RNN with in-context regex RAG that decides IsTree by a
retrieval DFS in O(n) CoT; the RNN never stores the stack.

Format: the simplified retrieval format of the authors' IsTree experiments (App. B) with real regexes, not Algorithm 2 as
printed: Algorithm 2's r1/r3 alternations have several capture groups (``group(1)`` is ill-defined)
and its records are looked up with ``\\b`` patterns that fail next to special tokens. Here
(:func:`theory.rag.istree.istree_rag_trace`) parent records ``w par v`` live in the CoT, every DFS step
restates its state ``step v v'``, edge searches return the whole edge ``a ~ b`` (one group; the other
endpoint is a + b - v) and a lookahead for ``<se[p]>`` confines them to the prompt. The stack is the
chain of parent records, fetched by retrieval when the DFS returns.

Why a Linear RNN can produce it: every next token is a fixed function of the last K = 19 tokens
(a local grammar, checked exhaustively by ``python -m verify.istree --n 7 --model rag``) and of one
counter, so the state is

====================  ====================================================================
state coordinate      meaning (block 1 linear unit, Lemmas C.20/C.21)
====================  ====================================================================
``sp0 .. sp18``       special-token index of the last 19 tokens (numbers and padding: 0)
``nm0 .. nm18``       ``num`` of the last 19 tokens (vertex numbers; specials: 0)
``cnt``               number of ``par`` records = vertices reached
====================  ====================================================================

Lambda = 39 for every n; each number is at most max(n, #specials) (cnt <= n), so p = O(log n).

Blocks 2-4 are FFNs on integers (exact, :mod:`constructions.gadgets.gates`):
block 2 (features) ``1[sp_k = s]`` and ``1[integer form = 0]`` (hat, 3 units each); block 3 (rules)
``AND`` of binary features ``ReLU(sum f + sum (1 - g) - (m - 1))``, exact for 0/1 inputs; block 4
(emission) cancels the current token's embedding and, for the one rule that fires, raises a special
token's coordinate to 1 or writes (num, num_sq) = (2 w, 2) for a vertex w that is a register or
a + b - v (margin 1 in both cases; rules are mutually exclusive on CoT positions).

Claimed size: depth 4, Lambda = 39, FFN width O(1) (independent of n); CoT O(n + m) tokens: <= 41
per DFS step (one step per tree edge descended, one per return, one per skipped parent edge).
"""

from __future__ import annotations

from constructions.gadgets.rnn import recent_inputs, running_sum
from constructions.gadgets.gates import cancel_embedding, hat
from constructions.runtime.builder import FFNSpec, Form, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearRNN, RNNBlock
from theory.rag import istree as rt
from theory.rag.retrieval import GRAM_LEFT
from theory.tokens import BOS, END_SEARCH, FAILED, NO, SEP, START_SEARCH, TILDE, YES, Vocab, tok

LAGS = 19
NUM = "num"  # condition "the token is a number" (special index 0)
PAR, STEP, NEW = rt.ISTREE_PAR, rt.ISTREE_STEP, rt.ISTREE_NEW
LEFT, LC, OR = GRAM_LEFT, rt.ISTREE_LOOKUP_CLOSE, rt.ISTREE_OR
EO, EC, LA, MID = rt.ISTREE_FIRST_OPEN, rt.ISTREE_EDGE_CLOSE, rt.ISTREE_NEXT_OPEN, rt.ISTREE_NEXT_MID
SS, ES = START_SEARCH, END_SEARCH


def nm(*terms) -> Form:
    """sum of ``coef * nm_k`` for (k, coef) pairs, e.g. nm((2, 1), (0, 1), (5, -1)) = a + b - v."""
    return {f"nm{k}": float(c) for k, c in terms}


def _rules(n: int) -> list[tuple[list, object]]:
    """(conditions, emission). A condition is ("sp", k, token) = the token k back is ``token``
    (NUM: a number), ("eq", form) / ("ne", form) = an integer form is / is not 0. The emission is a
    special token name or a number form. Lags are those of the sequence in
    theory.rag.istree.istree_rag_trace (e.g. in ``a ~ b`` right after a FIRST scan, b is 0 back, a 2,
    the query's last v 5 and the parent p 10)."""
    def sp(k, t):
        return ("sp", k, t)

    v_first, v_next = nm((5, 1)), nm((5, 1))
    r: list[tuple[list, object]] = [
        ([sp(0, SEP)], {"bias": 1.0}),                                   # <sep> -> root 1
        ([sp(0, NUM), sp(1, SEP)], PAR),                                 # 1 par <s>
        ([sp(0, NUM), sp(1, FAILED)], PAR),                              # unvisited w: w par v
        ([sp(0, PAR), sp(2, SEP)], BOS),
        ([sp(0, PAR), sp(2, FAILED)], nm((10, 1), (8, 1), (1, -1))),      # v = a + b - w
        ([sp(0, NUM), sp(1, PAR)], STEP),
        ([sp(0, BOS), sp(1, PAR)], STEP),
        ([sp(0, STEP), sp(2, PAR)], nm((3, 1))),                         # step w (new vertex)
        ([sp(0, STEP), sp(1, FAILED), sp(7, EO)], nm((9, 1))),           # step p (return)
        ([sp(0, STEP), sp(1, FAILED), sp(15, LA)], nm((17, 1))),
        ([sp(0, STEP), sp(1, NUM), sp(2, TILDE)], nm((6, 1))),           # step v (skip parent edge)
        ([sp(0, NUM), sp(1, STEP), sp(3, PAR)], NEW),
        ([sp(0, NUM), sp(1, STEP), sp(2, FAILED)], nm((5, 1))),          # step p v
        ([sp(0, NUM), sp(1, STEP), sp(2, NUM), sp(3, TILDE)], nm((4, 1), (2, 1), (0, -1))),  # step v w
        ([sp(0, NUM), sp(1, NUM), sp(2, STEP)], SS),
        ([sp(0, NEW), sp(1, NUM), sp(2, STEP)], SS),
        ([sp(0, SS), sp(3, STEP)], LEFT),                                # parent lookup of v
        ([sp(0, LEFT), sp(1, SS), sp(4, STEP)], nm((3, 1))),
        ([sp(0, SS), sp(2, TILDE), sp(3, NUM)], LEFT),                   # visited lookup of w
        ([sp(0, LEFT), sp(1, SS), sp(3, TILDE)], nm((4, 1), (2, 1), (7, -1))),
        ([sp(0, NUM), sp(1, LEFT)], LC),
        ([sp(0, LC)], ES),
        ([sp(1, ES), sp(2, LC), sp(8, STEP)], SS),                       # after the parent lookup
        ([sp(0, SS), sp(9, STEP), sp(7, NEW)], EO),                      # scan: first edge
        ([sp(0, SS), sp(9, STEP), sp(7, NUM)], LA),                      # scan: next edge after v'
        ([sp(0, EO)], v_first),
        ([sp(0, NUM), sp(1, EO)], OR),
        ([sp(0, OR), sp(2, EO)], nm((1, 1))),
        ([sp(0, NUM), sp(1, OR), sp(3, EO)], EC),
        ([sp(0, LA)], v_next),
        ([sp(0, NUM), sp(1, LA)], TILDE),
        ([sp(0, TILDE), sp(2, LA)], nm((10, 1))),                        # v'
        ([sp(0, NUM), sp(3, LA)], OR),
        ([sp(0, OR), sp(4, LA)], nm((1, 1))),
        ([sp(0, NUM), sp(5, LA)], TILDE),
        ([sp(0, TILDE), sp(6, LA)], nm((5, 1))),
        ([sp(0, NUM), sp(7, LA)], MID),
        ([sp(0, MID)], nm((1, 1))),
        ([sp(0, NUM), sp(1, MID)], OR),
        ([sp(0, OR), sp(2, MID)], nm((1, 1))),
        ([sp(0, NUM), sp(1, OR), sp(3, MID)], EC),
        ([sp(0, EC)], ES),
    ]
    done = {"cnt": 1.0, "bias": -float(n)}
    for pk, scan in ((8, [sp(6, EO)]), (16, [sp(14, LA)])):             # scan found nothing
        base = [sp(0, FAILED), sp(1, ES), sp(2, EC), *scan]
        r += [(base + [sp(pk, BOS), ("eq", done)], YES),                 # root done, all reached
              (base + [sp(pk, BOS), ("ne", done)], NO),
              (base + [sp(pk, NUM)], STEP)]                              # return to the parent
    for pk, scan in ((10, [sp(8, EO)]), (18, [sp(16, LA)])):            # scan found a ~ b
        base = [sp(0, NUM), sp(1, TILDE), sp(2, NUM), sp(3, ES), *scan]
        w_minus_p = nm((2, 1), (0, 1), (5, -1), (pk, -1))
        r += [(base + [("eq", w_minus_p)], STEP), (base + [("ne", w_minus_p)], SS)]
    visited = [sp(1, ES), sp(2, LC), sp(7, TILDE)]
    r += [([sp(0, FAILED), *visited], nm((3, 1))),                      # unvisited: record w par v
          ([sp(0, NUM), *visited], NO), ([sp(0, BOS), *visited], NO)]  # visited, not the parent: cycle
    return r


def build_rag_istree(n: int) -> LinearRNN:
    """Thm 5.3 (corrected): depth 4, Lambda = 39, FFN width independent of n, CoT O(n + m)."""
    vocab = Vocab(n, rt.ISTREE_EXTRA)
    sidx = {name: k + 1 for k, name in enumerate(vocab.specials)}
    rules = _rules(n)
    feats: dict[tuple, str] = {}
    for conds, _ in rules:
        for cond in conds:
            key = (cond[0], cond[1], cond[2]) if cond[0] == "sp" else ("eq", tuple(sorted(cond[1].items())))
            feats.setdefault(key, f"f{len(feats)}")
    regs = [f"sp{k}" for k in range(LAGS)] + [f"nm{k}" for k in range(LAGS)]
    flags = [f"g{i}" for i in range(len(rules))]
    lay = Layout.for_vocab(vocab, ["sp_in", *regs, "cnt", *feats.values(), *flags])

    # block 1: the token's special index, shift registers (C.20), the record counter (C.21)
    f0 = FFNSpec(lay)
    for name, k in sidx.items():
        f0.linear(f"sp_in {name}", {tok(name): float(k)}, {"sp_in": 1.0})
    u1 = LinearUnitSpec(lay, "registers, records")
    recent_inputs(u1, ["sp_in", "num"], [[f"sp{k}", f"nm{k}"] for k in range(LAGS)])
    running_sum(u1, tok(PAR), "cnt")
    # The FFN of block 0 writes sp_in from the embedding; the unit of block 1 shifts it in.
    # block 2: features, 1[z = 0] for integer z (hat: exact)
    f2 = FFNSpec(lay)
    for key, coord in feats.items():
        if key[0] == "sp":
            _, k, token = key
            z = {f"sp{k}": 1.0, "bias": -float(0 if token == NUM else sidx[token])}
        else:
            z = dict(key[1])
        hat(f2, coord, z, {"bias": 1.0}, {coord: 1.0})
    # block 3: rule flags. For binary features, ReLU(sum pos + sum (1 - neg) - (m - 1)) is 1 iff all
    # hold and 0 otherwise (the sum is at most m - 1 when one fails).
    f3 = FFNSpec(lay)
    for i, (conds, _) in enumerate(rules):
        gate: Form = {"bias": -float(len(conds) - 1)}
        for cond in conds:
            key = (cond[0], cond[1], cond[2]) if cond[0] == "sp" else ("eq", tuple(sorted(cond[1].items())))
            coord = feats[key]
            if cond[0] == "ne":
                gate[coord] = gate.get(coord, 0.0) - 1.0
                gate["bias"] += 1.0
            else:
                gate[coord] = gate.get(coord, 0.0) + 1.0
        f3.unit(f"rule {i}", gate, {"bias": 1.0}, {f"g{i}": 1.0})
    # block 4: emission (exactly one flag is 1 at every CoT position; margin 1)
    f4 = FFNSpec(lay)
    cancel_embedding(f4, vocab.coordinates)
    for i, (_, emit) in enumerate(rules):
        if isinstance(emit, str):
            f4.linear(f"g{i}->{emit}", {f"g{i}": 1.0}, {tok(emit): 1.0})
        else:
            f4.unit(f"g{i}->num", {f"g{i}": 1.0}, {k: 2.0 * c for k, c in emit.items()}, {"num": 1.0})
            f4.unit(f"g{i}->num_sq", {f"g{i}": 1.0}, {"bias": 2.0}, {"num_sq": 1.0})
    none = LinearUnitSpec(lay, "none").build()
    blocks = [RNNBlock(none, f0.build(), "special index"),
              RNNBlock(u1.build(), f2.build(), "registers, records; features"),
              RNNBlock(none, f3.build(), "rules"),
              RNNBlock(none, f4.build(), "emission")]
    meta = {"builder": "constructions.rag.istree:build_rag_istree", "theorem": "Thm 5.3 (corrected)",
            "n": int(n), "rules": len(rules)}
    return LinearRNN(vocab, lay, blocks, meta=meta)
