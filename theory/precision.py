"""The paper's p-bit numbers R_p (App. A.2; spec §1.1).

``R_p = {(2 b_p - 1) * sum_{i=1}^{p-1} b_i 2^{(p-1)/2 - i}}``: one sign bit and p - 1 magnitude bits,
so R_p is a *fixed-point* grid: every multiple of ``2^-q`` with magnitude at most
``2^q - 2^-q``, where ``q = (p - 1) / 2``. p must be odd (the paper assumes it) and at least 3.

``ROUND(x, p)`` rounds to the nearest grid point (ties to even, numpy's ``rint``) and saturates at the
range. A grid point ``k 2^-q`` has ``|k| < 2^(2q) = 2^(p-1)``, so float64 (53-bit significand) holds
every point of R_p exactly while ``p <= 53``; :func:`check_p` enforces that bound.

What the emulation in :mod:`constructions.runtime.arithmetic` guarantees: sums, differences and
rounding are exact; a product or an ``exp`` is first computed in float64 and then rounded to the
grid, which equals exact R_p arithmetic except when the exact result lies within 2^-53 (relative) of
a rounding midpoint (double rounding). This limit is stated wherever R_p results are reported.
"""

from __future__ import annotations

import numpy as np

P_MAX = 53  # 2q = p - 1 <= 52 significant bits: every grid point and every rounding is exact in float64


def check_p(p) -> int:
    """Validate a precision: an odd integer with 3 <= p <= P_MAX."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise ValueError(f"precision p must be an odd integer, got {p!r}")
    p = int(p)
    if p < 3 or p % 2 == 0:
        raise ValueError(f"precision p must be an odd integer >= 3, got {p}")
    if p > P_MAX:
        raise ValueError(f"precision p = {p} exceeds {P_MAX}: R_p could no longer be emulated exactly in float64")
    return p


def frac_bits(p: int) -> int:
    """q = (p - 1) / 2: the grid step is 2^-q."""
    return (check_p(p) - 1) // 2


def max_value(p: int) -> float:
    """The largest element of R_p: 2^q - 2^-q."""
    q = frac_bits(p)
    return 2.0**q - 2.0**-q


def rp_round(x, p: int) -> np.ndarray:
    """ROUND(x, p): nearest point of R_p (ties to even), saturating at +-max_value(p). NaN is an error."""
    q = frac_bits(p)
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise ValueError("cannot round NaN to R_p")
    scale = 2.0**q
    top = max_value(p)
    return np.clip(np.rint(np.clip(x, -2 * top, 2 * top) * scale) / scale, -top, top)


def is_representable(x, p: int) -> np.ndarray:
    """Whether each x is an element of R_p."""
    x = np.asarray(x, dtype=float)
    return np.isfinite(x) & (rp_round(np.where(np.isfinite(x), x, 0.0), p) == x)


def grid(p: int) -> np.ndarray:
    """Every element of R_p in increasing order (only for small p: 2^p - 1 values)."""
    q = frac_bits(p)
    if p > 21:
        raise ValueError(f"refusing to list 2^{p} grid points; use is_representable instead")
    k = np.arange(-(2 ** (2 * q) - 1), 2 ** (2 * q))
    return k / 2.0**q


def bits_needed(values) -> dict[str, int | None]:
    """Integer and fractional bits to hold every value exactly (fractional None if not dyadic within 52 bits)."""
    v = np.abs(np.asarray(values, dtype=float).ravel())
    v = v[v != 0]
    if v.size == 0:
        return {"integer_bits": 0, "fraction_bits": 0}
    integer_bits = int(np.ceil(np.log2(np.floor(v.max()) + 1))) if v.max() >= 1 else 0
    fraction = None
    for f in range(0, 53):
        if np.all(np.floor(v * 2.0**f) == v * 2.0**f):
            fraction = f
            break
    return {"integer_bits": integer_bits, "fraction_bits": fraction}


def smallest_p_for(values) -> int | None:
    """The smallest odd p whose grid holds every value exactly, or None if none up to P_MAX does."""
    need = bits_needed(values)
    if need["fraction_bits"] is None:
        return None
    q = max(need["integer_bits"], need["fraction_bits"], 1)
    # the top of the range is 2^q - 2^-q, so an integer part of exactly 2^q - 1 fits when q bits are there
    p = 2 * q + 1
    return p if p <= P_MAX else None
