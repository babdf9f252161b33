"""Memory lower bounds for streaming models (any RNN, with or without CoT): Lemma C.24, Thms 4.6
and 4.7, Prop 5.1, and the bounds of ``docs/bounds.md`` that go beyond the paper.

Every bound is a count R of prefixes that a state at one split of the input must tell apart: a
deterministic RNN cut after Alice's prefix is a one-way protocol (Lemma C.24 and the proof of
Thm 4.6), so prefixes that get different answers on a common suffix need different states.

Conventions, stated once for the whole toolkit:

* **A state number is an element of R_p** (App. A.2): p is odd and R_p has ``2^p - 1`` values (a
  sign bit and p - 1 magnitude bits; +0 and -0 coincide). Λ numbers take at most ``(2^p - 1)^Λ``
  values, so ``Λ_min(R, p) = min {Λ : (2^p - 1)^Λ >= R}`` (:func:`lambda_min`). The memory in bits
  is ``M = Λ·p >= N := ceil(log2 R)`` whatever the number format.
* **Counting** uses a fixed-length hard family (:func:`hard_family_rows`): an RNN may read the
  position, so Bob must know where Alice stopped, and prefixes of different lengths may share a
  state. The paper's list encoding has varying length; per length it gives only
  ``C(n, floor(n/2))`` rows (:func:`counting_list_rows`).
* **Prop 5.1** counts the AR oracle: on the hard family the oracle's answers are a function of the
  third token alone, so Bob can simulate the oracle given that one symbol and the state needs
  ``sigma^(ceil(n/2) - 1)`` values, not ``sigma^ceil(n/2)``.

Every number carries a status (:data:`STATUSES`): ``proved`` (a closed form with a proof, here or
in ``docs/bounds.md``), ``exact`` (brute force, over the range it names), ``conjectured``, ``upper
bound`` (states that suffice, not a lower bound), or ``measured`` (on built weights; only
``verify`` measures). Numbers are exact Python integers; the ``*_expr`` functions give the same
formulas as sympy expressions in :data:`n`, :data:`sigma`, :data:`c`, :data:`j`, :data:`p`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from math import comb, exp, floor, isfinite, lgamma, log, log1p, log2

import sympy

n, sigma, c, j, p = sympy.symbols("n sigma c j p", integer=True, positive=True)

TASKS: tuple[str, ...] = ("index", "ar", "cgram", "counting", "istree", "prop51")

PROVED, EXACT, CONJECTURED, UPPER, MEASURED = "proved", "exact", "conjectured", "upper bound", "measured"
STATUSES = (PROVED, EXACT, CONJECTURED, UPPER, MEASURED)

#: Largest n the closed forms are evaluated at (the IsTree bounds handle bigger integers than this
#: in well under a second; the CLI rejects larger n at once).
N_MAX = 2**20
#: The full Stirling row (every split j) is computed exactly up to this n (0.8 s at 2048).
STIRLING_ROW_LIMIT = 2048
#: The best-split IsTree partition bound is computed exactly up to this n (about 1.5 s at 8192).
ISTREE_PARTITION_LIMIT = 8192
#: The paper's Counting list encoding, C(n, n/2) rows, is reported up to this n (0.3 s at 65536;
#: the fixed-length family gives the stronger bound n - 1 at every n anyway).
COUNTING_LIST_LIMIT = 2**16


@dataclass(frozen=True)
class Bound:
    """One lower bound: its name, the rows it counts (None if it is a bit count), bits, status."""

    name: str
    bits: float            # N = ceil(log2 rows) for a row count; a real number for the epsilon bound
    status: str
    source: str            # the paper's numbering or docs/bounds.md
    rows: int | None = field(default=None, repr=False)
    note: str = ""

    def lambda_min(self, precision: int) -> int:
        return lambda_min(self.rows, precision) if self.rows is not None else lambda_min_bits(self.bits, precision)


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return task


def min_n(task: str, c_gram: int = 3) -> int:
    """Smallest n at which the task's hard family has a free symbol."""
    return {"index": 1, "ar": 2, "cgram": c_gram, "counting": 2, "istree": 4, "prop51": 3}[check_task(task)]


