"""Closed forms in theory.bounds against brute force and independent definitions."""

from itertools import product
from math import comb, log2

import numpy as np
import pytest
import sympy
from hypothesis import given, strategies as st

from theory import bounds as B
from theory import hard_families as H


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


def test_single_stirling_number_and_fast_best_split_agree_with_the_row(monkeypatch):
    full = {m: B.istree_partition_best.__wrapped__(m) for m in (40, 300, 1000)}
    monkeypatch.setattr(B, "STIRLING_ROW_LIMIT", 10)  # force the one-k sum and the float-guided search
    for m in (40, 300):
        assert [B.stirling2(m, k) for k in range(0, m + 1, 7)] == [B.stirling2_row(m)[k] for k in range(0, m + 1, 7)]
    for m, best in full.items():
        assert B.istree_partition_best.__wrapped__(m) == best  # past the cache


@given(st.integers(1, 300))
def test_log2_ceil_is_the_least_sufficient_bit_count(count):
    bits = B.log2_ceil(count)
    assert 2 ** bits >= count and (bits == 0 or 2 ** (bits - 1) < count)


@given(st.integers(1, 2 ** 200), st.sampled_from([3, 5, 7, 9, 17, 31, 33]))
def test_lambda_min_counts_rp_values(rows, p):
    # the least Λ such that Λ numbers of R_p, 2^p - 1 values each, take at least `rows` values
    lam = B.lambda_min(rows, p)
    assert (2 ** p - 1) ** lam >= rows and (lam == 0 or (2 ** p - 1) ** (lam - 1) < rows)


def test_rp_convention_moves_lambda_where_2p_would_not():
    # N = 99 bits at p = 33: ceil(99/33) = 3 numbers would do with 2^33 values each, not with 2^33 - 1
    assert B.lambda_min(2 ** 99, 33) == 4
    assert B.lambda_min((2 ** 33 - 1) ** 3, 33) == 3 and B.lambda_min((2 ** 33 - 1) ** 3 + 1, 33) == 4
    assert B.rp_values(3) == 7                         # R_3 = {0, ±0.5, ±1, ±1.5}
    for bad in (32, 1, 2, 0, -3):
        with pytest.raises(ValueError):
            B.lambda_min(5, bad)


@given(st.floats(0, 5000), st.sampled_from([3, 17, 33, 65]))
def test_lambda_min_bits(bit_count, p):
    lam = B.lambda_min_bits(bit_count, p)
    assert lam * log2(2 ** p - 1) >= bit_count and (lam == 0 or (lam - 1) * log2(2 ** p - 1) < bit_count)


@given(st.integers(1, 5000), st.integers(0, 400))
def test_ceil_log2_power(base, exponent):
    assert B.ceil_log2_power(base, exponent) == B.log2_ceil(base ** exponent)


@pytest.mark.parametrize("task", ["index", "ar", "cgram", "counting", "istree", "prop51"])
@pytest.mark.parametrize("n", [4, 6, 9, 12, 33])
@pytest.mark.parametrize("sig", [2, 3])
def test_sympy_expressions_evaluate_to_the_integers(task, n, sig):
    if n < B.min_n(task) or (task == "istree" and sig != 2):
        return
    subs = {B.n: n, B.sigma: sig, B.c: 3, B.p: 33}
    assert int(B.rows_expr(task).subs(subs)) == B.hard_family_rows(task, n, sig, 3)
    assert int(B.bits_expr(task).subs(subs)) == B.bits(task, n, sig, 3)
    assert int(B.lambda_min_expr(task).subs(subs)) == B.lambda_min(B.hard_family_rows(task, n, sig, 3), 33)


@pytest.mark.parametrize("family,n,sigma", [("index", 6, 2), ("index", 4, 3), ("ar", 8, 2), ("ar", 9, 3),
                                            ("cgram", 9, 2), ("counting", 6, 2), ("counting", 7, 3),
                                            ("istree", 7, 2), ("prop51", 7, 2), ("prop51", 7, 3)])
def test_hard_family_rows_equal_the_enumerated_family(family, n, sigma):
    # the closed form against the instances themselves: distinct answer rows over Bob's suffixes
    assert H.check_family(family, n, sigma, 3).rows == B.hard_family_rows(family, n, sigma, 3)


def test_paper_numbers_by_independent_evaluation():
    # each closed form at large n through sympy (a separate code path) and the pinned values
    def via_sympy(task, n):
        return int(B.bits_expr(task).subs({B.n: n, B.sigma: 2, B.c: 3}))

    assert B.bits("index", 4096) == via_sympy("index", 4096) == 4096
    assert B.lambda_min(B.hard_family_rows("index", 4096), 33) == 125   # 4096 / log2(2^33 - 1) = 124.1...
    assert B.bits("prop51", 1024) == via_sympy("prop51", 1024) == 511    # with the AR oracle
    assert B.bits("counting", 1024) == via_sympy("counting", 1024) == 1023  # fixed length, filler n
    list_bits = int(sympy.ceiling(sympy.log(sympy.binomial(1024, 512), 2)))
    assert B.log2_ceil(B.counting_list_rows(1024)) == list_bits == 1019
    assert B.bits("istree", 1024) == via_sympy("istree", 1024) == 1021
    assert B.bits("index", 5, alphabet=3) == int(sympy.ceiling(5 * sympy.log(3, 2)))


