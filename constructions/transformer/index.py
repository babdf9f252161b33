"""Thm 4.6, Index (App. C.4): a constant-size Transformer that answers x_i.

Claimed size: depth 2, 1 head, width 14 (10 word-embedding coordinates, pos, and one, pos_sq, ans), no CoT;
parameters grow like poly(n) in magnitude only (the Match constants are ~ beta (n+3)^2).

    L1  FFN        one = 1, pos_sq = k^2                                  (Lemma C.2, C.1)
    L2  attention  Match (Lemma C.15): key = data index k' - 1, query = the token i; copies
                   num (= x_i) from position i + 1 into ans
        FFN        read-out: num <- 2 ans, num_sq <- 2, so the tied decoder emits x_i
"""

from __future__ import annotations

from constructions.gadgets.attention import match_head, position_minus, token_value
from constructions.gadgets.ffn import emit_number, positions
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.tasks import index as task

CLAIM = {"depth": 2, "heads": 1, "width": 14}


def build_index_transformer(n: int, *, beta: float | None = None) -> Transformer:
    """Thm 4.6 (Index): depth 2, 1 head, width 14, independent of n; ``beta`` scales the Match head."""
    vocab = task.vocab(n)
    layout = Layout.for_vocab(vocab, ["one", "pos_sq", "ans"])
    length = task.max_length(n)

    l1 = FFNSpec(layout)
    positions(l1)

    # Data token x_j sits at position j + 1, so the key is the data index k' - 1 (0 at <s>, as the
    # sink requires). Exactly one key matches the query i in 1..n (position i + 1); the query's own
    # position has index n + 1 != i. Match's margin (5 beta) makes the copy exact.
    match = match_head(layout, keys=[position_minus(1)], queries=[token_value()], values={"num": "ans"},
                       length=length, beta=beta, name="Match index = query")
    l2 = FFNSpec(layout)
    emit_number(l2, "emit", {"ans": 1.0})

    blocks = [Block([], l1.build(), "L1 FFN: one, k^2"),
              Block([match], l2.build(), "L2: Match on position, emit x_i")]
    return Transformer(vocab, layout, blocks, score_scale=1.0,
                       meta={"builder": "build_index_transformer", "task": "index", "n": n,
                             "theorem": "Thm 4.6 (Index)", "claim": CLAIM})
