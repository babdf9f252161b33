"""Thm 4.6, Counting (App. C.4): COUNT at the query, COPY it forward, compare with t.

Claimed size: depth 4, 1 head, width 17 (11 word-embedding coordinates with the token "0", pos, and
one, pos_sq, cnt, cnt_prev, prod), no CoT; independent of n.

    L1  FFN        one = 1, pos_sq = k^2
    L2  attention  COUNT (Lemma C.14) at every position: cnt = 1/(m+1), m = #{h <= k : x_h = x_k}.
                   At the query q (position l - 1) the query itself is counted: m = c_x + 1 with
                   c_x = #{j : x_j = q}. (Counting at the threshold position instead would also count
                   the threshold token when t = q.)
    L3  attention  COPY s = 1: cnt_prev = cnt of the query, at the threshold position l
        FFN        prod = (t + 3) cnt_prev (Lemma C.1; cnt_prev >= 0, t = num of the threshold token)
    L4  FFN        YES iff z = 1 - prod >= 0 (Lemma C.5), else NO; clear the threshold's embedding
"""

from __future__ import annotations

import math

from constructions.gadgets.attention import copy_head, count_head, default_beta, token_value
from constructions.gadgets.ffn import linear, multiply_nonneg, positions, threshold
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.tasks import counting as task

CLAIM = {"depth": 4, "heads": 1, "width": 17}


def band(n: int) -> float:
    """The dyadic threshold band eps = 2^-ceil(log2(n + 2)) <= 1/(n + 2)."""
    return 2.0 ** -math.ceil(math.log2(n + 2))


def build_counting_transformer(n: int, *, beta_count: float | None = None,
                               beta_copy: float | None = None) -> Transformer:
    """Thm 4.6 (Counting): depth 4, 1 head, width 17, independent of n."""
    vocab = task.vocab(n)
    layout = Layout.for_vocab(vocab, ["one", "pos_sq", "cnt", "cnt_prev", "prod"])
    length = task.max_length(n)

    l1 = FFNSpec(layout)
    positions(l1)

    # COUNT's scores are integers: 0 at <s> and at matches, <= -beta at mismatches (gap 1).
    count = count_head(layout, keys=[token_value()], queries=[token_value()], dst="cnt",
                       beta=default_beta(length, 1) if beta_count is None else beta_count)
    copy = copy_head(layout, s=1, values={"cnt": "cnt_prev"},
                     beta=default_beta(length, 1) if beta_copy is None else beta_copy)

    # prod = (t + 3) / (m + 1) with m = c_x + 1. YES iff c_x > t iff m + 1 >= t + 3 iff prod <= 1.
    # If c_x <= t then m + 1 <= t + 2 and prod >= (t + 3)/(t + 2) = 1 + 1/(t + 2) >= 1 + 1/(n + 2).
    l3 = FFNSpec(layout)
    multiply_nonneg(l3, "prod", {"cnt_prev": 1.0}, {"num": 1.0, "one": 3.0}, "prod")

    # z = 1 - prod is >= 0 (YES) or <= -1/(n + 2) <= -eps (NO). The non-strict threshold at u = 0
    # is 1 for z >= -eps/2 and 0 for z <= -eps: YES += 2 step, NO += 2 (1 - step); every other
    # logit is 0 once num, num_sq and the "0" indicator are cleared. Margin 2 (and eps/2 on z).
    eps = band(n)
    l4 = FFNSpec(layout)
    z = {"one": 1.0, "prod": -1.0}
    threshold(l4, "yes", z, 0.0, eps, "tok:YES", coef=2.0)
    threshold(l4, "no", z, 0.0, eps, "tok:NO", coef=-2.0)
    linear(l4, "no:base", {"tok:NO": {"one": 2.0}})
    linear(l4, "clear", {"num": {"num": -1.0}, "num_sq": {"num_sq": -1.0},
                         f"tok:{task.ZERO}": {f"tok:{task.ZERO}": -1.0}})

    blocks = [Block([], l1.build(), "L1 FFN: one, k^2"),
              Block([count], None, "L2: COUNT"),
              Block([copy], l3.build(), "L3: COPY count to the threshold; (t+3) * count"),
              Block([], l4.build(), "L4 FFN: compare with 1, emit YES/NO")]
    return Transformer(vocab, layout, blocks, score_scale=1.0,
                       meta={"builder": "build_counting_transformer", "task": "counting", "n": n,
                             "theorem": "Thm 4.6 (Counting)", "claim": CLAIM,
                             # premises of the rounding-error argument (verify.smt.precision): the
                             # read-out wins by 2 (YES/NO 2 against 0), and COUNT averages over its
                             # tied keys (the sink and the matches); COPY's target is unique
                             "logit_margin": 2.0, "tied_heads": {"COUNT": "all"}})
