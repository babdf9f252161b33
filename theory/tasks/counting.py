"""Counting (Def 4.5): does the query token occur more than t times?

Format: ``<s>, x_1, ..., x_m, q, t`` with m <= n data tokens in 1..n, a query q in 1..n and a
threshold t in 0..n; the answer is ``YES`` iff #{j : x_j = q} > t, else ``NO``. The exhaustive
domain has m = n; the hard family has m <= n, which the definition's "a sequence" allows.

The threshold t >= 1 is the number token t; t = 0 is the extra token ``"0"``. Its embedding is its
own indicator coordinate and zero on ``num``, so every threshold token carries its value t in
``num`` (theory.tokens: a special token has num = 0).

Hard family (Thm 4.6): x in {0,1}^n written as the increasing list of the j with x_j = 1, query
q = k, threshold **t = 0**; the answer is YES iff x_k = 1. The paper's "threshold 1" asks whether a
count of 0 or 1 exceeds 1, which is always NO and conveys nothing (docs/errata.md).
"""

from __future__ import annotations

import numpy as np

from theory.tasks.common import (Batch, RetrievalTask, all_words, check_int, check_numbers, full_column,
                                 with_columns)
from theory.tokens import BOS, NO, YES, Vocab

NAME = "counting"
MIN_N = 2
ZERO = "0"


def check_n(n) -> int:
    return check_int(n, "Counting size n", MIN_N)


def vocab(n: int) -> Vocab:
    return Vocab(check_n(n), extra=(ZERO,))


def max_length(n: int) -> int:
    """<s>, n tokens, query, threshold, answer."""
    return check_n(n) + 4


def threshold_token(t: int):
    return ZERO if t == 0 else t


def solve(n: int, x, q, t) -> str:
    n = check_n(n)
    x = check_numbers(x, n, "x")
    if len(x) > n:
        raise ValueError(f"Counting takes at most n = {n} tokens before the query, got {len(x)}")
    (q,) = check_numbers([q], n, "query")
    t = check_int(t, "threshold t", 0)
    if t > n:
        raise ValueError(f"threshold t = {t} exceeds n = {n}")
    return YES if sum(1 for v in x if v == q) > t else NO


def sequence(n: int, x, q, t) -> list:
    return [BOS, *x, q, threshold_token(t), solve(n, x, q, t)]


def _threshold_ids(voc: Vocab, t: np.ndarray) -> np.ndarray:
    return np.where(t == 0, voc.id(ZERO), t)


def batch(n: int, words: np.ndarray, queries: np.ndarray, thresholds: np.ndarray) -> Batch:
    """Fixed-length instances (m = words.shape[1]) with answers by array ops."""
    voc = vocab(n)
    rows, m = words.shape
    counts = (words == queries[:, None]).sum(axis=1)
    answers = np.where(counts > thresholds, voc.id(YES), voc.id(NO))
    ids = with_columns(full_column(rows, voc.id(BOS)), words, queries, _threshold_ids(voc, thresholds), answers)
    return Batch(ids, full_column(rows, m + 3))


def exhaustive(n: int) -> list[tuple[str, Batch]]:
    """x in {1,2}^n, every query 1..n, every threshold 0..n; plus the hard family."""
    n = check_n(n)
    words = all_words(2, n)
    per = n * (n + 1)
    q = np.tile(np.repeat(np.arange(1, n + 1), n + 1), words.shape[0])
    t = np.tile(np.arange(0, n + 1), n * words.shape[0])
    return [("x in {1,2}^n, every query and threshold 0..n", batch(n, np.repeat(words, per, axis=0), q, t)),
            ("hard family of Thm 4.6 (threshold t = 0)", hard_family(n))]


def hard_family(n: int, t: int = 0) -> Batch:
    """Every x in {0,1}^n as the increasing list of its ones, every query k, threshold t (padded batch)."""
    n = check_n(n)
    bits = all_words(2, n) - 1                             # (2^n, n)
    return _hard_batch(n, np.repeat(bits, n, axis=0), np.tile(np.arange(1, n + 1), bits.shape[0]), t)


