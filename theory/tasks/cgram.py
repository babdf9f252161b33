"""c-gram retrieval (Def 4.4): AR with a key of c - 1 tokens.

Format: ``<s>, x_1, ..., x_n, q_1, ..., q_{c-1}`` with tokens in 1..n and 2 <= c <= n. The instance
is valid iff the (c-1)-gram q prefixes some c-gram of x; the answer is x_{j+c-1} for the smallest j
with x_j..x_{j+c-2} = q and j + c - 1 <= n (first occurrence, as for AR). c = 2 is AR.

Hard family (Thm 4.6, c divides n): ``<s>, (1)^{c-1}, v_1, ..., (n/c)^{c-1}, v_{n/c}, (k)^{c-1}``
with ``v_i = n/c + 1 + x_i``, x in {0,1}^{n/c} (the paper prints {0,1}^{n/2}, and ``n/c + x_i``,
which collides with the key n/c exactly as for AR; see docs/errata.md).
"""

from __future__ import annotations

import numpy as np

from theory.tasks.common import (Batch, RetrievalTask, all_words, check_int, check_numbers, full_column,
                                 with_columns)
from theory.tokens import BOS, Vocab

NAME = "cgram"
DEFAULT_BUDGET = 1 << 20


def check_c(c) -> int:
    return check_int(c, "gram length c", 2)


def check_n(n, c) -> int:
    c = check_c(c)
    return check_int(n, f"c-gram size n (c = {c})", c)


def vocab(n: int, c: int) -> Vocab:
    return Vocab(check_n(n, c))


def max_length(n: int, c: int) -> int:
    """<s>, n tokens, c - 1 query tokens, the answer."""
    return check_n(n, c) + c + 1


def solve(n: int, c: int, x, q) -> int:
    n = check_n(n, c)
    x = check_numbers(x, n, "x")
    if len(x) != n:
        raise ValueError(f"c-gram retrieval needs exactly n = {n} tokens before the query, got {len(x)}")
    q = check_numbers(q, n, "query")
    if len(q) != c - 1:
        raise ValueError(f"the query must have c - 1 = {c - 1} tokens, got {len(q)}")
    for j in range(n - c + 1):
        if x[j:j + c - 1] == q:
            return x[j + c - 1]
    raise ValueError(f"query {q} prefixes no {c}-gram of x")


def sequence(n: int, c: int, x, q) -> list:
    return [BOS, *x, *q, solve(n, c, x, q)]


def first_windows(words: np.ndarray, c: int) -> tuple[np.ndarray, np.ndarray]:
    """All (row, j) such that window j (0-based) is the first occurrence of its (c-1)-gram prefix."""
    n = words.shape[1]
    starts = n - c + 1
    win = np.stack([words[:, j:j + c - 1] for j in range(starts)], axis=1)  # (B, J, c-1)
    same = (win[:, :, None, :] == win[:, None, :, :]).all(axis=-1)         # (B, J, J')
    earlier = np.tril(np.ones((starts, starts), dtype=bool), k=-1)          # j' < j
    first = ~(same & earlier).any(axis=-1)
    return np.nonzero(first)


def batch_from_windows(n: int, c: int, words: np.ndarray, rows: np.ndarray, starts: np.ndarray) -> Batch:
    """Instances whose query is window ``starts`` of ``words[rows]`` (the caller ensures it is the first)."""
    w = words[rows]
    offs = starts[:, None] + np.arange(c - 1)[None, :]
    queries = np.take_along_axis(w, offs, axis=1)
    answers = w[np.arange(len(rows)), starts + c - 1]
    ids = with_columns(full_column(len(rows), vocab(n, c).id(BOS)), w, queries, answers)
    return Batch(ids, full_column(len(rows), n + c))


def batch(n: int, c: int, words: np.ndarray, queries: np.ndarray) -> Batch:
    """Valid instances among (words[r], queries[r]); invalid queries are dropped."""
    starts = words.shape[1] - c + 1
    win = np.stack([words[:, j:j + c - 1] for j in range(starts)], axis=1)
    hit = (win == queries[:, None, :]).all(axis=-1)
    ok = np.flatnonzero(hit.any(axis=1))
    return batch_from_windows(n, c, words, ok, hit[ok].argmax(axis=1))


def alphabet_for(n: int, c: int, budget: int = DEFAULT_BUDGET) -> int:
    for a in (4, 3, 2):
        if a <= n and a**n * (n - c + 1) <= budget:
            return a
    return 0


