"""Closed-form memory lower bounds for streaming models (RNNs, with or without CoT), spec §3.2–§3.5.

Every bound is a count R of communication-matrix rows that a state at one split of the input must
tell apart (Lemma C.24 style). A deterministic p-bit RNN with Λ numbers of state has at most 2^{Λp}
states, so it needs

    M = Λ·p ≥ N := ⌈log2 R⌉  bits,      Λ_min = ⌈N / p⌉ .

Proven here (the proof is in the docstring of each function, checked by ``tests/theory``):

* paper hard families (alphabet size ``sigma`` for the free symbols; the paper uses sigma = 2):
  Index R = sigma^n, AR R = sigma^⌊n/2⌋, c-gram R = sigma^⌊n/c⌋, Counting R = sigma^n (sigma = 2 is the
  paper's list encoding), IsTree R = 2^(n-3) (the two-hub family), Prop 5.1 R = sigma^⌈n/2⌉;
* whole domain, split after i of the n data tokens: Index sigma^i, Counting C(i+sigma-1, sigma-1);
* IsTree over all simple graphs with n-1 edges, Bob holding the last j >= 2 edges: at least
  (j+1)^(n-j-1) states (a star-forest fooling set, :func:`istree_star_rows`), so Θ(n log n) bits;
* IsTree over all simple graphs with n-1 edges, Bob holding the last j edges:
  R ≤ S(n, j+1) + [n-1-j ≥ 3] for every n (S = Stirling numbers of the second kind), with equality
  confirmed by exhaustive computation for 5 ≤ n ≤ 7 and every j (see :mod:`theory.comm`); n = 3, 4 at
  j = 1 are smaller because Bob's single edge must avoid Alice's. Equality for larger n is the
  toolkit's conjecture, not a theorem.

Numbers are exact Python integers; the ``*_expr`` functions give the same formulas as sympy
expressions in the symbols :data:`n`, :data:`sigma`, :data:`c`, :data:`j`, :data:`p`.
"""

from __future__ import annotations

from functools import lru_cache
from math import comb

import sympy

n, sigma, c, j, p = sympy.symbols("n sigma c j p", integer=True, positive=True)

TASKS: tuple[str, ...] = ("index", "ar", "cgram", "counting", "istree", "prop51")

#: Depth of the paper's Transformer for each task (spec §3.2/§3.3), used when the registry has no
#: construction: Index/AR/c-gram/Counting are two attention layers, IsTree is Lemma C.27's nine.
PAPER_DEPTH = {"index": 2, "ar": 2, "cgram": 2, "counting": 2, "istree": 9, "prop51": 2}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return task


def min_n(task: str, c_gram: int = 2) -> int:
    """Smallest n for which the task's hard family is non-trivial (at least one free symbol)."""
    return {"index": 1, "ar": 2, "cgram": c_gram, "counting": 1, "istree": 4, "prop51": 1}[check_task(task)]


def _check(task: str, size: int, alphabet: int, c_gram: int) -> None:
    check_task(task)
    if c_gram < 2:
        raise ValueError(f"c-gram needs c >= 2, got c={c_gram}")
    if alphabet < 2:
        raise ValueError(f"the alphabet needs at least 2 symbols, got sigma={alphabet}")
    if size < min_n(task, c_gram):
        raise ValueError(f"n={size} is too small for {task}: need n >= {min_n(task, c_gram)}")


# --------------------------------------------------------------------------- hard families
def rows_expr(task: str) -> sympy.Expr:
    """Rows of the paper's hard family, as a sympy expression in n, sigma (and c for c-gram)."""
    return {
        "index": sigma ** n,
        "ar": sigma ** sympy.floor(n / 2),
        "cgram": sigma ** sympy.floor(n / c),
        "counting": sigma ** n,
        "istree": 2 ** (n - 3),
        "prop51": sigma ** sympy.ceiling(n / 2),
    }[check_task(task)]


def bits_expr(task: str) -> sympy.Expr:
    """N_T = ⌈log2 R⌉ as a sympy expression (equals n·log2(sigma) etc. for sigma a power of two)."""
    return sympy.ceiling(sympy.log(rows_expr(task), 2))


def lambda_min_expr(task: str) -> sympy.Expr:
    """Λ_min = ⌈N_T / p⌉."""
    return sympy.ceiling(bits_expr(task) / p)


