"""Arithmetic modes of the runtime: ``float64``, ``hard`` and ``Rp(p)``.

* ``float64``: IEEE double everywhere; attention is the ordinary softmax.
* ``hard``: float64, but each attention column is the uniform average over the keys whose score
  equals the column maximum exactly (the limit the constructions aim at, spec §1.3).
* ``Rp(p)``: the paper's p-bit fixed point (App. A.2). Weights and embeddings are rounded to R_p,
  and the result of every operation is rounded: each product, each partial sum of a matrix
  product (accumulated left to right), each residual addition, each exp, the softmax sum and the
  division. See :mod:`theory.precision` for the one caveat of the float64 emulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.precision import check_p, rp_round


@dataclass(frozen=True)
class Mode:
    name: str  # "float64" | "hard" | "rp"
    p: int | None = None

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

    def round(self, x: np.ndarray) -> np.ndarray:
        return rp_round(x, self.p) if self.name == "rp" else x

    def matmul(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``x @ w`` (x: (..., k), w: (k, m)); in R_p every product and partial sum is rounded."""
        if self.name != "rp":
            return x @ w
        acc = np.zeros(x.shape[:-1] + (w.shape[1],))
        for j in range(w.shape[0]):
            acc = self.round(acc + self.round(x[..., j:j + 1] * w[j]))
        return acc

    def bmm(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Batched ``a @ b`` (a: (B, n, k), b: (B, k, m)) with the same rounding rule."""
        if self.name != "rp":
            return a @ b
        acc = np.zeros(a.shape[:-1] + (b.shape[-1],))
        for j in range(a.shape[-1]):
            acc = self.round(acc + self.round(a[..., :, j:j + 1] * b[..., j:j + 1, :]))
        return acc

    def attention_weights(self, scores: np.ndarray, causal: np.ndarray) -> np.ndarray:
        """Column-wise attention weights: ``scores[b, k, k']`` for query k and key k'.

        ``causal[k, k']`` is True where key k' may be attended (k' <= k).
        """
        if self.name == "float64":
            # exp(s - max) and normalise, in place. Keys more than 700 below the maximum get weight
            # exactly 0 (their true weight is below e^-700 ~ 1e-304 while the maximal key contributes
            # 1, so no weight sum changes); this keeps numpy's exp off its slow subnormal path.
            d = scores + np.where(causal, 0.0, -np.inf)
            d -= d.max(axis=-1, keepdims=True)
            keep = d > -700.0
            np.maximum(d, -700.0, out=d)
            np.exp(d, out=d)
            d *= keep
            d /= d.sum(axis=-1, keepdims=True)
            return d
        masked = np.where(causal, scores, -np.inf)
        top = masked.max(axis=-1, keepdims=True)
        if self.name == "hard":
            hit = masked == top
            return hit / hit.sum(axis=-1, keepdims=True)
        e = self.round(np.exp(np.where(causal, self.round(masked - top), -np.inf)))
        total = np.zeros(e.shape[:-1] + (1,))
        for j in range(e.shape[-1]):
            total = self.round(total + e[..., j:j + 1])
        return self.round(e / total)


FLOAT64 = Mode("float64")
HARD = Mode("hard")


def Rp(p: int) -> Mode:  # noqa: N802 - the paper's name
    return Mode("rp", p)


def parse_mode(name: str, p: int | None) -> Mode:
    if name == "rp" and p is None:
        raise ValueError("mode rp needs --p (an odd number of bits)")
    return Mode(name, p)
