"""Thm 4.6, c-gram retrieval (App. C.4): COPY the c-1 previous tokens, then Match them.

Claimed size: depth 3, c - 1 heads (at least 1), width 14 + 2(c - 1), no CoT; all independent of n.

    L1  FFN        one = 1, pos_sq = k^2
    L2  attention  c - 1 COPY heads (Lemma C.13), s = 1..c-1: prev_s = token at k - s, with its
                   num_sq (so the square of the copied value comes along)
    L3  attention  Match (Lemma C.15): key (prev_{c-1}, .., prev_1) at k' = the c - 1 tokens before
                   x_{k'}; query (prev_{c-2}, .., prev_1, num) at the last query token = q_1..q_{c-1};
                   the first matching k' is the end of the first c-gram with prefix q: copy num
        FFN        read-out: emit the copied token
"""

from __future__ import annotations

from constructions.gadgets.attention import Quantity, copy_head, default_beta, match_head, token_value
from constructions.gadgets.ffn import emit_number, positions
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.tasks import cgram as task


def claim(c: int) -> dict:
    return {"depth": 3, "heads": max(c - 1, 1), "width": 14 + 2 * (c - 1)}


def _prev(s: int) -> Quantity:
    """The token s positions back; s = 0 is the current token."""
    return token_value() if s == 0 else token_value(f"prev{s}", f"prev{s}_sq")


def build_gram_transformer(vocab, length: int, c: int, *, beta_copy: float | None = None,
                           beta_match: float | None = None, task_name: str, builder: str,
                           theorem: str) -> Transformer:
    """The shared construction for AR (c = 2) and c-gram retrieval."""
    scratch = ["one", "pos_sq"] + [f"prev{s}{suffix}" for s in range(1, c) for suffix in ("", "_sq")] + ["ans"]
    layout = Layout.for_vocab(vocab, scratch)

    l1 = FFNSpec(layout)
    positions(l1)

    # COPY s writes (num, num_sq) of position max(k - s, 1) into (prev_s, prev_s_sq). Position 1 is
    # <s> with num = num_sq = 0, so keys that reach back before the data are 0 and never match a
    # query (query tokens are >= 1): those are exactly the Match sink's requirements.
    beta_copy = default_beta(length, 1) if beta_copy is None else beta_copy
    copies = [copy_head(layout, s=s, values={"num": f"prev{s}", "num_sq": f"prev{s}_sq"}, beta=beta_copy)
              for s in range(1, c)]

    # Key at k': the gram x_{k'-c+1}..x_{k'-1} = (prev_{c-1}, .., prev_1); query at the last prompt
    # position l: q_1..q_{c-1} = tokens at l-c+2..l = (prev_{c-2}, .., prev_1, num). A match in the
    # data exists (valid instance), and data keys (k' <= n + 1) precede every key that overlaps the
    # query, so Match's first occurrence is the reference's first occurrence.
    match = match_head(layout, keys=[_prev(s) for s in range(1, c)], queries=[_prev(s - 1) for s in range(1, c)],
                       values={"num": "ans"}, length=length, beta=beta_match,
                       name=f"Match {c - 1}-gram")
    l3 = FFNSpec(layout)
    emit_number(l3, "emit", {"ans": 1.0})

    blocks = [Block([], l1.build(), "L1 FFN: one, k^2"),
              Block(copies, None, f"L2: COPY s=1..{c - 1}"),
              Block([match], l3.build(), "L3: Match previous tokens, emit")]
    return Transformer(vocab, layout, blocks, score_scale=1.0,
                       meta={"builder": builder, "task": task_name, "n": vocab.n, "c": c,
                             "theorem": theorem, "claim": claim(c)})


def build_cgram_transformer(n: int, c: int = 3, *, beta_copy: float | None = None,
                            beta_match: float | None = None) -> Transformer:
    """Thm 4.6 (c-gram retrieval): depth 3, c - 1 heads, width 14 + 2(c - 1), independent of n."""
    return build_gram_transformer(task.vocab(n, c), task.max_length(n, c), c, beta_copy=beta_copy,
                                  beta_match=beta_match, task_name="cgram",
                                  builder="build_cgram_transformer", theorem="Thm 4.6 (c-gram retrieval)")