def hard_family_rows(task: str, size: int, alphabet: int = 2, c_gram: int = 2) -> int:
    """Exact R for the paper's hard family of ``task`` at size n (see the module docstring).

    Proof (all tasks): Bob's answers over all his suffixes recover Alice's free symbols (Index: query
    k; AR: key k; c-gram: the (c-1)-gram (k)^{c-1}; Counting: (k, t) for t < sigma-1; Prop 5.1: the
    odd positions), so distinct inputs are distinct rows. For IsTree Bob recovers x up to complement
    (the hubs are interchangeable), which leaves 2^(n-3) rows. ``theory.hard_families`` checks this by
    building every instance.
    """
    _check(task, size, alphabet, c_gram)
    if task == "istree":
        return 2 ** (size - 3)
    free = {"index": size, "ar": size // 2, "cgram": size // c_gram, "counting": size,
            "prop51": (size + 1) // 2}[task]
    return alphabet ** free


def log2_ceil(count: int) -> int:
    """⌈log2 count⌉ exactly, for a positive integer count."""
    if count < 1:
        raise ValueError("a row count is at least 1")
    return (count - 1).bit_length()


def bits(task: str, size: int, alphabet: int = 2, c_gram: int = 2) -> int:
    """N_T(n): bits any streaming model must hold at the split before Bob's query (paper family)."""
    return log2_ceil(hard_family_rows(task, size, alphabet, c_gram))


def lambda_min(bit_count: int, precision: int) -> int:
    """Λ_min = ⌈N / p⌉: fewest p-bit numbers of state that can hold N bits."""
    if precision <= 0:
        raise ValueError(f"precision p must be positive, got p={precision}")
    if bit_count < 0:
        raise ValueError("a bit count is non-negative")
    return -(-bit_count // precision)


# --------------------------------------------------------------------------- whole domains
def index_rows_split(i: int, alphabet: int) -> int:
    """Index over [sigma]^n, Alice holding x_1..x_i: sigma^i rows (prefixes differ at a k <= i; ask k)."""
    return alphabet ** i


def counting_rows_split(i: int, alphabet: int) -> int:
    """Counting over [sigma]^n, Alice holding x_1..x_i: one row per multiset of her tokens.

    The answer depends on the prefix only through its count vector; two count vectors differ at
    some q, and Bob's suffix can avoid q (sigma >= 2), so t = the smaller count separates them.
    """
    return comb(i + alphabet - 1, alphabet - 1)


def index_rows_split_expr() -> sympy.Expr:
    return sigma ** sympy.Symbol("i", integer=True, nonnegative=True)


def counting_rows_split_expr() -> sympy.Expr:
    i = sympy.Symbol("i", integer=True, nonnegative=True)
    return sympy.binomial(i + sigma - 1, sigma - 1)


# --------------------------------------------------------------------------- IsTree, general split
@lru_cache(maxsize=64)
def stirling2_row(size: int) -> tuple[int, ...]:
    """(S(size, 0), ..., S(size, size)) exactly, by S(m, k) = k·S(m-1, k) + S(m-1, k-1)."""
    row = [1]
    for m in range(1, size + 1):
        row = [0] + [k * (row[k] if k < len(row) else 0) + row[k - 1] for k in range(1, m + 1)]
    return tuple(row)


def istree_split_rows(size: int, bob_edges: int) -> int:
    """Upper bound (exact for 5 <= n <= 7, conjectured beyond) on states at an IsTree split.

    Alice holds a = n-1-j edges, Bob j. Union-find shows the answer is a function of Bob's edges and
    (i) whether Alice's edges already close a cycle (then it is NO) or else (ii) the partition of
    [n] into the components of her forest, which has n-a = j+1 blocks. Every partition into j+1
    blocks is realised by some forest, and a cycle needs a >= 3 edges in a simple graph, so at most
    S(n, j+1) + [a >= 3] states are needed.
    """
    if size < 2 or not 0 <= bob_edges <= size - 1:
        raise ValueError(f"need n >= 2 and 0 <= j <= n-1, got n={size}, j={bob_edges}")
    alice = size - 1 - bob_edges
    return stirling2_row(size)[bob_edges + 1] + (1 if alice >= 3 else 0)


def istree_split_rows_expr() -> sympy.Expr:
    """S(n, j+1) + [n-1-j >= 3], with S written as the inclusion–exclusion sum (``.doit()`` evaluates)."""
    i = sympy.Symbol("i", integer=True, nonnegative=True)
    k = j + 1
    stirling2 = sympy.Sum((-1) ** i * sympy.binomial(k, i) * (k - i) ** n, (i, 0, k)) / sympy.factorial(k)
    return stirling2 + sympy.Piecewise((1, n - 1 - j >= 3), (0, True))


def istree_star_rows(size: int, bob_edges: int) -> int:
    """Proven lower bound on states at an IsTree split with j >= 2: (j+1)^(n-j-1) (0 if j < 2).

    Fooling set: k = j+1 roots 1..k, and Alice joins every other vertex v to a root r(v) (a star
    forest, n-k edges). For r ≠ r' pick v with a = r(v) ≠ b = r'(v) and a third root c. Bob sends
    (v, c) — in neither forest — plus k-2 root–root edges forming two trees, one on a side holding
    a and c, one on the other holding b. With r the graph has a cycle (NO); with r' it is a tree
    (YES). So all k^(n-k) star forests need different states. ``theory.hard_families`` builds
    these suffixes and checks them.
    """
    if size < 2 or not 0 <= bob_edges <= size - 1:
        raise ValueError(f"need n >= 2 and 0 <= j <= n-1, got n={size}, j={bob_edges}")
    k = bob_edges + 1
    return k ** (size - k) if k >= 3 else 0


def istree_proven_bits(size: int) -> int:
    """max over splits of ⌈log2 (j+1)^(n-j-1)⌉ (star fooling sets), and at least the paper's n-3."""
    from math import log2

    # (n-k)·log2(k) picks the candidates; the exact integer decides among the best few
    ks = sorted(range(3, size), key=lambda k: -(size - k) * log2(k))[:4]
    best = max((log2_ceil(k ** (size - k)) for k in ks), default=0)
    return max(best, size - 3)


def istree_exact_max(size: int) -> tuple[int, int]:
    """(j*, R): the split with the most states by :func:`istree_split_rows`, and that count."""
    counts = [istree_split_rows(size, jj) for jj in range(size)]
    best = max(range(size), key=lambda jj: (counts[jj], -jj))
    return best, counts[best]


def istree_exact_bits(size: int) -> int:
    """⌈log2 max_j R(n, j)⌉: the IsTree memory bound over all splits (vs the paper's n - 3)."""
    return log2_ceil(istree_exact_max(size)[1])


# --------------------------------------------------------------------------- Transformer side
def input_length(task: str, size: int, c_gram: int = 2) -> int:
    """Tokens in one hard instance (the prompt a Transformer caches), as built in theory.hard_families."""
    check_task(task)
    return {
        "index": size + 1,                                   # x_1..x_n, k
        "ar": 1 + 2 * (size // 2) + 1,                       # <s>, key/value pairs, query
        "cgram": 1 + c_gram * (size // c_gram) + c_gram - 1,  # <s>, blocks, query (c-1)-gram
        "counting": size + 2,                                # list of length <= n, q, t
        "istree": 1 + 3 * (size - 1) + 1,                    # <s>, edges u ~ v, <sep>
        "prop51": size + 1,
    }[task]


def kv_cache_bits(length: int, depth: int, heads: int, width: int, precision: int) -> int:
    """Bits of a Transformer's KV cache: every layer keeps a key and a value per head and position.

    In the paper's model (Def 3.1) each head's W^(K), W^(V) map R^d -> R^d, so the cache holds
    2·depth·heads·width numbers per position, each of p bits.
    """
    if precision <= 0:
        raise ValueError(f"precision p must be positive, got p={precision}")
    return 2 * depth * heads * width * length * precision


def kv_cache_bits_expr() -> sympy.Expr:
    L, H, d, ell = sympy.symbols("L H d l", integer=True, positive=True)
    return 2 * L * H * d * ell * p


__all__ = [
    "PAPER_DEPTH", "TASKS", "bits", "bits_expr", "c", "check_task", "counting_rows_split",
    "counting_rows_split_expr", "hard_family_rows", "index_rows_split", "index_rows_split_expr",
    "input_length", "istree_exact_bits", "istree_exact_max", "istree_split_rows",
    "istree_proven_bits", "istree_split_rows_expr", "istree_star_rows", "j", "kv_cache_bits", "kv_cache_bits_expr", "lambda_min",
    "lambda_min_expr", "log2_ceil", "min_n", "n", "p", "rows_expr", "sigma", "stirling2_row",
]
