"""Closed forms in theory.bounds against brute force and independent definitions."""

from itertools import combinations, product
from math import ceil, log2

import pytest
import sympy
from hypothesis import given, settings, strategies as st

from theory import bounds as B


def brute_stirling2(n, k):
    """Count set partitions of [n] into k non-empty blocks by labelling and dividing by k!."""
    if k == 0:
        return int(n == 0)
    onto = sum(1 for f in product(range(k), repeat=n) if len(set(f)) == k)
    return onto // sympy.factorial(k)


@pytest.mark.parametrize("n", range(0, 8))
def test_stirling_row_matches_brute_force_and_sympy(n):
    from sympy.functions.combinatorial.numbers import stirling

    row = B.stirling2_row(n)
    assert list(row) == [brute_stirling2(n, k) for k in range(n + 1)]
    assert list(row) == [int(stirling(n, k)) for k in range(n + 1)]


@given(st.integers(1, 300))
def test_log2_ceil_is_the_least_sufficient_bit_count(count):
    bits = B.log2_ceil(count)
    assert 2 ** bits >= count and (bits == 0 or 2 ** (bits - 1) < count)


@given(st.integers(0, 10 ** 6), st.integers(1, 64))
def test_lambda_min_is_least_dimension(bits, p):
    lam = B.lambda_min(bits, p)
    assert lam * p >= bits and (lam == 0 or (lam - 1) * p < bits)


@pytest.mark.parametrize("task", ["index", "ar", "cgram", "counting", "istree", "prop51"])
@pytest.mark.parametrize("n", [4, 6, 9, 12, 33])
def test_sympy_expressions_evaluate_to_the_integers(task, n):
    subs = {B.n: n, B.sigma: 2, B.c: 2, B.p: 32}
    assert int(B.rows_expr(task).subs(subs)) == B.hard_family_rows(task, n, 2, 2)
    assert int(B.bits_expr(task).subs(subs)) == B.bits(task, n, 2, 2)
    assert int(B.lambda_min_expr(task).subs(subs)) == B.lambda_min(B.bits(task, n, 2, 2), 32)


def test_paper_numbers():
    assert B.bits("index", 4096) == 4096 and B.lambda_min(4096, 32) == 128  # spec §3.2 example
    assert B.bits("ar", 10) == 5 and B.bits("cgram", 12, c_gram=3) == 4
    assert B.bits("istree", 1024) == 1021
    assert B.bits("index", 5, alphabet=3) == ceil(5 * log2(3))


@pytest.mark.parametrize("bad", [("istree", 3), ("ar", 1), ("index", 0), ("nope", 5)])
def test_bad_sizes_and_tasks_raise(bad):
    with pytest.raises(ValueError):
        B.bits(*bad)


def test_nonpositive_precision_raises():
    with pytest.raises(ValueError):
        B.lambda_min(10, 0)


def test_istree_split_rows_matches_partition_count_plus_cycle():
    # independent count: enumerate set partitions of [n] as restricted growth strings
    for n in range(2, 7):
        for j in range(n):
            blocks = j + 1
            rgs = sum(1 for f in product(range(n), repeat=n)
                      if all(f[i] <= max(f[:i], default=-1) + 1 for i in range(n)) and max(f) + 1 == blocks)
            assert B.istree_split_rows(n, j) == rgs + (1 if n - 1 - j >= 3 else 0)


def test_istree_split_expression_matches_integer():
    expr = B.istree_split_rows_expr()
    for n in range(2, 9):
        for j in range(n):
            assert int(expr.subs({B.n: n, B.j: j}).doit()) == B.istree_split_rows(n, j)


def test_star_bound_below_partition_bound_and_above_paper():
    for n in range(5, 40):
        for j in range(2, n):
            assert B.istree_star_rows(n, j) <= B.istree_split_rows(n, j)
        assert n - 3 <= B.istree_proven_bits(n) <= B.istree_exact_bits(n)
    assert B.istree_proven_bits(1024) > 6 * (1024 - 3)


def test_whole_domain_closed_forms_by_enumeration():
    for sigma in (2, 3):
        for i in range(6):
            prefixes = list(product(range(sigma), repeat=i))
            assert B.index_rows_split(i, sigma) == len(prefixes)
            assert B.counting_rows_split(i, sigma) == len({tuple(sorted(x)) for x in prefixes})
    i = sympy.Symbol("i", integer=True, nonnegative=True)
    assert B.counting_rows_split_expr().subs({i: 4, B.sigma: 3}) == 15


def test_kv_cache_bits():
    assert B.kv_cache_bits(10, 2, 3, 4, 8) == 2 * 2 * 3 * 4 * 10 * 8
    assert B.kv_cache_bits_expr().free_symbols  # a formula, not a constant
    assert B.input_length("istree", 5) == 14  # <s> + 4 edges * 3 + <sep>
    assert len(list(combinations(range(3), 2))) == 3
