"""The paper's p-bit numbers R_p (App. A.2) and their exact rounding, for any odd p up to P_MAX.

``R_p = {(2 b_p - 1) * sum_{i=1}^{p-1} b_i 2^{(p-1)/2 - i}}``: one sign bit and p - 1 magnitude bits,
so R_p is a *fixed-point* grid: every ``k 2^-q`` with ``|k| <= 2^(2q) - 1 = top_int(p)``, where
``q = (p - 1) / 2``. p must be odd (the paper assumes it) and at least 3. An element of R_p is held
exactly as its integer ``k`` (a Python int, any size): "scaled by 2^q".

``ROUND(x, p)`` is the nearest grid point, ties to the even ``k``, saturating at ``+-top`` (see
docs/precision.md for why). Everything here rounds *exact* values: a rational given as integers
(:func:`round_ratio`, :func:`round_shift`) or ``exp`` of a grid point (:func:`exp_round`), whose
rounding is decided with integer interval bounds, never with a float.

The float helpers (:func:`rp_round`, :func:`max_value`, :func:`grid`, ...) hold grid points as
float64, which is exact only while ``p <= FLOAT_P_MAX = 53`` (``|k| < 2^52``); they refuse larger p.
"""

from __future__ import annotations

import numpy as np

P_MAX = 255  # the largest p supported; exact arithmetic works for any odd p, this only bounds the cost
FLOAT_P_MAX = 53  # 2q = p - 1 <= 52: every grid point k 2^-q is exact in float64 (53-bit significand)


def check_p(p) -> int:
    """Validate a precision: an odd integer with 3 <= p <= P_MAX."""
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
        raise ValueError(f"precision p must be an odd integer, got {p!r}")
    p = int(p)
    if p < 3 or p % 2 == 0:
        raise ValueError(f"precision p must be an odd integer >= 3, got {p}")
    if p > P_MAX:
        raise ValueError(f"precision p = {p} exceeds {P_MAX}, the largest supported")
    return p


def frac_bits(p: int) -> int:
    """q = (p - 1) / 2: the grid step is 2^-q."""
    return (check_p(p) - 1) // 2


def top_int(p: int) -> int:
    """The largest grid integer: R_p's top element is ``top_int(p) * 2^-q = 2^q - 2^-q``."""
    return 2 ** (2 * frac_bits(p)) - 1


# -- exact rounding of rationals ---------------------------------------------------------------------
def round_ratio(num: int, den: int, p: int) -> int:
    """ROUND(num / den, p) as a grid integer k (value k 2^-q): nearest, ties to even k, saturating.

    The value num/den lies at ``num 2^q / den`` grid steps; floor division gives the integer below
    and the remainder decides: above half rounds up, exactly half rounds to the even neighbour.
    """
    if den <= 0:
        raise ValueError("round_ratio needs a positive denominator")
    q = frac_bits(p)
    k, rem = divmod(num << q, den)  # num 2^q = k den + rem, 0 <= rem < den
    if 2 * rem > den or (2 * rem == den and k % 2 == 1):
        k += 1
    top = top_int(p)
    return max(-top, min(top, k))


def round_shift(n, s: int, top: int):
    """Nearest integer to ``n 2^-s`` (ties to even), clipped to ``[-top, top]``; n an int or an object array.

    ``(n + 2^(s-1)) >> s`` is floor(n 2^-s + 1/2), i.e. round-half-up; it differs from ties-to-even
    exactly when n 2^-s is a tie (the shifted-out bits of n + 2^(s-1) are all zero) with an odd
    result, and then the even neighbour is one below.
    """
    if s == 0:
        k = n
    else:
        m = n + (1 << (s - 1))
        k = m >> s
        tie_odd = ((m & ((1 << s) - 1)) == 0) & ((k & 1) == 1)
        if isinstance(k, np.ndarray):
            k[tie_odd] -= 1  # k is a fresh array
        elif tie_odd:
            k -= 1
    if isinstance(k, np.ndarray):
        return np.minimum(np.maximum(k, -top), top)
    return max(-top, min(top, k))


def float_ints(k: np.ndarray) -> np.ndarray:
    """Integer-valued float64 array -> object array of the same Python ints (exact at any size)."""
    k = np.asarray(k, dtype=float)
    if k.size == 0 or np.abs(k).max() < 2.0**63:
        return k.astype(np.int64).astype(object)
    m, e = np.frexp(k)  # k = m 2^e with 53-bit m in [0.5, 1): m 2^53 is an exact int64
    mant = (m * 2.0**53).astype(np.int64).astype(object)
    up = np.maximum(e - 53, 0).astype(object)
    down = np.maximum(53 - e, 0).astype(object)  # k is an integer, so the bits shifted out are zero
    return (mant << up) >> down