def hard_sample(n: int, count: int, rng: np.random.Generator, t: int = 0) -> Batch:
    """``count`` seeded instances of the hard family: random bits, a uniform query k, threshold t."""
    n = check_n(n)
    return _hard_batch(n, rng.integers(0, 2, size=(count, n)), rng.integers(1, n + 1, size=count), t)


def full(n: int) -> Batch:
    """Every x in [n]^n, every query 1..n and threshold 0..n (small n only)."""
    n = check_n(n)
    words = all_words(n, n)
    per = n * (n + 1)
    q = np.tile(np.repeat(np.arange(1, n + 1), n + 1), words.shape[0])
    t = np.tile(np.arange(0, n + 1), n * words.shape[0])
    return batch(n, np.repeat(words, per, axis=0), q, t)


def _hard_batch(n: int, bits: np.ndarray, k: np.ndarray, t: int) -> Batch:
    """Rows of bits written as the increasing list of their ones, query k, threshold t."""
    voc = vocab(n)
    ones = bits.sum(axis=1)
    # increasing list of the j with x_j = 1, left-aligned: sort (1 - x_j, j) so ones come first
    order = np.argsort(1 - bits, axis=1, kind="stable")
    reps = np.where(np.arange(n)[None, :] < ones[:, None], order + 1, 0)
    lens = ones
    rows = bits.shape[0]
    count = bits[np.arange(rows), k - 1]   # x_k: k occurs once iff x_k = 1
    yes = count > t
    ids = np.zeros((rows, n + 4), dtype=np.int64)
    ids[:, 0] = voc.id(BOS)
    ids[:, 1:n + 1] = reps
    r = np.arange(rows)
    ids[r, lens + 1] = k
    ids[r, lens + 2] = _threshold_ids(voc, np.full(rows, t))
    ids[r, lens + 3] = np.where(yes, voc.id(YES), voc.id(NO))
    return Batch(ids, lens + 3)


def sample(n: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` instances: x uniform over a random small alphabet so counts vary, q in 1..n, t in 0..n."""
    n = check_n(n)
    alpha = rng.integers(1, n + 1, size=(count, 1))
    words = 1 + rng.integers(0, 2**31, size=(count, n)) % alpha
    q = rng.integers(1, n + 1, size=count)
    counts = (words == q[:, None]).sum(axis=1)
    # thresholds near the count, so YES and NO both occur often
    t = np.clip(counts + rng.integers(-2, 2, size=count), 0, n)
    return batch(n, words, q, t)


class CountingTask(RetrievalTask):
    name = NAME

    def max_length(self) -> int:
        return max_length(self.n)

    def __init__(self, n: int):
        super().__init__(check_n(n))

    def vocab(self) -> Vocab:
        return vocab(self.n)

    def answer_set(self) -> tuple:
        return (YES, NO)

    def solve(self, instance) -> str:
        t = instance[-1]
        return solve(self.n, instance[1:-2], instance[-2], 0 if t == ZERO else t)

    def exhaustive_size(self) -> int:
        n = self.n
        return 2**n * n * (n + 1) + 2**n * n

    def exhaustive_batches(self):
        (name0, b0), (name1, b1) = exhaustive(self.n)
        return [(name0, b0, {"alphabet": "{1,2}", "queries": "every q in 1..n", "thresholds": "0..n"}),
                (name1, b1, {"alphabet": "x in {0,1}^n as the list of its ones", "queries": "every k",
                             "thresholds": "0"})]

    def sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return sample(self.n, count, rng)

    def full_size(self) -> int:
        return self.n**self.n * self.n * (self.n + 1)

    def full_batch(self) -> Batch:
        return full(self.n)

    def hard_sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return hard_sample(self.n, count, rng)

    def sample_details(self) -> dict:
        return {"alphabet": "a random alphabet 1..a per instance, a uniform in 1..n",
                "description": "thresholds within 2 of the count"}
