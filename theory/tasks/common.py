"""What the retrieval tasks (Index, AR, c-gram, Counting) share: validation and instance batches.

A :class:`Batch` holds whole reference sequences, prompt followed by the answer token, as token ids
(right-padded with 0, so instances of different lengths share one array) together with the
position of each answer. Number tokens have id = value (theory.tokens), so a batch of number
sequences is built with array arithmetic, never a Python loop per instance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
