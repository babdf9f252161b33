"""Turing-machine simulation (Thms 5.4, 5.8) as a task: run machine M on every input up to a length.

Prompt: ``<s> sym:x_1 .. sym:x_n`` (tape symbols are special tokens); the answer is ``YES`` if M
accepts x and ``NO`` if it rejects, by the interpreter of :mod:`theory.turing` (the independent
reference). The simulators write cell numbers as number tokens ``cell + offset``; :func:`tm_domain`
runs every input once to find the smallest offset that keeps every cell token at least 1 and the
largest cell token, which fix the model's vocabulary.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from theory.tasks.base import Domain, ListPart, Task
from theory.tokens import BOS, NO, YES, Vocab
from theory.turing import DEFAULT_MAX_STEPS, Machine, load_machine, run, symbol_token, trace_vocabulary

MAX_LEN = 16       # inputs longer than this make domains (alphabet^16) far beyond a check's budget
CHUNK = 512        # inputs per chunk


def tm_prompt(machine: Machine, word) -> list[str]:
    return [BOS] + [symbol_token(s) for s in machine.parse_input(word)]


@dataclass(frozen=True)
class TMDomain:
    """What the weights must cover for a set of inputs: the cell-token offset and the number range."""

    n_max: int
    offset: int        # smallest offset keeping every cell token >= 1
    max_cell: int      # largest cell token (after the offset) in any trace
    max_steps: int     # longest run
    instances: int

    @property
    def n_vocab(self) -> int:
        """Number tokens needed: every cell token, and at least 1."""
        return max(1, self.max_cell)


def tm_domain(machine: Machine, words: Iterable[Sequence[str]], n_max: int, *,
              max_steps: int = DEFAULT_MAX_STEPS) -> TMDomain:
    """Run every word once; the smallest offset and the largest cell token the sequences use."""
    lowest, highest, longest, count = 1, max(n_max, 1), 0, 0
    for word in words:
        result = run(machine, word, max_steps=max_steps)
        count += 1
        longest = max(longest, result.steps)
        for step in result.history:
            lowest = min(lowest, step.head)
            highest = max(highest, step.head)
    offset = 1 - lowest
    return TMDomain(n_max, offset, highest + offset, longest, count)


def words_up_to(machine: Machine, max_len: int):
    """Every input of length 0..max_len: shortest first, then in alphabet order."""
    for n in range(max_len + 1):
        yield from itertools.product(machine.alphabet, repeat=n)


class TuringTask(Task):
    """Machine M on every input of length 0..max_len. An instance is a word (a tuple of symbols)."""

    name = "turing"
    chunk_size = CHUNK

    def __init__(self, machine: Machine | str, max_len: int, *, max_steps: int = DEFAULT_MAX_STEPS):
        self.machine = load_machine(machine) if isinstance(machine, str) else machine
        if isinstance(max_len, bool) or not isinstance(max_len, int) or not 0 <= max_len <= MAX_LEN:
            raise ValueError(f"the input length bound must be an integer in 0..{MAX_LEN}, got {max_len!r}")
        self.max_len = max_len
        self.max_steps = max_steps

    @property
    def n(self) -> int:
        return self.max_len

    @cached_property
    def words(self) -> list[tuple[str, ...]]:
        return list(words_up_to(self.machine, self.max_len))

    @cached_property
    def bounds(self) -> TMDomain:
        return tm_domain(self.machine, self.words, self.max_len, max_steps=self.max_steps)

    def params(self) -> dict:
        return {"machine": self.machine.name, "max_len": self.max_len}

    def vocab(self) -> Vocab:
        return Vocab(self.bounds.n_vocab, trace_vocabulary(self.machine))

    def answer_set(self) -> tuple:
        return (YES, NO)

    def prompt(self, instance) -> list:
        return tm_prompt(self.machine, instance)

    def solve(self, instance) -> str:
        return YES if run(self.machine, instance, max_steps=self.max_steps).accepted else NO

    def describe_instance(self, instance) -> dict:
        return {"input": list(instance), "length": len(instance)}

    def domain(self) -> Domain:
        words = self.words
        part = ListPart(f"every input of length 0..{self.max_len}", len(words), lambda a, b: words[a:b],
                        {"kind": "exhaustive", "alphabet": list(self.machine.alphabet),
                         "description": f"every input of length 0..{self.max_len} over "
                                        f"{list(self.machine.alphabet)}"})
        b = self.bounds
        return Domain([part], CHUNK, task=self.name, machine=self.machine.name, max_len=self.max_len,
                      kind="exhaustive", offset=b.offset, longest_run_steps=b.max_steps)
