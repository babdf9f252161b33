"""Reference sequences the hybrid models (Thms 5.7, 5.8) must generate, written from the interpreters.

* :func:`tm_hybrid_trace` (Thm 5.8): the tokens after the prompt ``<s> sym:x_1 .. sym:x_n`` --
  the record trace of theory.turing (5 tokens per step, Thm 5.4's phase 2 without the regex), then
  the answer YES or NO (accept or reject), which stops greedy decoding (spec §1.2).
"""

from __future__ import annotations

from theory.tokens import NO, YES
from theory.turing import DEFAULT_MAX_STEPS, Machine, records, run


def tm_hybrid_trace(machine: Machine, word, *, offset: int = 0, max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    result = run(machine, word, max_steps=max_steps)
    return records(result, offset=offset) + [YES if result.accepted else NO]
