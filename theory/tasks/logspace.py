"""The task of Thm 4.1 (Lemma C.25): a Turing machine on a short input hidden behind zero padding.

Input ``S_in = 0^{n-|x|} x``: the pad token ``0`` repeated, then the input word as symbol tokens
``sym:x_1 .. sym:x_|x|``, n tokens in all. The paper fixes ``|x| = m = floor(log2 n)``; we allow
every ``|x| <= m`` (the pad token is not an input symbol, so the word is still recoverable) and
check the domain "every x up to length L, padded to n = 2^L". Label: YES iff the machine accepts x.

Chain of thought (the RNN's, written from the interpreter theory.turing.run): one **step token**
per machine step, then YES/NO::

    step:<new state>/<written>/<move>/<read>   ...   YES | NO

Step t's token names what the machine did: the state it entered, the symbol it wrote, its move, and
the symbol it read (and overwrote). The last three say how the tape and the head change; the
first is the state the next step starts in. The run's last step enters accept or reject, and the
answer follows it. So a run of T steps has a CoT of T + 1 tokens.

Missing transitions are the implicit reject steps of theory.turing (rewrite the symbol, move R).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence

from theory.tokens import NO, YES
from theory.turing import DEFAULT_MAX_STEPS, Machine, run, trace_vocabulary

PAD = "0"
STEP_PREFIX = "step:"


def n_for(max_len: int) -> int:
    """n = 2^L: the prompt length at which every input of length <= L fits (m = floor(log2 n) = L)."""
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    return 2 ** max_len


def m_for(n: int) -> int:
    """m = floor(log2 n), the longest input a prompt of n tokens carries."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return int(math.floor(math.log2(n)))


def symbol_token(symbol: str) -> str:
    return "sym:" + symbol


def step_token(new_state: str, write: str, move: str, read: str) -> str:
    return f"{STEP_PREFIX}{new_state}/{write}/{move}/{read}"


def rows(machine: Machine) -> list[tuple[str, str]]:
    """Every (state, read) a run can take a step from: non-halting states x tape symbols."""
    halting = (machine.accept, machine.reject)
    return [(q, s) for q in machine.states if q not in halting for s in machine.tape_alphabet]


def row_token(machine: Machine, state: str, read: str) -> str:
    """The step token of the transition the machine takes in ``state`` reading ``read``."""
    t = machine.transition(state, read)
    return step_token(t.new_state, t.write, t.move, read)


def step_tokens(machine: Machine) -> tuple[str, ...]:
    """The distinct step tokens of the machine, in the order of :func:`rows`."""
    seen: dict[str, None] = {}
    for q, s in rows(machine):
        seen.setdefault(row_token(machine, q, s), None)
    return tuple(seen)


def vocabulary(machine: Machine) -> tuple[str, ...]:
    """The special tokens of the task (for ``Vocab(1, extra=...)``): the Turing-machine task's own
    (theory.turing.trace_vocabulary: the tape symbols ``sym:a``, which include the input symbols,
    states and moves), then the pad and the step tokens. Starting with the Turing-machine task's
    tokens lets a model of this format read the ids of ``theory.tasks.turing.TuringTask``; the
    states and moves are never read or written here."""
    return trace_vocabulary(machine) + (PAD,) + step_tokens(machine)


def prompt(machine: Machine, word, n: int) -> list[str]:
    """``0^{n-|x|} sym:x_1 .. sym:x_|x|``; needs ``|x| <= floor(log2 n)``."""
    symbols = machine.parse_input(word)
    if len(symbols) > m_for(n):
        raise ValueError(f"input of length {len(symbols)} does not fit n = {n} (at most floor(log2 n) = {m_for(n)})")
    return [PAD] * (n - len(symbols)) + [symbol_token(a) for a in symbols]


def trace(machine: Machine, word, *, max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    """The reference chain of thought: one step token per machine step, then YES or NO."""
    result = run(machine, word, max_steps=max_steps)
    steps = [step_token(s.new_state, s.written, s.move, s.read) for s in result.history]
    return steps + [YES if result.accepted else NO]


def words_up_to(machine: Machine, max_len: int) -> Iterable[tuple[str, ...]]:
    """Every input of length 0..max_len, shortest first, then in alphabet order."""
    for k in range(max_len + 1):
        yield from itertools.product(machine.alphabet, repeat=k)


def tape_window(machine: Machine, words: Iterable[Sequence[str]], *,
                max_steps: int = DEFAULT_MAX_STEPS) -> tuple[int, int]:
    """The cells ``lo..hi`` that hold an input symbol or that some step of a run on ``words`` reads
    (cell 1 always): the tape a simulator of this domain must hold."""
    lo, hi = 1, 1
    for word in words:
        result = run(machine, word, max_steps=max_steps)
        hi = max(hi, len(result.input))
        for step in result.history:
            lo, hi = min(lo, step.head), max(hi, step.head)
    return lo, hi


def head_range(machine: Machine, words: Iterable[Sequence[str]], *,
               max_steps: int = DEFAULT_MAX_STEPS) -> tuple[int, int]:
    """The cells the head occupies on ``words``, after the halting move included (cell 1 always)."""
    lo, hi = 1, 1
    for word in words:
        result = run(machine, word, max_steps=max_steps)
        for cell in [s.head for s in result.history] + [result.head]:
            lo, hi = min(lo, cell), max(hi, cell)
    return lo, hi


def longest_run(machine: Machine, words: Iterable[Sequence[str]], *, max_steps: int = DEFAULT_MAX_STEPS) -> int:
    return max((run(machine, w, max_steps=max_steps).steps for w in words), default=0)


def reference(machine: Machine, word, *, offset: int = 0, max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    """:func:`trace` with ``verify.turing``'s reference signature (``offset`` is unused: this CoT
    names no cells)."""
    del offset
    return trace(machine, word, max_steps=max_steps)
