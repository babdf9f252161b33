"""R_p (App. A.2): rounding properties, checked against the set's definition by brute force.

Exact arithmetic at any p is checked against Fraction arithmetic in tests/constructions/test_arithmetic.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import precisions, rp_numbers
from theory.precision import (FLOAT_P_MAX, P_MAX, check_p, exp_round, grid, is_representable, max_value,
                              round_floats, rp_round, top_int)


def definition_set(p: int) -> set[float]:
    """R_p straight from the paper: (2 b_p - 1) sum_{i=1}^{p-1} b_i 2^{(p-1)/2 - i}."""
    out = set()
    for bits in itertools.product((0, 1), repeat=p):
        mag = sum(b * 2.0 ** ((p - 1) / 2 - i) for i, b in enumerate(bits[:-1], start=1))
        out.add((2 * bits[-1] - 1) * mag)
    return out


@pytest.mark.parametrize("p", [3, 5, 7, 9])
def test_grid_is_the_papers_set(p):
    assert set(grid(p).tolist()) == definition_set(p)
    assert max(definition_set(p)) == max_value(p)


@pytest.mark.parametrize("p", [3, 5, 7])
def test_round_is_nearest_point(p):
    pts = np.array(sorted(definition_set(p)))
    for x in np.linspace(-max_value(p) - 1, max_value(p) + 1, 997):
        r = rp_round(x, p)
        assert r in pts
        assert abs(r - x) <= np.min(np.abs(pts - x)) + 1e-12


@given(rp_numbers())
def test_round_exact_on_representable(px):
    p, x = px
    assert rp_round(x, p) == x and is_representable(x, p)


@given(precisions(FLOAT_P_MAX), st.floats(-1e9, 1e9), st.floats(-1e9, 1e9))
def test_round_idempotent_monotone_in_range(p, a, b):
    ra, rb = rp_round(a, p), rp_round(b, p)
    assert rp_round(ra, p) == ra
    assert abs(ra) <= max_value(p)
    if a <= b:
        assert ra <= rb


@pytest.mark.parametrize("bad", [0, 1, 2, 4, -3, 257, 3.0, True, "7"])
def test_bad_p_is_rejected(bad):
    with pytest.raises(ValueError, match="precision p"):
        check_p(bad)


def test_float_p_max_is_exact_in_float64():
    q = (FLOAT_P_MAX - 1) // 2
    top = max_value(FLOAT_P_MAX)
    assert top - 2.0**-q != top and rp_round(top - 2.0**-q, FLOAT_P_MAX) == top - 2.0**-q
    with pytest.raises(ValueError, match="float64"):
        rp_round(1.0, FLOAT_P_MAX + 2)


@given(precisions(P_MAX), st.floats(allow_nan=False))
def test_float_rounding_agrees_at_every_p(p, x):
    """ROUND of a float at any p: the grid integer is rint(x 2^q), clipped (exact), and the float
    view agrees with it where it exists."""
    q = (p - 1) // 2
    k = int(round_floats([x], p)[0])
    assert abs(k) <= top_int(p)
    if abs(x) < 2.0 ** q:  # in range: |x 2^q - k| <= 1/2, and a tie went to the even k
        from fractions import Fraction
        err = Fraction(x) * 2**q - k
        assert abs(err) <= Fraction(1, 2) and (abs(err) < Fraction(1, 2) or k % 2 == 0)
    if p <= FLOAT_P_MAX:
        assert rp_round(x, p) == k / 2.0**q
    assert bool(is_representable(x, p)) == (np.isfinite(x) and k == x * 2.0**q)


def test_exp_examples():
    assert exp_round(0, 3) == 2  # exp(0) = 1 = 2 * 2^-1
    assert exp_round(-2, 3) == 1  # exp(-1) = 0.3679 -> nearest of {0, 0.5} is 0.5
    assert exp_round(-3, 3) == 0  # exp(-1.5) = 0.2231 < 0.25
    assert exp_round(1, 3) == 3  # exp(0.5) = 1.6487 > top 1.5: saturates


def test_nan_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        rp_round(float("nan"), 5)