def exhaustive(n: int, c: int, budget: int = DEFAULT_BUDGET) -> list[tuple[str, Batch]]:
    """Every x over a small alphabet with every (c-1)-gram query that prefixes a c-gram, plus the hard family."""
    n = check_n(n, c)
    parts = []
    a = alphabet_for(n, c, budget)
    if a:
        words = all_words(a, n)
        rows, starts = first_windows(words, c)
        parts.append((f"x in {{1..{a}}}^n, every query (c-1)-gram", batch_from_windows(n, c, words, rows, starts)))
    if n % c == 0 and n // c + 2 <= n:
        parts.append(("hard family of Thm 4.6 (values n/c+1+x_i)", hard_family(n, c)))
    return parts


def has_hard_family(n: int, c: int) -> bool:
    return n % c == 0 and n // c + 2 <= n


def _hard_words(n: int, c: int, bits: np.ndarray, offset: int) -> np.ndarray:
    m = n // c
    blocks = np.empty((bits.shape[0], m, c), dtype=np.int64)
    blocks[:, :, : c - 1] = np.arange(1, m + 1)[None, :, None]
    blocks[:, :, c - 1] = m + offset + bits
    return blocks.reshape(bits.shape[0], n)


def hard_family(n: int, c: int, offset: int = 1) -> Batch:
    n = check_n(n, c)
    m = n // c
    if n % c or m + 1 + offset > n:
        raise ValueError(f"the c-gram hard family needs c | n and n/c + 2 <= n, got n = {n}, c = {c}")
    bits = all_words(2, m) - 1
    reps = np.repeat(_hard_words(n, c, bits, offset), m, axis=0)
    keys = np.tile(np.arange(1, m + 1), bits.shape[0])
    return batch(n, c, reps, np.repeat(keys[:, None], c - 1, axis=1))


def hard_sample(n: int, c: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` seeded instances of the hard family: random bits, a uniform key as the query."""
    m = check_n(n, c) // c
    keys = rng.integers(1, m + 1, size=count)
    words = _hard_words(n, c, rng.integers(0, 2, size=(count, m)), 1)
    return batch(n, c, words, np.repeat(keys[:, None], c - 1, axis=1))


def full(n: int, c: int) -> Batch:
    """Every x in [n]^n with every (c-1)-gram query that prefixes a c-gram of x (small n only)."""
    n = check_n(n, c)
    words = all_words(n, n)
    rows, starts = first_windows(words, c)
    return batch_from_windows(n, c, words, rows, starts)


def sample(n: int, c: int, count: int, rng: np.random.Generator) -> Batch:
    """``count`` valid instances: uniform x over 1..n, the query a uniform window of x."""
    n = check_n(n, c)
    words = rng.integers(1, n + 1, size=(count, n))
    starts = rng.integers(0, n - c + 1, size=count)
    offs = starts[:, None] + np.arange(c - 1)[None, :]
    return batch(n, c, words, np.take_along_axis(words, offs, axis=1))


class CgramTask(RetrievalTask):
    name = NAME

    def max_length(self) -> int:
        return max_length(self.n, self.c)

    def __init__(self, n: int, c: int = 3):
        super().__init__(check_n(n, c))
        self.c = check_c(c)

    def params(self) -> dict:
        return {"n": self.n, "c": self.c}

    def vocab(self) -> Vocab:
        return vocab(self.n, self.c)

    def solve(self, instance) -> int:
        k = self.c - 1
        return solve(self.n, self.c, instance[1:-k], list(instance[-k:]))

    def exhaustive_size(self) -> int:
        n, c = self.n, self.c
        a = alphabet_for(n, c)
        return (a**n * (n - c + 1) if a else 0) + (2 ** (n // c) * (n // c) if n % c == 0 else 0)

    def exhaustive_batches(self):
        a = alphabet_for(self.n, self.c)
        details = {"alphabet": f"{{1..{a}}}", "queries": "every (c-1)-gram that prefixes a c-gram of x"}
        hard = {"alphabet": "keys (k)^(c-1), values n/c+1+x_i, x in {0,1}^(n/c)", "queries": "every key"}
        return [(name, b, details if name.startswith("x in") else hard) for name, b in exhaustive(self.n, self.c)]

    def sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return sample(self.n, self.c, count, rng)

    def full_size(self) -> int:
        return self.n**self.n * (self.n - self.c + 1)

    def full_batch(self) -> Batch:
        return full(self.n, self.c)

    def hard_sample_batch(self, count: int, rng: np.random.Generator) -> Batch | None:
        return hard_sample(self.n, self.c, count, rng) if has_hard_family(self.n, self.c) else None
