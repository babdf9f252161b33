"""Index (Def 4.2): a length-n sequence of number tokens, then a query i; the answer is x_i.

Format: ``<s>, x_1, ..., x_n, i`` with every x_j and i in 1..n; the answer is the next token x_i.
The data comes before the query, as in every hard instance of Thm 4.6 (with the query
first a streaming algorithm would need only O(log n) memory).

Exhaustive domain: every x in {1, 2}^n and every query i (n 2^n instances). The paper's hard
family (Thm 4.6) is this same set: x in {0,1}^n written as tokens, here the tokens 1 and 2.
"""

from __future__ import annotations

import numpy as np

from theory.tasks.common import (Batch, RetrievalTask, all_words, check_int, check_numbers, full_column,
                                 with_columns)
from theory.tokens import BOS, Vocab

NAME = "index"
MIN_N = 2


def check_n(n) -> int:
    return check_int(n, "Index size n", MIN_N)


def vocab(n: int) -> Vocab:
    return Vocab(check_n(n))


def max_length(n: int) -> int:
    """Positions of a full reference sequence: <s>, n tokens, query, answer."""
    return check_n(n) + 3


def solve(n: int, x, i) -> int:
    """The reference answer x_i, validating the instance."""
    n = check_n(n)
    x = check_numbers(x, n, "x")
    if len(x) != n:
        raise ValueError(f"Index needs exactly n = {n} tokens before the query, got {len(x)}")
    (i,) = check_numbers([i], n, "query")
    return x[i - 1]


def sequence(n: int, x, i) -> list:
    """The reference sequence: prompt then answer."""
    return [BOS, *x, i, solve(n, x, i)]


def _batch(n: int, words: np.ndarray, queries: np.ndarray) -> Batch:
    """Instances (words[r], queries[r]) as a batch (arrays, no loop)."""
    rows = words.shape[0]
    answers = words[np.arange(rows), queries - 1]
    ids = with_columns(full_column(rows, vocab(n).id(BOS)), words, queries, answers)
    return Batch(ids, full_column(rows, n + 2))


def exhaustive(n: int) -> list[tuple[str, Batch]]:
    """Every x in {1,2}^n with every query 1..n, x-major, each part in increasing order."""
    n = check_n(n)
    words = all_words(2, n)
    reps = np.repeat(words, n, axis=0)
    queries = np.tile(np.arange(1, n + 1), words.shape[0])
    return [("x in {1,2}^n, every query (= the hard family of Thm 4.6)", _batch(n, reps, queries))]


def full(n: int) -> Batch:
    """Every x in [n]^n with every query 1..n (n^(n+1) instances; small n only)."""
    n = check_n(n)
    words = all_words(n, n)
    return _batch(n, np.repeat(words, n, axis=0), np.tile(np.arange(1, n + 1), words.shape[0]))


def hard_sample(n: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` seeded instances of the hard family: x in {1,2}^n, a uniform query."""
    n = check_n(n)
    return _batch(n, rng.integers(1, 3, size=(count, n)), rng.integers(1, n + 1, size=count))


def sample(n: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` uniform instances over the full alphabet 1..n."""
    n = check_n(n)
    words = rng.integers(1, n + 1, size=(count, n))
    return _batch(n, words, rng.integers(1, n + 1, size=count))


class IndexTask(RetrievalTask):
    name = NAME

    def max_length(self) -> int:
        return max_length(self.n)

    def __init__(self, n: int):
        super().__init__(check_n(n))

    def vocab(self) -> Vocab:
        return vocab(self.n)

    def solve(self, instance) -> int:
        return solve(self.n, instance[1:-1], instance[-1])

    def exhaustive_size(self) -> int:
        return self.n * 2**self.n

    def exhaustive_batches(self):
        ((name, batch),) = exhaustive(self.n)
        return [(name, batch, {"alphabet": "{1,2}", "queries": f"every i in 1..{self.n}"})]

    def sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return sample(self.n, count, rng)

    def full_size(self) -> int:
        return self.n ** (self.n + 1)

    def full_batch(self) -> Batch:
        return full(self.n)

    def hard_sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return hard_sample(self.n, count, rng)
