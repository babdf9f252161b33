"""Thm 5.6: constant-size hybrids (Linear RNN + one Transformer layer) for Index, AR,
c-gram retrieval and Counting, with no chain of thought.

The proof reuses the Thm 4.6 attention layer and feeds it RNN outputs instead of lower Transformer
layers (:mod:`constructions.hybrid.features` builds the RNN):

    task      RNN supplies (features.py)             top attention (Lemma)              top FFN
    index     rpos, rpos^2 (C.21 + FFN)              Match (C.15): key rpos - 1 = the   emit the copied number
                                                     data index, query = the token i
    ar        prev1 (C.20), rpos^2                   Match: key prev1, query = token q  emit
    cgram     prev1..prev{c-1}, rpos^2               Match on c - 1 coordinates         emit
    counting  prev1 = the query q held in the state  COUNT (C.14): key prev1 = x_{h-1},  YES/NO from (t + 3) cnt
                                                     query prev1 = q at the threshold

Claimed size (independent of n): RNN depth 2 (1 for Counting), one top block with one head for every
task (c - 1 key coordinates for c-gram); residual width and state dimension as :func:`claim`. No CoT.
The KV cache holds, per position, the head's key features and its values
(:meth:`constructions.runtime.rnn.Hybrid.kv_cache_numbers`), so it grows like n; the RNN state is
constant.
"""

from __future__ import annotations

from constructions.gadgets.attention import (Quantity, count_head, default_beta, match_head,
                                             position_minus, token_value)
from constructions.gadgets.ffn import emit_number
from constructions.hybrid.features import feature_blocks, position_names, prev_names
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import Hybrid, LinearRNN
from constructions.runtime.transformer import Block
from theory.tasks import ar, cgram, counting, index


def claim(task: str, c: int = 3) -> dict:
    """Blocks (the RNN's and the top one), heads of the top block, residual width, RNN state dimension."""
    lags = {"index": 0, "ar": 1, "cgram": c - 1, "counting": 1}[task]
    positions = task != "counting"
    embedding = 11 if task == "counting" else 10  # num, num_sq, 8 specials (+ the token "0")
    # + shift register, + one (rpos, rpos_sq), + the answer/count coordinate, + pos
    width = embedding + len(prev_names(lags)) + (3 if positions else 1) + 1 + 1
    state = (2 * (lags + 1) if lags else 0) + (1 if positions else 0)
    rnn_depth = 2 if positions else 1
    return {"depth": rnn_depth + 1, "rnn_depth": rnn_depth, "heads": 1, "width": width, "state_dim": state}


def _hybrid(vocab, layout, rnn_blocks, top: Block, meta: dict) -> Hybrid:
    model = Hybrid(LinearRNN(vocab, layout, rnn_blocks, meta=dict(meta)), top, score_scale=1.0, meta=meta)
    return model


def _rpos_minus(offset: int) -> Quantity:
    return position_minus(offset, pos="rpos", pos_sq="rpos_sq", one="one")


def _prev(s: int) -> Quantity:
    return token_value() if s == 0 else token_value(f"prev{s}", f"prev{s}_sq")


def build_index_hybrid(n: int, *, beta: float | None = None) -> Hybrid:
    """Thm 5.6 (Index): RNN depth 2 (state 1: the position), one Match head, no CoT."""
    vocab = index.vocab(n)
    layout = Layout.for_vocab(vocab, position_names() + ["ans"])
    # Key at k' = rpos - 1 = the data index of x_{k'-1} (0 at <s>, the sink); the query token i in
    # 1..n matches exactly the key at position i + 1 (the query's own key is n + 1 != i). Match's
    # margin is 5 beta (constructions.gadgets.attention.match_head), so the copy of num = x_i is exact.
    head = match_head(layout, keys=[_rpos_minus(1)], queries=[token_value()], values={"num": "ans"},
                      length=index.max_length(n), beta=beta, pos_sq="rpos_sq", name="Match index = query")
    top = FFNSpec(layout)
    emit_number(top, "emit", {"ans": 1.0})
    return _hybrid(vocab, layout, feature_blocks(layout, lags=0, positions=True),
                   Block([head], top.build(), "top: Match on the RNN's position, emit x_i"),
                   {"builder": "build_index_hybrid", "task": "index", "n": n, "theorem": "Thm 5.6 (Index)",
                    "claim": claim("index")})


