"""The Linear-RNN half of the hybrids (Def 5.5): the features the top attention layer reads.

Thm 5.6's proof replaces the Transformer's lower layers by an RNN whose outputs carry
what the one attention layer needs. Two blocks, both built from Lemmas C.20-C.21 and named FFN units:

    R1  linear unit  shift register (Lemma C.20): ``prev{s}`` / ``prev{s}_sq`` = the number and its
                     embedded square ``-i^2/2`` of the token s positions back (0 before the start;
                     special tokens have number 0)
        FFN          ``one = 1`` (ReLU(1) * 1: the RNN's inputs have no constant coordinate)
    R2  linear unit  running sum of ``one`` (Lemma C.21): ``rpos = k`` at position k
        FFN          ``rpos_sq = rpos^2`` (one ReGLU unit, rpos >= 1)

The hybrids' attention reads ``rpos``/``rpos_sq``, never the embedding's position coordinate: the
position comes out of the recurrence, as in an RNN without position embeddings.
State: ``2 (lags + 1)`` numbers for the shift register (with its copy of the current token), plus 1
for the running sum.
"""

from __future__ import annotations

from constructions.gadgets.ffn import constant, multiply_nonneg
from constructions.gadgets.rnn import recent_inputs, running_sum
from constructions.runtime.builder import FFNSpec, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import RNNBlock


def prev_names(lags: int) -> list[str]:
    """Scratch names the shift register writes: its private copy of the current token, then
    prev1, prev1_sq, ..., prev{lags}_sq."""
    if not lags:
        return []
    return ["cur:num", "cur:num_sq"] + [f"prev{s}{suffix}" for s in range(1, lags + 1) for suffix in ("", "_sq")]


def position_names() -> list[str]:
    return ["one", "rpos", "rpos_sq"]


def shift_register(unit: LinearUnitSpec, src: list[str], lags: int, prefix: str = "prev") -> None:
    """``{prefix}{j}<suffix>`` holds ``src`` from j tokens back (j = 1..lags; 0 before the start).

    Lemma C.20 (``recent_inputs``) with one extra first slot ``cur:<src>`` that copies the current
    token: a linear unit sees only x_t and h_{t-1}, so x_{t-1} must pass through a state
    coordinate. Suffixes: the first source gets "", further sources "_sq", "_2", ...
    """
    suffixes = [""] + ["_sq"] + [f"_{i}" for i in range(2, len(src))]
    cur = [[f"cur:{s}" for s in src]]
    slots = [[f"{prefix}{j}{suffixes[i]}" for i in range(len(src))] for j in range(1, lags + 1)]
    recent_inputs(unit, src, cur + slots)


def feature_blocks(layout: Layout, *, lags: int, positions: bool) -> list[RNNBlock]:
    """R1 (shift register of ``lags`` previous tokens, ``one``) and, with ``positions``, R2."""
    u1 = LinearUnitSpec(layout, "R1 shift register")
    if lags:
        shift_register(u1, ["num", "num_sq"], lags)
    f1 = FFNSpec(layout)
    constant(f1, "one", "one", 1.0)
    blocks = [RNNBlock(u1.build(), f1.build(), "R1: shift register, one")]
    if positions:
        u2 = running_sum(LinearUnitSpec(layout, "R2 position"), "one", "rpos")
        f2 = FFNSpec(layout)
        multiply_nonneg(f2, "rpos^2", {"rpos": 1.0}, {"rpos": 1.0}, "rpos_sq")
        blocks.append(RNNBlock(u2.build(), f2.build(), "R2: position = running sum of 1, its square"))
    return blocks