def test_counting_list_rows_by_enumeration():
    # lists of one length m: C(n, m) of them, pairwise distinguishable by the query k in one, not the other
    for n in range(1, 9):
        by_length = {}
        for x in product((0, 1), repeat=n):
            by_length.setdefault(sum(x), set()).add(x)
        assert B.counting_list_rows(n) == max(len(v) for v in by_length.values()) == comb(n, n // 2)


@pytest.mark.parametrize("bad", [("istree", 3), ("ar", 1), ("index", 0), ("nope", 5), ("prop51", 2),
                                 ("index", B.N_MAX + 1)])
def test_bad_sizes_and_tasks_raise(bad):
    with pytest.raises(ValueError):
        B.bits(*bad)


def test_binary_entropy_values():
    assert B.binary_entropy(0.5) == 1.0 and B.binary_entropy(0) == 0.0
    assert B.binary_entropy(0.11) == pytest.approx(0.49992, abs=1e-4)


def min_average_error(n, states):
    """Brute force: the least average error over uniform (x, k) of any Index protocol with `states` messages."""
    xs = np.array(list(product((0, 1), repeat=n)))
    best = 1.0
    for f in product(range(states), repeat=len(xs) - 1):
        f = np.array((0,) + f)
        err = 0
        for s in range(states):
            block = xs[f == s]
            ones = block.sum(axis=0)
            err += np.minimum(ones, len(block) - ones).sum()  # Bob's best guess per (state, k): the majority
        best = min(best, err / (len(xs) * n))
    return best


@pytest.mark.parametrize("n,memory", [(2, 1), (3, 1), (3, 2)])
def test_error_bound_holds_for_every_small_protocol(n, memory):
    eps = min_average_error(n, 2 ** memory)
    assert B.index_error_bits(n, eps) <= memory
    assert 0 < eps < 0.5


def test_error_bound_shape():
    assert B.index_error_bits(1000, 0) == 1000 and B.index_error_bits(1000, 0.5) == 0
    assert B.index_error_bits(1000, 0.11) == pytest.approx(500, rel=1e-3)
    with pytest.raises(ValueError):
        B.index_error_bits(10, 1.0)


def brute_rows_split(answer, n, sigma, queries, i):
    """Distinct rows straight from the definition: a tuple per prefix, no reshaping, no theory.comm."""
    rows = set()
    for pre in product(range(1, sigma + 1), repeat=i):
        rows.add(tuple(answer(pre + suf, *q) for suf in product(range(1, sigma + 1), repeat=n - i) for q in queries))
    return len(rows)


@pytest.mark.parametrize("n,sigma", [(4, 2), (5, 2), (3, 3), (4, 3)])
def test_whole_domain_closed_forms_against_distinct_rows(n, sigma):
    def index(x, k):
        return x[k - 1]

    def counting(x, q, t):
        return int(sum(1 for v in x if v == q) > t)

    for i in range(n + 1):
        assert B.index_rows_split(i, sigma) == brute_rows_split(index, n, sigma, [(k,) for k in range(1, n + 1)], i)
        queries = [(q, t) for q in range(1, sigma + 1) for t in range(n + 1)]
        assert B.counting_rows_split(i, sigma) == brute_rows_split(counting, n, sigma, queries, i)
    i = sympy.Symbol("i", integer=True, nonnegative=True)
    assert B.counting_rows_split_expr().subs({i: 4, B.sigma: 3}) == 15


def test_istree_split_rows_matches_partition_count_plus_cycle():
    # independent count: enumerate set partitions of [n] as restricted growth strings
    for n in range(2, 7):
        for jj in range(n):
            blocks = jj + 1
            rgs = sum(1 for f in product(range(n), repeat=n)
                      if all(f[i] <= max(f[:i], default=-1) + 1 for i in range(n)) and max(f) + 1 == blocks)
            assert B.istree_split_rows(n, jj) == rgs + (1 if n - 1 - jj >= 3 else 0)


def test_istree_split_expression_matches_integer():
    expr = B.istree_split_rows_expr()
    for n in range(2, 9):
        for jj in range(n):
            assert int(expr.subs({B.n: n, B.j: jj}).doit()) == B.istree_split_rows(n, jj)


def test_istree_split_status():
    assert B.istree_split_status(100, 2) == B.PROVED and B.istree_split_status(100, 0) == B.PROVED
    assert B.istree_split_status(6, 1) == B.EXACT and B.istree_split_status(4, 1) == B.UPPER
    assert B.istree_split_status(9, 1) == B.CONJECTURED


def test_star_bound_below_partition_bound_and_above_paper():
    for n in range(5, 40):
        for jj in range(2, n):
            assert B.istree_star_rows(n, jj) <= B.istree_split_rows(n, jj)
        assert n - 3 <= B.istree_star_best(n)[1] <= B.istree_partition_bits(n)
    assert B.istree_star_best(1024)[1] == 6328 and B.istree_partition_bits(1024) == 6582


def test_star_best_is_the_best_k():
    for n in range(5, 120):
        assert B.istree_star_best(n)[1] == max(B.log2_ceil(k ** (n - k)) for k in range(3, n))


def test_every_bound_is_labelled_proved_and_the_strongest_is_one_of_them():
    for task in B.TASKS:
        for n in (8, 100, 1024):
            bounds = B.task_bounds(task, n, eps=0.1 if task == "index" else None)
            assert {b.status for b in bounds} == {B.PROVED}
            assert B.strongest(bounds) in bounds and not B.strongest(bounds).name.startswith("average")