def check_precision(precision: int) -> int:
    """p must be an odd integer >= 3 (App. A.2 assumes p odd; R_1 = {0} holds nothing)."""
    if isinstance(precision, bool) or not isinstance(precision, int) or precision < 3 or precision % 2 == 0:
        raise ValueError(f"p must be an odd integer >= 3 (R_p, App. A.2), got {precision!r}")
    return precision


def rp_values(precision: int) -> int:
    """|R_p| = 2^p - 1: one sign bit and p - 1 magnitude bits, with +0 = -0."""
    return 2 ** check_precision(precision) - 1


def _check(task: str, size: int, alphabet: int, c_gram: int) -> None:
    check_task(task)
    if c_gram < 2:
        raise ValueError(f"c-gram needs c >= 2, got c={c_gram}")
    if alphabet < 2:
        raise ValueError(f"the alphabet needs at least 2 symbols, got sigma={alphabet}")
    if size < min_n(task, c_gram):
        raise ValueError(f"n={size} is too small for {task}: need n >= {min_n(task, c_gram)}")
    if size > N_MAX:
        raise ValueError(f"n={size} exceeds the documented range n <= {N_MAX}")


# --------------------------------------------------------------------------- counting states
def log2_ceil(count: int) -> int:
    """ceil(log2 count) exactly, for a positive integer count."""
    if count < 1:
        raise ValueError("a row count is at least 1")
    return (count - 1).bit_length()


