"""Shared Hypothesis strategies: retrieval instances and R_p numbers (graphs and TM inputs come later).

Import as ``from tests.strategies import ...`` (tests/ is a package, so pytest puts the repository
root on sys.path).
"""

from __future__ import annotations

from hypothesis import strategies as st

from theory.precision import P_MAX, max_value


def sizes(min_n: int = 2, max_n: int = 256) -> st.SearchStrategy[int]:
    return st.integers(min_n, max_n)


@st.composite
def index_instances(draw, min_n: int = 2, max_n: int = 256):
    """(n, x, i) with x in [n]^n and i in [n]; small alphabets are drawn as often as the full one."""
    n = draw(sizes(min_n, max_n))
    top = min(draw(st.sampled_from([2, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=n, max_size=n))
    return n, x, draw(st.integers(1, n))


@st.composite
def ar_instances(draw, min_n: int = 2, max_n: int = 256):
    """(n, x, q) with q one of x_1..x_{n-1}, so the instance is valid."""
    n = draw(sizes(min_n, max_n))
    top = min(draw(st.sampled_from([2, 3, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=n, max_size=n))
    return n, x, x[draw(st.integers(0, n - 2))]


@st.composite
def cgram_instances(draw, min_n: int = 3, max_n: int = 256, max_c: int = 5):
    """(n, c, x, q) with q the (c-1)-prefix of one of the c-grams of x."""
    n = draw(sizes(min_n, max_n))
    c = draw(st.integers(2, min(max_c, n)))
    top = min(draw(st.sampled_from([2, 3, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=n, max_size=n))
    j = draw(st.integers(0, n - c))
    return n, c, x, x[j:j + c - 1]


@st.composite
def counting_instances(draw, min_n: int = 2, max_n: int = 256):
    """(n, x, q, t): 0 <= len(x) <= n, thresholds often near the true count."""
    n = draw(sizes(min_n, max_n))
    m = draw(st.sampled_from([n, draw(st.integers(0, n))]))
    top = min(draw(st.sampled_from([1, 2, n])), n)
    x = draw(st.lists(st.integers(1, top), min_size=m, max_size=m))
    q = draw(st.sampled_from([1, draw(st.integers(1, n))]))
    count = sum(1 for v in x if v == q)
    t = draw(st.one_of(st.integers(0, n), st.integers(max(count - 1, 0), min(count + 1, n))))
    return n, x, q, t


def precisions(max_p: int = P_MAX) -> st.SearchStrategy[int]:
    """Odd p in 3..max_p."""
    return st.integers(1, (max_p - 1) // 2).map(lambda h: 2 * h + 1)


@st.composite
def rp_numbers(draw, p: int | None = None):
    """(p, x) with x an element of R_p: k 2^-q, |k| <= 2^(2q) - 1."""
    p = draw(precisions()) if p is None else p
    q = (p - 1) // 2
    k = draw(st.integers(-(2 ** (2 * q) - 1), 2 ** (2 * q) - 1))
    x = k / 2.0**q
    assert abs(x) <= max_value(p)
    return p, x
