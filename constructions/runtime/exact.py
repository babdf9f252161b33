"""Exact R_p arithmetic on whole arrays (App. A.2; the rules are in docs/precision.md).

An R_p array is held as its *grid integers* k (value k 2^-q): an ``int64`` array while p <= 53
(|k| < 2^52, and sums of two fit), otherwise an ``object`` array of Python ints. Every operation
returns exactly what the sequential definition gives (round each product, then each partial sum
left to right, saturating); the *reference* loops below are that definition. Two shortcuts are taken
only where a bound proves they give the same integers (``fast=True``):

* **float64 BLAS** (:meth:`Grid._blas`) for a matrix product whose operands carry few fraction bits
  and small magnitudes: then no product needs rounding, no prefix saturates, and every product and
  partial sum is an integer below 2^53, which float64 holds exactly in any summation order.
* **machine integers** (``int64``) for p <= 53, and for an elementwise product whose operands'
  bound keeps it below 2^62.

Attention (:meth:`Grid.attend`) uses that an exp rounds to 0 below -(q+1) ln 2, so only the few
"live" keys near each column maximum get an exp (one per distinct value), a division and a product.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from theory.precision import (FLOAT_P_MAX, check_p, exp_round, float_ints, frac_bits, round_floats,
                              round_ratio, round_shift, top_int)

class Value(Fraction):
    """An exact R_p value handed out above 53 bits: a Fraction that also takes float format specs
    (``f"{v:.6g}"``), which Fraction itself accepts only from Python 3.12 on."""

    def __format__(self, spec: str) -> str:
        return format(float(self), spec) if spec else str(self)


LIVE_LN2 = 0.7  # > ln 2 by far more than float error: exp(x) < 2^-(q+1) (rounds to 0) once x < -(q+1) 0.7


def _tz(v: int) -> int:
    """Trailing zero bits of a nonzero int (also for negative ints: -v has the same)."""
    return (v & -v).bit_length() - 1


class Grid:
    """R_p for one odd p, on grid-integer arrays; ``fast=False`` runs only the reference loops in Python ints."""

    def __init__(self, p: int, fast: bool = True):
        self.p, self.q, self.top, self.fast = check_p(p), frac_bits(p), top_int(p), fast
        self.dtype = np.int64 if fast and p <= FLOAT_P_MAX else object
        self.pad = -self.top - 1  # below every element of R_p: marks a logit that is not a token

    # -- conversion ---------------------------------------------------------------------------------
    def from_floats(self, x) -> np.ndarray:
        """ROUND of float64 values (weights, embeddings)."""
        return round_floats(x, self.p).astype(self.dtype)

    def from_values(self, x) -> np.ndarray:
        """Grid integers of public values: floats are rounded; an object array may hold ints (grid
        integers already), Fractions or floats (each rounded exactly)."""
        x = np.asarray(x)
        if x.dtype != object:
            return self.from_floats(x)

        def one(v):
            if isinstance(v, (int, np.integer)):
                return int(v)
            f = Fraction(v)
            return round_ratio(f.numerator, f.denominator, self.p)

        return np.frompyfunc(one, 1, 1)(x).astype(object).astype(self.dtype)

    def to_values(self, k: np.ndarray) -> np.ndarray:
        """Public values: float64 while exact (p <= 53), else :class:`Value` Fractions; ``pad`` becomes -inf."""
        k = np.asarray(k)
        if self.p <= FLOAT_P_MAX:
            v = k.astype(float) * 2.0**-self.q
            v[k == self.pad] = -np.inf
            return v
        den = 1 << self.q
        return np.frompyfunc(lambda v: float("-inf") if v == self.pad else Value(v, den), 1, 1)(k)

    def zeros(self, shape) -> np.ndarray:
        return np.zeros(shape, dtype=self.dtype)

    # -- elementwise --------------------------------------------------------------------------------
    def saturate(self, n: np.ndarray) -> np.ndarray:
        return np.minimum(np.maximum(n, -self.top), self.top)

    def add(self, a, b) -> np.ndarray:
        """ROUND(a + b): the sum of two grid values is on the grid, only saturation can change it."""
        return self.saturate(a + b)

    def mul(self, a, b) -> np.ndarray:
        """ROUND(a * b): k_a k_b 2^-2q rounds to round(k_a k_b 2^-q)."""
        if self.dtype is np.int64 and a.size and b.size and \
                float(np.abs(a).max()) * float(np.abs(b).max()) < 2.0**62:
            return round_shift(a * b, self.q, self.top)  # the int64 product is exact below 2^63
        out = round_shift(np.asarray(a).astype(object) * np.asarray(b).astype(object), self.q, self.top)
        return out.astype(self.dtype)

    def relu(self, a) -> np.ndarray:
        return np.maximum(a, 0)

    # -- matrix products ------------------------------------------------------------------------------
    def matmul(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``x @ w``, x: (..., k), w: (k, m) or a batch (..., k, m): round each product, then each
        partial sum left to right, saturating."""
        if self.fast:
            out = self._blas(x, w)
            if out is not None:
                return out
        return self._matmul_reference(x, w).astype(self.dtype)

    def _matmul_reference(self, x, w) -> np.ndarray:
        """The sequential rule. In int64 instead of Python ints when every product fits (|x| |w| < 2^62;
        partial sums are saturated, so they stay below 2^53): the same integers, an order of magnitude
        faster (``fast`` only; ``fast=False`` keeps Python ints as the reference the tests compare with)."""
        x, w = np.asarray(x), np.asarray(w)
        small = (self.fast and self.dtype is np.int64 and x.size and w.size
                 and float(np.abs(x).max()) * float(np.abs(w).max()) < 2.0**62)
        kind = np.int64 if small else object
        x, w = x.astype(kind), w.astype(kind)
        mask = (1 << self.q) - 1
        acc = np.zeros(np.broadcast_shapes(x.shape[:-1] + (1,), w.shape[:-2] + (1, w.shape[-1])), dtype=kind)
        for j in range(x.shape[-1]):
            wj = w[..., j:j + 1, :]
            if not wj.any():
                continue  # every product is 0 and s + 0 = s: the partial sums are unchanged
            if not (wj & mask).any():  # integer weights: the product is on the grid, only saturation applies
                prod = self.saturate(x[..., j:j + 1] * (wj >> self.q))
            else:
                prod = round_shift(x[..., j:j + 1] * wj, self.q, self.top)
            acc = self.saturate(acc + prod)
        return acc

    def _ints_for_float(self, k: np.ndarray):
        """(k 2^-(q-f) as float64, f) with f the fraction bits k needs, if every entry is below 2^53."""
        if k.size == 0:
            return k.astype(float), 0
        bits = int(np.bitwise_or.reduce(k.ravel()))
        f = 0 if bits == 0 else max(0, self.q - _tz(bits))
        shifted = k >> (self.q - f)  # exact: the shifted-out bits are zero
        if max(int(shifted.max()), -int(shifted.min())) >= 2**53:
            return None
        return shifted.astype(float), f

    def _blas_plan(self, x, w, limit: int = 2**53):
        """(a, b, fx + fw) with x = a 2^-fx, w = b 2^-fw as float64, when ``a @ b`` is provably exact; else None.

        With fx + fw <= q each product a b 2^-(fx+fw) is on the grid (no rounding). ``bound`` =
        sum_j max|a_j| max|b_j| bounds every partial sum (in any order, with or without FMA) in units
        2^-(fx+fw): below ``limit`` <= 2^53 float64 holds them all exactly, and bound 2^(q-fx-fw) <= top
        means no prefix saturates. So the float result equals the sequential R_p result.
        """
        xa, wa = self._ints_for_float(x), self._ints_for_float(w)
        if xa is None or wa is None or xa[1] + wa[1] > self.q:
            return None
        (xf, fx), (wf, fw) = xa, wa
        bound = 0
        if xf.size and wf.size:
            xmax = np.abs(xf).reshape(-1, xf.shape[-1]).max(axis=0)
            wmax = np.abs(np.swapaxes(wf, -1, -2)).reshape(-1, wf.shape[-2]).max(axis=0)
            bound = sum(int(a) * int(b) for a, b in zip(xmax, wmax))
        if bound >= limit or bound << (self.q - fx - fw) > self.top:
            return None
        return xf, wf, fx + fw

    def _blas(self, x, w):
        """float64 ``x @ w`` as grid integers when :meth:`_blas_plan` proves it exact; else None."""
        plan = self._blas_plan(x, w)
        if plan is None:
            return None
        xf, wf, f = plan
        r = xf @ wf
        out = float_ints(r) if self.dtype is object else r.astype(np.int64)
        return out << (self.q - f)

    # -- attention ----------------------------------------------------------------------------------
    def attend(self, q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: np.ndarray, keep_weights: bool = False):
        """One head: scores q k^T, column softmax over the causal keys, weighted sum of v.

        q, k: (B, L, h); v: (B, L, m); causal[i, j]: key j visible to query i. Returns (B, L, m) and,
        if asked, the dense weights (B, L, L).
        """
        scores, s = self._scores(q, k)
        b, i, j, w = self._softmax(scores, s, causal)
        out = self._weighted_sum(b, i, j, w, v)
        if not keep_weights:
            return out, None
        dense = np.zeros(scores.shape, dtype=object)
        dense[b, i, j] = w
        return out, dense.astype(self.dtype)

    def _scores(self, q, k):
        """(S, s): the R_p scores are S 2^-s. The float path keeps S as exact integer-valued floats
        below 2^52, so that S - max S is exact too; otherwise grid integers (s = q)."""
        kt = np.swapaxes(k, -1, -2)
        plan = self._blas_plan(q, kt, limit=2**52) if self.fast else None
        if plan is not None:
            return plan[0] @ plan[1], plan[2]
        return self._matmul_reference(q, kt), self.q

    def _softmax(self, scores, s: int, causal):
        """Sparse column softmax: (b, i, j, w) for the keys with a nonzero weight, sorted by (b, i, j).

        d = ROUND(S - max) <= 0 over the visible keys; e = ROUND(exp d) is 0 unless d >= -(q+1) ln 2,
        so only those "live" keys get an exp (once per distinct d). The total is the saturating sum
        of e left to right; as every e >= 0 the prefix sums never decrease, so it is min(sum e, top).
        Each weight is ROUND(e / total), one rounding of the exact quotient. Masked keys take no part.
        """
        masked = np.where(causal, scores, -np.inf)
        d = masked - masked.max(axis=-1, keepdims=True)
        cut = (self.q + 1) * LIVE_LN2 * 2.0**s
        live = d >= (-cut if d.dtype != object else -int(cut))
        b, i, j = np.nonzero(live)
        dl = d[b, i, j]
        dl = float_ints(dl) << (self.q - s) if dl.dtype != object else dl.astype(object)
        dl = np.maximum(dl, -self.top)  # saturation of S - max; such a d has exp rounding to 0 anyway
        values, inverse = np.unique(dl, return_inverse=True)
        e = np.array([exp_round(int(u), self.p) for u in values], dtype=object)[inverse.ravel()]
        starts = np.flatnonzero(np.r_[True, (b[1:] != b[:-1]) | (i[1:] != i[:-1])])
        total = np.minimum(np.add.reduceat(e, starts), self.top)
        total = np.repeat(total, np.diff(np.r_[starts, len(e)]))
        num = e << self.q
        quo = num // total
        rem = num - quo * total  # e / total = (quo + rem / total) 2^-q, 0 <= rem < total
        up = (2 * rem > total) | ((2 * rem == total) & (quo & 1 == 1))  # nearest, ties to even
        quo[up] += 1
        return b, i, j, self.saturate(quo)

    def _weighted_sum(self, b, i, j, w, v) -> np.ndarray:
        """out[b, i] = sum over the live keys j (in order) of ROUND(w v[b, j]), saturating partial sums.

        Keys with weight 0 contribute products 0, which leave partial sums unchanged. When the
        absolute products of a column sum to at most top, no prefix can saturate and the exact
        segment sum is the answer; the other columns take the sequential loop.
        """
        mask = (1 << self.q) - 1
        vl = v[b, j].astype(object)
        if not (vl & mask).any():  # integer values: w v is on the grid
            prod = self.saturate(w[:, None] * (vl >> self.q))
        else:
            prod = round_shift(w[:, None] * vl, self.q, self.top)
        out = np.zeros(v.shape[:2] + (v.shape[2],), dtype=object)
        if len(w) == 0:
            return out.astype(self.dtype)
        starts = np.flatnonzero(np.r_[True, (b[1:] != b[:-1]) | (i[1:] != i[:-1])])
        sums = np.add.reduceat(prod, starts, axis=0)
        risky = np.flatnonzero((np.add.reduceat(np.abs(prod), starts, axis=0) > self.top).any(axis=1))
        ends = np.r_[starts[1:], len(w)]
        for r in risky:
            acc = np.zeros(v.shape[2], dtype=object)
            for t in range(starts[r], ends[r]):
                acc = self.saturate(acc + prod[t])
            sums[r] = acc
        out[b[starts], i[starts]] = sums
        return out.astype(self.dtype)
