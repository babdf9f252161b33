"""Associative Recall (Def 4.3): the token right after the first occurrence of the query.

Format: ``<s>, x_1, ..., x_n, q`` with tokens in 1..n. The instance is valid iff q occurs among
x_1..x_{n-1}; the answer is x_{j+1} for the smallest such j (keys are implicitly unique in the
paper; Match and regex take the first occurrence, Sec 4).

Hard family (Thm 4.6, n even): ``<s>, 1, v_1, 2, v_2, ..., n/2, v_{n/2}, k`` with
``v_i = n/2 + 1 + x_i``, x in {0,1}^{n/2}, k in 1..n/2, answer v_k. The paper prints
``v_i = n/2 + x_i``; then v_i = n/2 is also a key and the first occurrence of the query n/2 can be
a value, so the family's intended label x_{n/2} + n/2 is wrong for AR (:func:`printed_hard_family`
keeps the printed version so a test can show it; erratum in docs/errata.md).
"""

from __future__ import annotations

import numpy as np

from theory.tasks.common import (Batch, RetrievalTask, all_words, check_int, check_numbers, full_column,
                                 with_columns)
from theory.tokens import BOS, Vocab

NAME = "ar"
MIN_N = 2
DEFAULT_BUDGET = 1 << 20  # instances the exhaustive part may hold


def check_n(n) -> int:
    return check_int(n, "AR size n", MIN_N)


def vocab(n: int) -> Vocab:
    return Vocab(check_n(n))


def max_length(n: int) -> int:
    return check_n(n) + 3


def solve(n: int, x, q) -> int:
    """x_{j+1} for the first j <= n-1 with x_j = q; ValueError if q is not a key of x."""
    n = check_n(n)
    x = check_numbers(x, n, "x")
    if len(x) != n:
        raise ValueError(f"AR needs exactly n = {n} tokens before the query, got {len(x)}")
    (q,) = check_numbers([q], n, "query")
    for j in range(n - 1):
        if x[j] == q:
            return x[j + 1]
    raise ValueError(f"query {q} does not occur among x_1..x_{n - 1}, so it has no successor")


def sequence(n: int, x, q) -> list:
    return [BOS, *x, q, solve(n, x, q)]


def batch(n: int, words: np.ndarray, queries: np.ndarray) -> Batch:
    """Valid instances only (queries that occur among the first n-1 tokens), answers by array ops."""
    keys = words[:, :-1] == queries[:, None]
    ok = keys.any(axis=1)
    words, queries, keys = words[ok], queries[ok], keys[ok]
    rows = words.shape[0]
    answers = words[np.arange(rows), keys.argmax(axis=1) + 1]
    ids = with_columns(full_column(rows, vocab(n).id(BOS)), words, queries, answers)
    return Batch(ids, full_column(rows, n + 2))


def alphabet_for(n: int, budget: int = DEFAULT_BUDGET) -> int:
    """The largest alphabet a in {4, 3, 2} (a <= n) whose a^n sequences times a queries fit the budget."""
    for a in (4, 3, 2):
        if a <= n and a ** (n + 1) <= budget:
            return a
    return 0


def exhaustive(n: int, budget: int = DEFAULT_BUDGET) -> list[tuple[str, Batch]]:
    """Every x over the alphabet of :func:`alphabet_for` with every valid query, plus the hard family."""
    n = check_n(n)
    parts = []
    a = alphabet_for(n, budget)
    if a:
        words = all_words(a, n)
        reps = np.repeat(words, a, axis=0)
        queries = np.tile(np.arange(1, a + 1), words.shape[0])
        parts.append((f"x in {{1..{a}}}^n, every query that occurs", batch(n, reps, queries)))
    if n % 2 == 0 and n >= 4:
        parts.append(("hard family of Thm 4.6 (values n/2+1+x_i)", hard_family(n)))
    return parts


def _pairs(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Interleave (B, m) keys and values into (B, 2m) key, value, key, value, ..."""
    out = np.empty((keys.shape[0], 2 * keys.shape[1]), dtype=np.int64)
    out[:, 0::2], out[:, 1::2] = keys, values
    return out


def has_hard_family(n: int) -> bool:
    return n % 2 == 0 and n >= 4


def _hard_words(n: int, bits: np.ndarray, offset: int) -> np.ndarray:
    half = n // 2
    keys = np.tile(np.arange(1, half + 1), (bits.shape[0], 1))
    return _pairs(keys, half + offset + bits)


def hard_family(n: int, offset: int = 1) -> Batch:
    """Every instance of the hard family: 2^{n/2} bit strings times n/2 queries."""
    n = check_n(n)
    if not has_hard_family(n):
        raise ValueError(f"the AR hard family needs an even n >= 4, got {n}")
    half = n // 2
    bits = all_words(2, half) - 1
    reps = np.repeat(_hard_words(n, bits, offset), half, axis=0)
    queries = np.tile(np.arange(1, half + 1), bits.shape[0])
    return batch(n, reps, queries)


def hard_sample(n: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` seeded instances of the hard family: random bits, a uniform key as the query."""
    half = check_n(n) // 2
    bits = rng.integers(0, 2, size=(count, half))
    return batch(n, _hard_words(n, bits, 1), rng.integers(1, half + 1, size=count))


def full(n: int) -> Batch:
    """Every x in [n]^n with every query that occurs among x_1..x_{n-1} (small n only)."""
    n = check_n(n)
    words = all_words(n, n)
    return batch(n, np.repeat(words, n, axis=0), np.tile(np.arange(1, n + 1), words.shape[0]))


def printed_hard_family(n: int) -> tuple[Batch, np.ndarray]:
    """The family as printed (v_i = n/2 + x_i) and the labels the paper intends (v_k)."""
    b = hard_family(n, offset=0)
    queries = b.ids[:, n + 1]
    return b, b.ids[np.arange(len(b)), 2 * queries]


def sample(n: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` valid instances: uniform x over 1..n, the query a uniform one of x_1..x_{n-1}."""
    n = check_n(n)
    words = rng.integers(1, n + 1, size=(count, n))
    queries = words[np.arange(count), rng.integers(0, n - 1, size=count)]
    return batch(n, words, queries)


class ARTask(RetrievalTask):
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
        a, n = alphabet_for(self.n), self.n
        return (a ** (n + 1) if a else 0) + (2 ** (n // 2) * (n // 2) if n % 2 == 0 else 0)

    def exhaustive_batches(self):
        a = alphabet_for(self.n)
        details = {"alphabet": f"{{1..{a}}}", "queries": "every symbol that occurs among x_1..x_{n-1}"}
        hard = {"alphabet": "keys 1..n/2, values n/2+1+x_i, x in {0,1}^(n/2)", "queries": "every key"}
        return [(name, b, details if name.startswith("x in") else hard) for name, b in exhaustive(self.n)]

    def sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return sample(self.n, count, rng)

    def full_size(self) -> int:
        return self.n ** (self.n + 1)

    def full_batch(self) -> Batch:
        return full(self.n)

    def hard_sample_batch(self, count: int, rng: np.random.Generator) -> Batch | None:
        return hard_sample(self.n, count, rng) if has_hard_family(self.n) else None
