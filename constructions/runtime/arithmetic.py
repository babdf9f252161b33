"""Arithmetic modes of the runtime: ``float64``, ``hard`` and ``Rp(p)``.

* ``float64``: IEEE double everywhere; attention is the ordinary softmax.
* ``hard``: float64, but each attention column is the uniform average over the keys whose score
  equals the column maximum exactly (the limit the constructions aim at, Sec 3).
* ``Rp(p)``: the paper's p-bit fixed point (App. A.2), exactly, for any odd p <= P_MAX. Weights and
  embeddings are rounded to R_p, and the result of every operation is rounded: each product, each
  partial sum of a matrix product (left to right), each residual addition, each exp, the softmax
  sum and the division. docs/precision.md states every rule; :mod:`constructions.runtime.exact`
  implements them on grid integers.

Values in and out. The public methods (``round``, ``matmul``, ``bmm``, ``attention_weights``) and
the models' ``forward``/``logits`` take and return *values*: float64 while p <= 53 (every point of
R_p is a float64 then), object arrays of ``Fraction`` above. Inside, the forward passes work on grid
integers through :meth:`Mode.raw`, whose methods take and return grid integers (``load`` turns
float parameters into them, ``store`` turns them back into values); for float64 and hard, ``raw``
is the mode itself and ``load``/``store`` do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from constructions.runtime.exact import Grid
from theory.precision import check_p


@dataclass(frozen=True)
class Mode:
    name: str  # "float64" | "hard" | "rp"
    p: int | None = None
    fast: bool = True  # rp only: False runs the reference loops of exact.py alone (for tests)
    grid_values: bool = field(default=False, compare=False)  # rp only: methods speak grid integers

    def __post_init__(self) -> None:
        if self.name not in ("float64", "hard", "rp"):
            raise ValueError(f"unknown arithmetic mode {self.name!r} (float64, hard or rp)")
        if self.name == "rp":
            check_p(self.p)
        elif self.p is not None:
            raise ValueError(f"--p only applies to mode rp, not {self.name}")

    def __str__(self) -> str:
        return f"rp(p={self.p})" if self.name == "rp" else self.name

    @property
    def exact_rounding(self) -> bool:
        return self.name == "rp"

    @cached_property
    def grid(self) -> Grid:
        return Grid(self.p, self.fast)

    # -- values <-> grid integers --------------------------------------------------------------------
    def raw(self) -> Mode:
        """The same arithmetic on grid integers (what the forward passes use inside)."""
        if self.name != "rp" or self.grid_values:
            return self
        return Mode("rp", self.p, self.fast, grid_values=True)

    def load(self, x) -> np.ndarray:
        """Parameters or values -> this mode's working numbers (rp: ROUND to grid integers)."""
        if self.name != "rp":
            return x
        return self.grid.from_values(x)

    def store(self, k) -> np.ndarray:
        """Working numbers -> values (the inverse of :meth:`load` on R_p)."""
        if self.name != "rp" or self.grid_values:
            return k
        return self.grid.to_values(k)

    def zeros(self, shape) -> np.ndarray:
        return self.grid.zeros(shape) if self.name == "rp" else np.zeros(shape)

    @property
    def pad(self):
        """The logit of a non-token (padding id 0): -inf, or below every R_p number on grid integers."""
        return self.grid.pad if self.name == "rp" and self.grid_values else -np.inf

    # -- the operations --------------------------------------------------------------------------------
    def _run(self, op: str, *args):
        """rp: the Grid operation, on grid integers directly or between load and store."""
        if self.grid_values:
            return getattr(self.grid, op)(*args)
        return self.store(getattr(self.grid, op)(*(self.load(a) for a in args)))

    def round(self, x: np.ndarray) -> np.ndarray:
        """ROUND(x, p) of values (float64 and hard: unchanged); on grid integers, float x -> grid integers."""
        if self.name != "rp":
            return x
        return self.load(x) if self.grid_values else self.store(self.load(x))

    def add(self, a, b) -> np.ndarray:
        """ROUND(a + b)."""
        return a + b if self.name != "rp" else self._run("add", a, b)

    def mul(self, a, b) -> np.ndarray:
        """ROUND(a * b), elementwise."""
        return a * b if self.name != "rp" else self._run("mul", a, b)

    def relu(self, a) -> np.ndarray:
        return np.maximum(a, 0.0) if self.name != "rp" else self._run("relu", a)

    def matmul(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``x @ w`` (x: (..., k), w: (k, m)); in R_p every product and partial sum is rounded."""
        return x @ w if self.name != "rp" else self._run("matmul", x, w)

    def bmm(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Batched ``a @ b`` (a: (B, n, k), b: (B, k, m)) with the same rounding rule."""
        return a @ b if self.name != "rp" else self._run("matmul", a, b)

    def attention_weights(self, scores: np.ndarray, causal: np.ndarray) -> np.ndarray:
        """Column-wise attention weights: ``scores[b, k, k']`` for query k and key k'.

        ``causal[k, k']`` is True where key k' may be attended (k' <= k).
        """
        if self.name == "float64":
            return _softmax_float64(scores + np.where(causal, 0.0, -np.inf))
        if self.name == "hard":
            masked = np.where(causal, scores, -np.inf)
            hit = masked == masked.max(axis=-1, keepdims=True)
            return hit / hit.sum(axis=-1, keepdims=True)
        g = self.grid
        s = scores if self.grid_values else self.load(scores)
        b, i, j, w = g._softmax(s.astype(object), g.q, causal)
        dense = np.zeros(s.shape, dtype=object)
        dense[b, i, j] = w
        return self.store(dense.astype(g.dtype))

    def attend(self, q, k, v, causal, keep_weights: bool = False):
        """One head's output ``softmax_col(q k^T + C) v`` (B, R, m) and, if asked, its weights (B, R, L).

        q: (B, R, h) for the last R query positions, k: (B, L, h), v: (B, L, m), causal: (R, L).
        float64 and hard: when every sequence of the batch has the same queries and keys (a head that
        reads positions only), the weights are computed once for the batch.
        """
        if self.name == "rp":
            out, w = self.grid.attend(*(x if self.grid_values else self.load(x) for x in (q, k, v)), causal,
                                      keep_weights)
            out = out[:, : q.shape[1]]  # the grid fills the rows of the R queries
            return self.store(out), (None if w is None else self.store(w))
        if q.shape[0] > 1 and _same_rows(q) and _same_rows(k):
            # One softmax for the batch. The product stays one (R, L) @ (L, m) per sequence, the
            # shape it has without sharing: BLAS may order a product's sums by its shape.
            w = self._weights(q[:1], k[:1], causal)
            out = self.bmm(w, v)
            return out, (np.broadcast_to(w, (q.shape[0],) + w.shape[1:]) if keep_weights else w)
        w = self._weights(q, k, causal)
        return self.bmm(w, v), w

    def _weights(self, q, k, causal):
        scores = self.bmm(q, np.swapaxes(k, -1, -2))
        if self.name == "float64":
            scores += np.where(causal, 0.0, -np.inf)  # in place: the same sums as scores + C
            return _softmax_float64(scores)
        return self.attention_weights(scores, causal)


def _same_rows(a: np.ndarray) -> bool:
    """Every batch row of ``a`` equals the first (NaN never does)."""
    return bool((a == a[:1]).all())


def _softmax_float64(d: np.ndarray) -> np.ndarray:
    """Column softmax of masked scores ``d`` (masked keys -inf), in place: exp(d - max), normalised.

    Keys more than 700 below the maximum get weight exactly 0 (their true weight is below
    e^-700 ~ 1e-304 while the maximal key contributes 1, so no weight sum changes). They are raised
    to -700 before the exp and zeroed after it: numpy's exp is slow on -inf and on subnormal results.
    """
    d -= d.max(axis=-1, keepdims=True)
    drop = d <= -700.0  # NaN stays NaN (not dropped), as before
    np.maximum(d, -700.0, out=d)
    np.exp(d, out=d)
    np.copyto(d, 0.0, where=drop)
    d /= d.sum(axis=-1, keepdims=True)
    return d


FLOAT64 = Mode("float64")
HARD = Mode("hard")


def Rp(p: int, fast: bool = True) -> Mode:  # noqa: N802 - the paper's name
    return Mode("rp", p, fast)


def parse_mode(name: str, p: int | None) -> Mode:
    if name == "rp" and p is None:
        raise ValueError("mode rp needs --p (an odd number of bits)")
    return Mode(name, p)
