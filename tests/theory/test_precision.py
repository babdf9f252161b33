"""R_p (App. A.2): rounding properties, checked against the set's definition by brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import precisions, rp_numbers
from theory.precision import P_MAX, check_p, grid, is_representable, max_value, rp_round


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


@given(precisions(), st.floats(-1e9, 1e9), st.floats(-1e9, 1e9))
def test_round_idempotent_monotone_in_range(p, a, b):
    ra, rb = rp_round(a, p), rp_round(b, p)
    assert rp_round(ra, p) == ra
    assert abs(ra) <= max_value(p)
    if a <= b:
        assert ra <= rb


@pytest.mark.parametrize("bad", [0, 1, 2, 4, -3, 55, 3.0, True, "7"])
def test_bad_p_is_rejected(bad):
    with pytest.raises(ValueError, match="precision p"):
        check_p(bad)


def test_p_max_is_exact_in_float64():
    q = (P_MAX - 1) // 2
    top = max_value(P_MAX)
    assert top - 2.0**-q != top and rp_round(top - 2.0**-q, P_MAX) == top - 2.0**-q


def test_nan_is_an_error():
    with pytest.raises(ValueError, match="NaN"):
        rp_round(float("nan"), 5)
