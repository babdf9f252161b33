"""What the retrieval tasks (Index, AR, c-gram, Counting) share: validation and instance batches.

A :class:`Batch` holds whole reference sequences, prompt followed by the answer token, as token ids
(right-padded with 0, so instances of different lengths share one array) together with the
position of each answer. Number tokens have id = value (theory.tokens), so a batch of number
sequences is built with array arithmetic, never a Python loop per instance.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np

from theory.tasks.base import Chunk, Domain, ListPart, Task
from theory.tokens import Vocab


def check_int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {int(value)}")
    return int(value)


def check_numbers(seq, n: int, what: str) -> list[int]:
    """Validate a list of number tokens in 1..n (ints); returns it as a list of ints."""
    try:
        items = list(seq)
    except TypeError:
        raise ValueError(f"{what} must be a sequence of numbers, got {seq!r}") from None
    for i, v in enumerate(items):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{what}[{i}] = {v!r} is not an integer token")
        if not 1 <= v <= n:
            raise ValueError(f"{what}[{i}] = {int(v)} is outside the number tokens 1..{n}")
    return [int(v) for v in items]


def all_words(alphabet_size: int, length: int) -> np.ndarray:
    """Every word over 1..alphabet_size of the given length, lexicographic order: (a^length, length)."""
    if length == 0:
        return np.zeros((1, 0), dtype=np.int64)
    grids = np.indices((alphabet_size,) * length).reshape(length, -1).T
    return grids.astype(np.int64) + 1


@dataclass
class Batch:
    """Reference sequences ``ids`` (B, L) and the index of each answer token ``answer_pos`` (B,)."""

    ids: np.ndarray
    answer_pos: np.ndarray

    def __post_init__(self) -> None:
        self.ids = np.asarray(self.ids, dtype=np.int64)
        self.answer_pos = np.asarray(self.answer_pos, dtype=np.int64)
        if self.ids.ndim != 2 or self.answer_pos.shape != (self.ids.shape[0],):
            raise ValueError("a batch needs ids of shape (B, L) and one answer position per row")

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def answers(self) -> np.ndarray:
        return self.ids[np.arange(len(self)), self.answer_pos]

    def lengths(self) -> np.ndarray:
        return self.answer_pos + 1

    def check_mask(self) -> np.ndarray:
        """True at the position whose next-token prediction must be the answer."""
        mask = np.zeros(self.ids.shape, dtype=bool)
        mask[np.arange(len(self)), self.answer_pos - 1] = True
        return mask

    def take(self, rows) -> "Batch":
        rows = np.asarray(rows)
        ids = self.ids[rows]
        width = int(self.answer_pos[rows].max()) + 1 if rows.size else 1
        return Batch(ids[:, :width], self.answer_pos[rows])

    def prompt(self, row: int) -> np.ndarray:
        return self.ids[row, : self.answer_pos[row]]

    @staticmethod
    def concat(batches: list["Batch"]) -> "Batch":
        batches = [b for b in batches if len(b)]
        if not batches:
            return Batch(np.zeros((0, 1), dtype=np.int64), np.zeros(0, dtype=np.int64))
        width = max(b.ids.shape[1] for b in batches)
        ids = np.concatenate([np.pad(b.ids, ((0, 0), (0, width - b.ids.shape[1]))) for b in batches])
        return Batch(ids, np.concatenate([b.answer_pos for b in batches]))

    @staticmethod
    def from_sequences(vocab: Vocab, sequences: list[list]) -> "Batch":
        """From token lists (numbers and special names), each ending with its answer token."""
        if not sequences:
            return Batch.concat([])
        width = max(len(s) for s in sequences)
        ids = np.zeros((len(sequences), width), dtype=np.int64)
        for r, seq in enumerate(sequences):
            ids[r, : len(seq)] = vocab.ids(seq)
        return Batch(ids, np.array([len(s) - 1 for s in sequences]))


def with_columns(*columns: np.ndarray) -> np.ndarray:
    """Stack (B,) or (B, m) integer columns side by side into one (B, sum m) id array."""
    cols = [c[:, None] if c.ndim == 1 else c for c in columns]
    return np.concatenate(cols, axis=1).astype(np.int64)


def full_column(rows: int, token_id: int) -> np.ndarray:
    return np.full(rows, token_id, dtype=np.int64)


# -- the Task shape of the retrieval tasks (theory.tasks.base) ------------------------------------------
class RetrievalTask(Task):
    """Index, AR, c-gram and Counting: a prompt ``<s>, data, query`` answered by one token.

    An instance is its prompt as tokens (ints for numbers, strings for specials). Chunks hold
    :class:`Batch` es (prompt + answer as ids, the answers computed by array operations from the
    task's definition), so whole domains are built without a Python loop per instance.
    Subclasses give ``exhaustive_batches``, ``sample_batch``, ``exhaustive_size``, ``solve`` and
    ``domain_text``.
    """

    chunk_size = 8192
    extra_samples = 2000   # seeded full-alphabet instances added to every exhaustive run
    full_limit = 1 << 21   # the largest full-alphabet exhaustive domain (--alphabet full) a run may build

    def __init__(self, n: int):
        self.n = n

    def params(self) -> dict:
        return {"n": self.n}

    def answer_set(self) -> tuple:
        """V_A = the number tokens (the data symbols); Counting overrides it with YES/NO."""
        return tuple(range(1, self.n + 1))

    def prompt(self, instance) -> list:
        return list(instance)

    def describe_instance(self, instance) -> dict:
        return {"prompt": [str(t) for t in instance]}

    @abstractmethod
    def exhaustive_batches(self) -> list[tuple[str, Batch, dict]]:
        """(name, batch, exact description) of each exhaustive part."""

    @abstractmethod
    def sample_batch(self, count: int, rng: np.random.Generator) -> Batch: ...

    @abstractmethod
    def exhaustive_size(self) -> int:
        """An upper bound on the exhaustive domain's size, computed without enumerating it."""

    @abstractmethod
    def full_size(self) -> int:
        """The size of the full-alphabet exhaustive domain (every x in [n]^n), without enumerating it."""

    @abstractmethod
    def full_batch(self) -> Batch:
        """Every instance over the full alphabet (small n only)."""

    def hard_sample_batch(self, count: int, rng: np.random.Generator) -> Batch | None:
        """Seeded instances of the task's hard family (Thm 4.6), or None if it has none at this n."""
        return None

    def domain(self, samples: int | None = None, seed: int = 0, alphabet: str = "default") -> Domain:
        """The default domain: the exhaustive parts over a small alphabet (and the hard family), plus
        ``extra_samples`` seeded instances over the full alphabet, which catch weights that only work
        on small alphabets. ``alphabet="full"``: every instance over the full alphabet [n]^n instead.
        ``samples=K``: K seeded full-alphabet instances plus K/4 seeded hard-family instances."""
        if alphabet not in ("default", "full"):
            raise ValueError(f"alphabet must be 'default' or 'full', got {alphabet!r}")
        full_text = {"kind": "random", "seed": seed, **self.sample_details()}
        if samples is not None:
            if alphabet == "full":
                raise ValueError("samples already range over the full alphabet; drop the alphabet choice")
            rng = np.random.default_rng(seed)
            parts = [_batch_part(f"{samples} seeded random instances", self.sample_batch(samples, rng), full_text)]
            hard = self.hard_sample_batch(max(1, samples // 4), np.random.default_rng([seed, 1]))
            if hard is not None:
                parts.append(_batch_part(f"{len(hard)} seeded instances of the hard family", hard,
                                         {"kind": "random", "seed": seed, "family": "hard family of Thm 4.6"}))
            return Domain(parts, self.chunk_size, task=self.name, **self.params(), kind="random", seed=seed)
        if alphabet == "full":
            if self.full_size() > self.full_limit:
                raise ValueError(f"the full-alphabet domain at n = {self.n} has {self.full_size():,} instances, "
                                 f"beyond the limit {self.full_limit:,}; use samples")
            parts = [_batch_part(f"every x in [n]^n ({self.n}^{self.n})", self.full_batch(),
                                 {"kind": "exhaustive", "alphabet": f"1..{self.n}", **self.full_details()})]
            return Domain(parts, self.chunk_size, task=self.name, **self.params(), kind="exhaustive",
                          alphabet="full")
        parts = [_batch_part(name, b, {"kind": "exhaustive", **d}) for name, b, d in self.exhaustive_batches()]
        extra = self.sample_batch(self.extra_samples, np.random.default_rng([seed, 2]))
        parts.append(_batch_part(f"{self.extra_samples} seeded full-alphabet instances", extra, full_text))
        return Domain(parts, self.chunk_size, task=self.name, **self.params(), kind="exhaustive", seed=seed)

    def full_details(self) -> dict:
        return {"queries": "every valid query"}

    def sample_details(self) -> dict:
        return {"alphabet": f"1..{self.n}", "description": "uniform over the full alphabet"}

    # chunk-level views on Batches
    def instance(self, chunk: Chunk, r: int) -> list:
        vocab = self.vocab()
        return [int(t) if 1 <= t <= vocab.n else vocab.token(t) for t in chunk.instances.prompt(r)]

    def subchunk(self, chunk: Chunk, rows) -> Chunk:
        rows = np.asarray(list(rows), dtype=np.int64)
        return Chunk(chunk.keys[rows], chunk.instances.take(rows))

    def prompt_ids(self, chunk: Chunk, vocab: Vocab) -> tuple[np.ndarray, np.ndarray]:
        batch = chunk.instances
        ids = batch.ids.copy()
        ids[np.arange(len(batch)), batch.answer_pos] = 0
        return ids, batch.answer_pos.copy()

    def answer_ids(self, chunk: Chunk, vocab: Vocab) -> np.ndarray:
        return chunk.instances.answers


def _batch_part(name: str, batch: Batch, details: dict) -> ListPart:
    return ListPart(name, len(batch), lambda a, b: batch.take(np.arange(a, b)), details)
