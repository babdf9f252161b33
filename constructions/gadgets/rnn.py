"""Linear-RNN gadgets (Lemmas C.20-C.21): recent-input memory and running sums, written by name.

Both are linear units ``h_t = A h_{t-1} + B x_t`` whose state coordinates are residual
coordinates; the block adds ``h_t`` to the residual, so the state must start at 0 in the residual
(write only fresh scratch coordinates).

* :func:`recent_inputs` (Lemma C.20): a shift register. ``slots[j][i]`` holds input coordinate
  ``src[i]`` from j tokens back (j = 0 is the current token): ``h_t[slots[0]] = x_t[src]`` and
  ``h_t[slots[j]] = h_{t-1}[slots[j-1]]``. Positions before the start read as 0.
* :func:`running_sum` (Lemma C.21): ``h_t[dst] = sum_{tau <= t} x_tau[src]``; with ``src`` the
  constant coordinate 1 this is the position, with a token indicator it counts that token.

Lemma C.22 (remember the first k inputs) and C.23 (recite a fixed sequence) are FFN lookups on
top of these and live with the constructions that need them.
"""

from __future__ import annotations

from constructions.runtime.builder import LinearUnitSpec


def recent_inputs(unit: LinearUnitSpec, src: list[str], slots: list[list[str]]) -> LinearUnitSpec:
    for names in slots:
        if len(names) != len(src):
            raise ValueError("each slot lists one destination per source coordinate")
    for i, s in enumerate(src):
        unit.read(slots[0][i], s)
        for j in range(1, len(slots)):
            unit.keep(slots[j][i], slots[j - 1][i])
    return unit


def running_sum(unit: LinearUnitSpec, src: str, dst: str, coef: float = 1.0) -> LinearUnitSpec:
    unit.keep(dst)
    unit.read(dst, src, coef)
    return unit