def build_gram_hybrid(vocab, length: int, c: int, *, beta: float | None, task_name: str, builder: str,
                      theorem: str) -> Hybrid:
    """AR (c = 2) and c-gram retrieval: the shift register replaces Thm 4.6's COPY layer."""
    layout = Layout.for_vocab(vocab, prev_names(c - 1) + position_names() + ["ans"])
    # Key at k' = (prev_{c-1}, .., prev_1) = the c - 1 tokens before x_{k'}, query at the last prompt
    # position = (prev_{c-2}, .., prev_1, num) = q_1..q_{c-1}. Keys that reach before the data read 0
    # (the shift register starts at 0 and <s> has number 0), and query tokens are >= 1, so they never
    # match; data keys (k' <= n + 1) precede every key overlapping the query, so Match's first
    # occurrence is the reference answer's (same argument as constructions.transformer.cgram).
    head = match_head(layout, keys=[_prev(s) for s in range(1, c)], queries=[_prev(s - 1) for s in range(1, c)],
                      values={"num": "ans"}, length=length, beta=beta, pos_sq="rpos_sq",
                      name=f"Match {c - 1}-gram")
    top = FFNSpec(layout)
    emit_number(top, "emit", {"ans": 1.0})
    return _hybrid(vocab, layout, feature_blocks(layout, lags=c - 1, positions=True),
                   Block([head], top.build(), "top: Match the RNN's previous tokens, emit"),
                   {"builder": builder, "task": task_name, "n": vocab.n, "c": c, "theorem": theorem,
                    "claim": claim("cgram", c) if task_name == "cgram" else claim("ar")})


def build_ar_hybrid(n: int, *, beta: float | None = None) -> Hybrid:
    """Thm 5.6 (AR): RNN depth 2 (state 5), one Match head, no CoT."""
    return build_gram_hybrid(ar.vocab(n), ar.max_length(n), 2, beta=beta, task_name="ar",
                             builder="build_ar_hybrid", theorem="Thm 5.6 (Associative Recall)")


def build_cgram_hybrid(n: int, c: int = 3, *, beta: float | None = None) -> Hybrid:
    """Thm 5.6 (c-gram): RNN depth 2 (state 2c + 1), one Match head over c - 1 coordinates, no CoT."""
    return build_gram_hybrid(cgram.vocab(n, c), cgram.max_length(n, c), c, beta=beta, task_name="cgram",
                             builder="build_cgram_hybrid", theorem="Thm 5.6 (c-gram retrieval)")


def build_counting_hybrid(n: int, *, beta: float | None = None) -> Hybrid:
    """Thm 5.6 (Counting): RNN depth 1 (state 4: the query token q held in prev1), one COUNT head."""
    vocab = counting.vocab(n)
    layout = Layout.for_vocab(vocab, prev_names(1) + ["one", "cnt"])
    length = counting.max_length(n)
    # Key at h: prev1 = x_{h-1} (0 at <s> and at position 2); query at the threshold position l:
    # prev1 = q. COUNT is uniform over {1} and the h <= l with x_{h-1} = q, i.e. over the data
    # occurrences and the query itself (h - 1 = l - 1): m = c_x + 1 matches, cnt = 1/(m + 1).
    # The threshold token t is never counted (its key is the query's successor position, l + 1 > l).
    # Scores are integers (gap 1), so default_beta makes the weights exactly uniform in float64.
    head = count_head(layout, keys=[_prev(1)], queries=[_prev(1)], dst="cnt",
                      beta=default_beta(length, 1) if beta is None else beta, name="COUNT query")
    # YES iff c_x > t iff m + 1 >= t + 3 iff prod = (t + 3) cnt <= 1; otherwise m + 1 <= t + 2 and
    # prod >= 1 + 1/(t + 2) >= 1 + 1/(n + 2). With z = 1 + eps - prod, eps = 1/(2(n + 2)):
    # YES case z >= eps, NO case z <= -eps. The top FFN sets logit(YES) = C z, logit(NO) = -C z,
    # C = 4(n + 2), and clears the threshold's own embedding (num, num_sq, "0"), so every other
    # logit is 0: the right answer wins by C eps = 2 over everything. One ReGLU unit computes
    # prod = ReLU(cnt) (t + 3) (cnt > 0), t = num of the threshold token ("0" has num 0).
    eps, scale = 1.0 / (2 * (n + 2)), 4.0 * (n + 2)
    top = FFNSpec(layout)
    top.unit("prod", {"cnt": 1.0}, {"num": 1.0, "bias": 3.0}, {"tok:YES": -scale, "tok:NO": scale})
    top.linear("base", {"bias": scale * (1.0 + eps)}, {"tok:YES": 1.0, "tok:NO": -1.0})
    top.linear("clear", {"num": -1.0}, {"num": 1.0})
    top.linear("clear_sq", {"num_sq": -1.0}, {"num_sq": 1.0})
    top.linear("clear_0", {f"tok:{counting.ZERO}": -1.0}, {f"tok:{counting.ZERO}": 1.0})
    return _hybrid(vocab, layout, feature_blocks(layout, lags=1, positions=False),
                   Block([head], top.build(), "top: COUNT the query, compare with t"),
                   {"builder": "build_counting_hybrid", "task": "counting", "n": n,
                    "theorem": "Thm 5.6 (Counting)", "claim": claim("counting")})