def round_floats(x, p: int) -> np.ndarray:
    """ROUND(x, p) of float64 values, as grid integers k in an object array (exact for every p).

    ``x 2^q`` is exact (a power-of-two scaling; clipping to +-2^(q+1) first keeps it finite and
    already beyond the range), and ``rint`` rounds half to even exactly.
    """
    q, top = frac_bits(p), top_int(p)
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise ValueError("cannot round NaN to R_p")
    k = float_ints(np.rint(np.clip(x, -(2.0 ** (q + 1)), 2.0 ** (q + 1)) * 2.0**q))
    return np.minimum(np.maximum(k, -top), top)


# -- exp, correctly rounded ---------------------------------------------------------------------------
LN2_ABOVE = (6931471805599454, 10**16)  # 0.6931471805599454 > ln 2 = 0.69314718055994530941...


def _exp_bounds(a: int, s: int, w: int) -> tuple[int, int]:
    """Integers lo <= exp(a 2^-s) 2^w <= hi, for a >= 0.

    Range reduction: y = a 2^-(s+r) <= 1/2, exp = exp(y)^(2^r). Taylor terms c_k = floor(c_{k-1} y / k)
    are lower bounds of the true terms t_k, and t_k - c_k <= (t_{k-1} - c_{k-1}) y / k + 1 < 2. The
    loop stops at the first c_K = 0, so t_K < 2 and the tail sum_{k>=K} t_k <= 2 t_K < 4 (ratio <= 1/2).
    Hence sum c_k <= exp(y) 2^g <= sum c_k + 2K + 4. Squaring floors lo and ceils hi.
    """
    r = max(0, a.bit_length() - s + 1)
    g = w + r + 16  # guard bits for the r squarings
    c = total = 1 << g
    k = 0
    while c:
        k += 1
        c = (c * a) // (k << (s + r))
        total += c
    lo, hi = total, total + 2 * k + 4
    for _ in range(r):
        lo, hi = (lo * lo) >> g, -((-hi * hi) >> g)
    return lo >> (g - w), -((-hi) >> (g - w))


def _nearest(num: int, den: int) -> int:
    """floor(num / den + 1/2)."""
    return (2 * num + den) // (2 * den)


def exp_round(d: int, p: int) -> int:
    """ROUND(exp(d 2^-q), p) as a grid integer: exp of the R_p number with grid integer d.

    exp(x) is irrational for rational x != 0 (Lindemann), so it is never a rounding tie and the
    nearest grid point is well defined; it is decided by integer bounds (:func:`_exp_bounds`) at a
    growing working precision until both bounds round to the same grid point (they must, eventually).
    Far out, without bounds: exp(x) < 2^-(q+1) (half a step: rounds to 0) once x < -(q+1) ln 2,
    and exp(x) > 2^q > top (saturates) once x > q ln 2; both are tested with a rational above ln 2.
    """
    q, top = frac_bits(p), top_int(p)
    d = int(d)
    if d == 0:
        return 1 << q
    a = abs(d)
    num, den = LN2_ABOVE
    if d < 0 and a * den > (q + 1) * num << q:
        return 0
    if d > 0 and a * den > q * num << q:
        return top
    w = 2 * q + 32
    while True:
        lo, hi = _exp_bounds(a, q, w)
        if d < 0:  # exp(-a) 2^q lies in [2^(q+w) / hi, 2^(q+w) / lo]
            k_lo, k_hi = _nearest(1 << (q + w), hi), _nearest(1 << (q + w), lo)
        else:  # exp(a) 2^q lies in [lo 2^q / 2^w, hi 2^q / 2^w]
            k_lo, k_hi = _nearest(lo << q, 1 << w), _nearest(hi << q, 1 << w)
        if k_lo == k_hi:
            return min(k_lo, top)
        w *= 2


# -- float64 views (exact only for p <= FLOAT_P_MAX) --------------------------------------------------
def _check_float_p(p: int) -> int:
    p = check_p(p)
    if p > FLOAT_P_MAX:
        raise ValueError(f"p = {p} > {FLOAT_P_MAX}: R_p points are not all float64 numbers; use grid integers")
    return p


def max_value(p: int) -> float:
    """The largest element of R_p, 2^q - 2^-q, as a float (p <= FLOAT_P_MAX)."""
    q = frac_bits(_check_float_p(p))
    return 2.0**q - 2.0**-q


def rp_round(x, p: int) -> np.ndarray:
    """ROUND(x, p) as float64 (p <= FLOAT_P_MAX, where that is exact): nearest, ties to even, saturating."""
    q = frac_bits(_check_float_p(p))
    x = np.asarray(x, dtype=float)
    if np.isnan(x).any():
        raise ValueError("cannot round NaN to R_p")
    scale = 2.0**q
    top = max_value(p)
    return np.clip(np.rint(np.clip(x, -2 * top, 2 * top) * scale) / scale, -top, top)


def is_representable(x, p: int) -> np.ndarray:
    """Whether each float x is an element of R_p (any p): k = x 2^q is an integer with |k| < 2^(2q)."""
    q = frac_bits(p)
    x = np.asarray(x, dtype=float)
    k = np.where(np.isfinite(x), x, 0.5) * 2.0**q  # exact: a power-of-two scaling
    return np.isfinite(x) & (k == np.floor(k)) & (np.abs(k) < 2.0 ** (2 * q))


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
