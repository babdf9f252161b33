"""Thm 4.6, Associative Recall (App. C.4): COPY s = 1, then Match the predecessor.

Claimed size: depth 3, 1 head, width 16, no CoT; independent of n. This is the c-gram construction
(:mod:`constructions.transformer.cgram`) with c = 2:

    L1  FFN        one = 1, pos_sq = k^2
    L2  attention  COPY s = 1: prev1 = the previous token (and its square)
    L3  attention  Match prev1 at k' against the query token: the first k' whose predecessor is q
                   holds the answer x_{j+1}; copy it
        FFN        read-out
"""

from __future__ import annotations

from constructions.runtime.transformer import Transformer
from constructions.transformer.cgram import build_gram_transformer, claim
from theory.tasks import ar as task

CLAIM = claim(2)


def build_ar_transformer(n: int, *, beta_copy: float | None = None, beta_match: float | None = None) -> Transformer:
    """Thm 4.6 (AR): depth 3, 1 head, width 16, independent of n."""
    return build_gram_transformer(task.vocab(n), task.max_length(n), 2, beta_copy=beta_copy,
                                  beta_match=beta_match, task_name="ar", builder="build_ar_transformer",
                                  theorem="Thm 4.6 (Associative Recall)")
