"""The shape every task has: prompts, an independent reference solver, an answer set, and domains.

A :class:`Task` is one problem at fixed parameters (Index at n = 8, IsTree on 7 vertices, a Turing
machine on inputs up to length 5). It says

* ``vocab()``: the tokens its prompts and answers use (number tokens 1..n and special tokens);
* ``answer_set()``: V_A, the tokens at which greedy decoding stops (Sec 3, App. A.4);
* ``prompt_ids(chunk, vocab)`` and ``answers(chunk)``: the prompts of a chunk of instances as token
  ids and the reference solver's answers (networkx, the Turing-machine interpreter, or plain
  indexing — never a model);
* ``instance(chunk, r)`` and ``describe_instance(chunk, r)``: one instance, for the chain-of-thought
  references of :mod:`theory.rag` and :mod:`theory.hybrid_trace` and for failure reports;
* ``domain(...)``: what a checker enumerates.

A :class:`Domain` is a list of :class:`Part` s (say, "every x in {1,2}^n" and "the hard family"), cut
into chunks of fixed boundaries, so a shard or a worker can be handed chunk c of the whole domain and
get the same instances every time. Instance keys number the domain's instances from 0, in order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from theory.tokens import Vocab


@dataclass
class Chunk:
    """A run of consecutive instances of one part: their keys in the domain and the instances."""

    keys: np.ndarray
    instances: Any  # a Sequence of the task's instances, or a retrieval Batch

    def __len__(self) -> int:
        return len(self.keys)


class Part(ABC):
    """A named, finite set of instances that can be cut at any index."""

    name: str
    size: int

    @abstractmethod
    def instances(self, start: int, stop: int) -> Any:
        """Instances ``start .. stop - 1`` of this part (same result every call)."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Exactly which instances: alphabet, sizes, queries, seed ..."""


@dataclass
class ListPart(Part):
    """A part whose instances are made by ``make(start, stop)`` (a list, an array, a Batch)."""

    name: str
    size: int
    make: Callable[[int, int], Any]
    details: dict[str, Any] = field(default_factory=dict)

    def instances(self, start: int, stop: int) -> Any:
        return self.make(start, stop)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "instances": self.size, **self.details}


class Domain:
    """Parts cut into chunks of at most ``chunk_size`` instances (a chunk never spans two parts)."""

    def __init__(self, parts: Sequence[Part], chunk_size: int, **details: Any):
        if chunk_size < 1:
            raise ValueError("chunk size must be positive")
        self.parts = [p for p in parts if p.size > 0]
        self.chunk_size = chunk_size
        self.details = details
        self._chunks: list[tuple[int, int, int, int]] = []  # (part, start, stop, first key)
        key = 0
        for i, part in enumerate(self.parts):
            for start in range(0, part.size, chunk_size):
                stop = min(start + chunk_size, part.size)
                self._chunks.append((i, start, stop, key + start))
            key += part.size

    @property
    def size(self) -> int:
        return sum(p.size for p in self.parts)

    @property
    def n_chunks(self) -> int:
        return len(self._chunks)

    def chunk_size_of(self, c: int) -> int:
        _, start, stop, _ = self._chunks[c]
        return stop - start

    def chunk(self, c: int) -> tuple[Part, Chunk]:
        i, start, stop, first = self._chunks[c]
        part = self.parts[i]
        return part, Chunk(np.arange(first, first + stop - start), part.instances(start, stop))

    def locate(self, key: int) -> tuple[Part, Chunk, int]:
        """The chunk holding instance ``key`` and its row in that chunk."""
        for c, (_, start, stop, first) in enumerate(self._chunks):
            if first <= key < first + stop - start:
                part, chunk = self.chunk(c)
                return part, chunk, key - first
        raise ValueError(f"instance {key} is outside the domain (0..{self.size - 1})")

    def describe(self) -> dict[str, Any]:
        return {**self.details, "instances": self.size, "parts": [p.describe() for p in self.parts]}


class Task(ABC):
    """One problem at fixed parameters (see the module docstring)."""

    name: str = ""

    @abstractmethod
    def vocab(self) -> Vocab: ...

    @abstractmethod
    def answer_set(self) -> tuple: ...

    @abstractmethod
    def params(self) -> dict[str, Any]:
        """The parameters, as they appear in certificates."""

    @abstractmethod
    def prompt(self, instance) -> list:
        """The prompt of one instance as tokens (ints for numbers, strings for specials)."""

    @abstractmethod
    def solve(self, instance):
        """The reference answer of one instance, by an independent solver."""

    @abstractmethod
    def describe_instance(self, instance) -> dict[str, Any]:
        """What a failure report shows of the instance (edges, word, prompt)."""

    # -- chunk-level views: per instance by default; tasks with array forms override them ----------
    def instance(self, chunk: Chunk, r: int):
        return chunk.instances[r]

    def subchunk(self, chunk: Chunk, rows) -> Chunk:
        """The chunk's instances at ``rows``, as a chunk."""
        return Chunk(chunk.keys[list(rows)], [chunk.instances[r] for r in rows])

    def prompt_ids(self, chunk: Chunk, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
        """The chunk's prompts as one id array, right-padded with 0, and each prompt's length."""
        rows = [vocab.ids(self.prompt(self.instance(chunk, r))) for r in range(len(chunk))]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        ids = np.zeros((len(rows), int(lengths.max()) if len(rows) else 1), dtype=np.int64)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = row
        return ids, lengths

    def answer_ids(self, chunk: Chunk, vocab: Vocab) -> np.ndarray:
        """The reference solver's answer to each instance of the chunk, as token ids."""
        return np.array([vocab.id(self.solve(self.instance(chunk, r))) for r in range(len(chunk))],
                        dtype=np.int64)

    def answer_set_ids(self, vocab: Vocab) -> np.ndarray:
        return np.array(sorted(vocab.id(t) for t in self.answer_set()), dtype=np.int64)