def lambda_min(rows: int, precision: int) -> int:
    """Fewest R_p numbers whose joint values can tell ``rows`` prefixes apart: min Λ with (2^p-1)^Λ >= rows."""
    base = rp_values(precision)
    if rows < 1:
        raise ValueError("a row count is at least 1")
    lam = max(0, -(-(log2_ceil(rows)) // precision))  # (2^p-1)^Λ < 2^(pΛ): never too many
    while base ** lam < rows:
        lam += 1
    return lam


def lambda_min_bits(bit_count: float, precision: int) -> int:
    """min Λ with Λ·log2(2^p - 1) >= bit_count, for a bound given in bits (possibly not an integer)."""
    base = rp_values(precision)
    if bit_count < 0 or not isfinite(bit_count):
        raise ValueError(f"a bit count is finite and non-negative, got {bit_count}")
    lam = max(0, int(bit_count // precision))
    while lam * log2(base) < bit_count:
        lam += 1
    return lam


# --------------------------------------------------------------------------- hard families
def free_symbols(task: str, size: int, alphabet: int = 2, c_gram: int = 3) -> int:
    """Symbols of [sigma] that Bob's answers recover in the hard family (IsTree: bits up to complement)."""
    _check(task, size, alphabet, c_gram)
    return {
        "index": size,
        "ar": size // 2,
        "cgram": size // c_gram,
        # fixed length n: alphabet-1 slots per free symbol, filler token n (never queried)
        "counting": min(size // (alphabet - 1), size - 1),
        "istree": size - 3,
        # the oracle's answers are a function of x_2 (the third token); Bob simulates it given x_2
        "prop51": (size + 1) // 2 - 1,
    }[task]


def hard_family_rows(task: str, size: int, alphabet: int = 2, c_gram: int = 3) -> int:
    """Exact R for the hard family of ``task`` at size n (``theory.hard_families`` builds them).

    Proof (all tasks): Bob's answers over all his suffixes recover Alice's free symbols (Index: query
    k; AR: key k; c-gram: the (c-1)-gram (k)^{c-1}; Counting: (k, t) for t < sigma - 1; Prop 5.1:
    the odd positions, given the oracle's answers, which depend on x_2 only), so distinct inputs are
    distinct rows. For IsTree Bob recovers x up to complement (the hubs are interchangeable), which
    leaves 2^(n-3) rows.
    """
    free = free_symbols(task, size, alphabet, c_gram)
    return 2 ** free if task == "istree" else alphabet ** free


def bits(task: str, size: int, alphabet: int = 2, c_gram: int = 3) -> int:
    """N_T(n) = ceil(log2 R) for the hard family (paper's reductions, conventions above)."""
    return log2_ceil(hard_family_rows(task, size, alphabet, c_gram))


def counting_list_rows(size: int) -> int:
    """The paper's Counting encoding (increasing list of {j : x_j = 1}), per prefix length: C(n, floor(n/2)).

    An RNN reading positions lets Bob's side depend on the length m of Alice's list, so only lists
    of one length must have different states; there are C(n, m) of them, most at m = floor(n/2).
    (Without positions the paper's 2^n rows stand.)
    """
    if size < 1 or size > N_MAX:
        raise ValueError(f"need 1 <= n <= {N_MAX}, got n={size}")
    return comb(size, size // 2)


def rows_expr(task: str) -> sympy.Expr:
    """Rows of the hard family, as a sympy expression in n, sigma (and c for c-gram)."""
    return {
        "index": sigma ** n,
        "ar": sigma ** sympy.floor(n / 2),
        "cgram": sigma ** sympy.floor(n / c),
        "counting": sigma ** sympy.Min(sympy.floor(n / (sigma - 1)), n - 1),
        "istree": 2 ** (n - 3),
        "prop51": sigma ** (sympy.ceiling(n / 2) - 1),
    }[check_task(task)]


def bits_expr(task: str) -> sympy.Expr:
    """N_T = ceil(log2 R) as a sympy expression."""
    return sympy.ceiling(sympy.log(rows_expr(task), 2))


def lambda_min_expr(task: str) -> sympy.Expr:
    """Λ_min = ceil(log R / log(2^p - 1)) (R_p has 2^p - 1 values)."""
    return sympy.ceiling(sympy.log(rows_expr(task)) / sympy.log(2 ** p - 1))


# --------------------------------------------------------------------------- epsilon error
def binary_entropy(eps: float) -> float:
    """H(eps) = -eps log2 eps - (1 - eps) log2 (1 - eps), with H(0) = 0."""
    if not 0 <= eps <= 1:
        raise ValueError(f"an error rate lies in [0, 1], got {eps}")
    if eps in (0, 1):
        return 0.0
    return -eps * log2(eps) - (1 - eps) * log2(1 - eps)


def index_error_bits(size: int, eps: float) -> float:
    """Index with average error eps over uniform x in {0,1}^n and uniform k: M >= (1 - H(eps))·n bits.

    Proof (docs/bounds.md): with S the state after x, Bob's guess of x_k is a function of (S, k);
    Fano's inequality gives H(x_k | S) <= H(eps_k), eps_k its error on k, so
    H(x | S) <= sum_k H(eps_k) <= n H(eps) (concavity, eps <= 1/2), and
    M >= H(S) >= I(x; S) = n - H(x | S) >= (1 - H(eps)) n. Shared randomness changes nothing
    (condition on it). For eps >= 1/2 the bound is 0.
    """
    if not 1 <= size <= N_MAX:
        raise ValueError(f"need 1 <= n <= {N_MAX}, got n={size}")
    if not 0 <= eps < 1:
        raise ValueError(f"the error rate eps must lie in [0, 1), got {eps}")
    return 0.0 if eps >= 0.5 else (1 - binary_entropy(eps)) * size


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


# --------------------------------------------------------------------------- IsTree, every split
@lru_cache(maxsize=16)
def stirling2_row(size: int) -> tuple[int, ...]:
    """(S(size, 0), ..., S(size, size)) exactly, by S(m, k) = k·S(m-1, k) + S(m-1, k-1)."""
    row = [1]
    for m in range(1, size + 1):
        row = [0] + [k * (row[k] if k < len(row) else 0) + row[k - 1] for k in range(1, m + 1)]
    return tuple(row)


def stirling2(size: int, k: int) -> int:
    """S(size, k) exactly, from k! S = sum_i (-1)^i C(k, i) (k - i)^size (one k, big integers)."""
    if not 0 <= k <= size:
        return 0
    if size <= STIRLING_ROW_LIMIT:
        return stirling2_row(size)[k]
    total = sum((-1) ** i * comb(k, i) * (k - i) ** size for i in range(k + 1))
    fact = 1
    for m in range(2, k + 1):
        fact *= m
    return total // fact


def _log_stirling2(size: int, k: int) -> float:
    """ln S(size, k) in floating point, near the maximum over k (used only to propose it).

    k! S(n, k) / k^n = sum_i (-1)^i C(k, i) (1 - i/k)^n, whose terms behave like r^i / i! with
    r = k (1 - 1/k)^n; near the maximum r is about 1, so the sum has no cancellation to speak of.
    """
    total = 0.0
    for i in range(k):
        term = exp(lgamma(k + 1) - lgamma(i + 1) - lgamma(k - i + 1) + size * log1p(-i / k))
        total += -term if i % 2 else term
        if i > 2 and term < 1e-17:
            break
    return size * log(k) - lgamma(k + 1) + log(max(total, 1e-300))


def _k_log_k_root(size: int) -> float:
    """The k with k ln k = n (the maximum of S(n, k) sits just below it)."""
    lo, hi = 2.0, float(size)
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if mid * log(mid) < size else (lo, mid)
    return lo


def istree_split_rows(size: int, bob_edges: int) -> int:
    """S(n, j+1) + [n-1-j >= 3]: the states needed at an IsTree split where Bob holds j of n - 1 edges.

    Upper bound for every n and j (union-find: Alice's edges matter only through whether they close a
    cycle and, if not, the partition of [n] into the j + 1 components of her forest). Equal to the
    exact state count for every n when j >= 2 (proved in docs/bounds.md: any two prefixes in
    different classes are told apart by some suffix; ``theory.hard_families.istree_separating_suffix``
    builds it) and when j = 0 (two classes, tree or not). At j = 1 it is exact for 5 <= n <= 8 by
    brute force, and too large at n = 3, 4 (:func:`istree_split_status`).
    """
    if size < 2 or not 0 <= bob_edges <= size - 1:
        raise ValueError(f"need n >= 2 and 0 <= j <= n-1, got n={size}, j={bob_edges}")
    alice = size - 1 - bob_edges
    return stirling2(size, bob_edges + 1) + (1 if alice >= 3 else 0)


def istree_split_status(size: int, bob_edges: int) -> str:
    """Status of :func:`istree_split_rows` as the exact state count at that split."""
    if bob_edges != 1 or size == 2:
        return PROVED
    return EXACT if 5 <= size <= 8 else (CONJECTURED if size > 8 else UPPER)


def istree_split_rows_expr() -> sympy.Expr:
    """S(n, j+1) + [n-1-j >= 3], with S written as the inclusion–exclusion sum (``.doit()`` evaluates)."""
    i = sympy.Symbol("i", integer=True, nonnegative=True)
    k = j + 1
    stirling = sympy.Sum((-1) ** i * sympy.binomial(k, i) * (k - i) ** n, (i, 0, k)) / sympy.factorial(k)
    return stirling + sympy.Piecewise((1, n - 1 - j >= 3), (0, True))


@lru_cache(maxsize=64)
def istree_partition_best(size: int) -> tuple[int, int]:
    """(j*, R): the split j >= 2 with the most states S(n, j+1) + [n-1-j >= 3], and that count (proved).

    Up to STIRLING_ROW_LIMIT every j is computed. Beyond, S(n, k) is log-concave in k (Harper 1967:
    the polynomial sum_k S(n, k) x^k has real roots), so a k at least as large as both neighbours is
    the maximum; floating point proposes it and exact integers confirm it.
    """
    if not 4 <= size <= ISTREE_PARTITION_LIMIT:
        raise ValueError(f"the partition bound is computed for 4 <= n <= {ISTREE_PARTITION_LIMIT}, got n={size}")
    if size <= STIRLING_ROW_LIMIT:
        best = max(range(2, size), key=lambda jj: (istree_split_rows(size, jj), -jj))
        return best, istree_split_rows(size, best)
    root = _k_log_k_root(size)
    lo, hi = max(3, int(0.8 * root)), min(size - 3, int(1.25 * root) + 1)
    while hi - lo > 2:     # ternary search on the floating-point estimate, inside a safe bracket
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if _log_stirling2(size, m1) < _log_stirling2(size, m2):
            lo = m1 + 1
        else:
            hi = m2
    k = max(range(lo, hi + 1), key=lambda kk: _log_stirling2(size, kk))
    values = {kk: stirling2(size, kk) for kk in (k - 1, k, k + 1)}
    while values[k - 1] > values[k] or values[k + 1] > values[k]:  # move uphill (never needed so far)
        k = k - 1 if values[k - 1] > values[k] else k + 1
        values.update({kk: stirling2(size, kk) for kk in (k - 1, k + 1) if kk not in values})
    return k - 1, values[k] + 1  # n - k >= 3 here, so the cycle class is present


def istree_partition_bits(size: int) -> int:
    """ceil(log2 max_{j >= 2} (S(n, j+1) + [n-1-j >= 3])): the IsTree memory bound over splits (proved)."""
    return log2_ceil(istree_partition_best(size)[1])


def istree_star_rows(size: int, bob_edges: int) -> int:
    """Proved lower bound on states at an IsTree split with j >= 2: (j+1)^(n-j-1) (0 if j < 2).

    Fooling set: k = j+1 roots 1..k, and Alice joins every other vertex v to a root r(v) (a star
    forest, n-k edges). For r ≠ r' pick v with a = r(v) ≠ b = r'(v) and a third root c. Bob sends
    (v, c) — in neither forest — plus k-2 root–root edges forming two trees, one on a side holding
    a and c, one on the other holding b. With r the graph has a cycle (NO); with r' it is a tree
    (YES). So all k^(n-k) star forests need different states. Superseded by the partition bound,
    which it lower-bounds; it stays because it is cheap at every n.
    """
    if size < 2 or not 0 <= bob_edges <= size - 1:
        raise ValueError(f"need n >= 2 and 0 <= j <= n-1, got n={size}, j={bob_edges}")
    k = bob_edges + 1
    return k ** (size - k) if k >= 3 else 0


def ceil_log2_power(base: int, exponent: int) -> int:
    """ceil(exponent · log2 base) = log2_ceil(base ** exponent), without the big power when floats are safe."""
    if base < 1 or exponent < 0:
        raise ValueError("need base >= 1 and exponent >= 0")
    if base & (base - 1) == 0:                     # a power of two: exact
        return exponent * (base.bit_length() - 1)
    x = exponent * log2(base)                      # irrational unless exponent = 0
    if exponent == 0:
        return 0
    if abs(x - round(x)) > 1e-6:                   # float error is ~1e-9 here; far from an integer
        return floor(x) + 1
    return log2_ceil(base ** exponent)


def istree_star_best(size: int) -> tuple[int, int]:
    """(j*, bits): the split maximising ceil((n-k)·log2 k), k = j + 1 >= 3 (concave in k)."""
    if not 4 <= size <= N_MAX:
        raise ValueError(f"need 4 <= n <= {N_MAX}, got n={size}")
    if size == 4:
        return 2, 0
    lo, hi = 3, size - 1
    while hi - lo > 2:
        m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
        if (size - m1) * log2(m1) < (size - m2) * log2(m2):
            lo = m1 + 1
        else:
            hi = m2
    cands = range(max(3, lo - 2), min(size - 1, hi + 2) + 1)
    k = max(cands, key=lambda kk: (ceil_log2_power(kk, size - kk), -kk))
    return k - 1, ceil_log2_power(k, size - k)


def istree_bounds(size: int) -> list[Bound]:
    """The IsTree lower bounds at n vertices, best last when it can be computed."""
    if not 4 <= size <= N_MAX:
        raise ValueError(f"need 4 <= n <= {N_MAX}, got n={size}")
    out = [Bound("paper two-hub family", size - 3, PROVED, "Thm 4.7, Lemma C.26", 2 ** (size - 3),
                 "n - 3 bits"),
           Bound("star forests, best split", (b := istree_star_best(size))[1], PROVED, "docs/bounds.md",
                 None, f"(j+1)^(n-j-1) states at j = {b[0]}")]
    if size <= ISTREE_PARTITION_LIMIT:
        jj, rows = istree_partition_best(size)
        out.append(Bound("all splits, S(n,j+1)+1", log2_ceil(rows), PROVED, "docs/bounds.md", rows,
                         f"best split j = {jj}"))
    return out


# --------------------------------------------------------------------------- per task
def task_bounds(task: str, size: int, alphabet: int = 2, c_gram: int = 3, eps: float | None = None) -> list[Bound]:
    """Every lower bound the toolkit knows for ``task`` at size n; the last one is the strongest proved."""
    _check(task, size, alphabet, c_gram)
    if task == "istree":
        return istree_bounds(size)
    rows = hard_family_rows(task, size, alphabet, c_gram)
    name, source, note = {
        "index": ("hard family x_1..x_n, k", "Lemma C.24, Thm 4.6", ""),
        "ar": ("hard family, floor(n/2) keys", "Thm 4.6", ""),
        "cgram": (f"hard family, floor(n/{c_gram}) blocks", "Thm 4.6", f"c = {c_gram}"),
        "counting": ("fixed-length hard family", "Thm 4.6, docs/bounds.md",
                     f"{free_symbols(task, size, alphabet, c_gram)} free symbols, filler token n"),
        "prop51": ("Index family with the AR oracle", "Prop 5.1, docs/bounds.md",
                   "the oracle's answers depend on x_2 only"),
    }[task]
    out = []
    if task == "counting" and alphabet == 2 and size <= COUNTING_LIST_LIMIT:
        out.append(Bound("paper's list encoding, per length", log2_ceil(counting_list_rows(size)), PROVED,
                         "Thm 4.6, docs/bounds.md", counting_list_rows(size), "C(n, floor(n/2)) lists of one length"))
    if task == "index" and eps is not None:
        out.append(Bound(f"average error eps = {eps:g}", index_error_bits(size, eps), PROVED, "docs/bounds.md",
                         None, "(1 - H(eps)) n bits; the others are for exact models"))
    out.append(Bound(name, log2_ceil(rows), PROVED, source, rows, note))
    return out


def strongest(bounds: list[Bound]) -> Bound:
    """The largest proved bound for exact models (the epsilon bound is for a different model)."""
    exact_models = [b for b in bounds if b.status == PROVED and not b.name.startswith("average error")]
    return max(exact_models, key=lambda b: b.bits)


__all__ = [
    "binary_entropy", "bits", "bits_expr", "Bound", "c", "ceil_log2_power", "check_precision",
    "check_task", "CONJECTURED", "COUNTING_LIST_LIMIT", "counting_list_rows", "counting_rows_split",
    "counting_rows_split_expr", "EXACT", "free_symbols", "hard_family_rows", "index_error_bits",
    "index_rows_split", "index_rows_split_expr", "istree_bounds", "istree_partition_best",
    "istree_partition_bits", "ISTREE_PARTITION_LIMIT", "istree_split_rows", "istree_split_rows_expr",
    "istree_split_status", "istree_star_best", "istree_star_rows", "j", "lambda_min",
    "lambda_min_bits", "lambda_min_expr", "log2_ceil", "MEASURED", "min_n", "n", "N_MAX", "p",
    "PROVED", "rows_expr", "rp_values", "sigma", "STATUSES", "stirling2", "stirling2_row",
    "STIRLING_ROW_LIMIT", "strongest", "task_bounds", "TASKS", "UPPER",
]
