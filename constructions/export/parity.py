"""Parity: an exported model's logits against the runtime's, on given token sequences.

Two forward passes written independently (numpy in constructions/runtime, torch in TransformerLens
or constructions/export/torch_models.py) must agree on every real position of every sequence:

* **logits**: ``max |a - b| / max(1, max_j |b_j|)`` over positions and tokens, where ``b`` is the
  runtime's logit vector at that position (the difference relative to the position's largest logit,
  at least 1); padding id 0 must be ``-inf`` in both;
* **arg-max**: at every position where the runtime's arg-max is strict by more than ``tol`` (in the
  same relative units), the exported model's arg-max is the same token. Positions where the runtime
  has a (near-)tie are counted and not compared: their arg-max is a rounding accident in both.

Positions past a sequence's length (right padding) are not compared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from constructions.runtime.arithmetic import FLOAT64

DEFAULT_TOL = 1e-9
MAX_TOKENS = 24_000  # tokens per forward batch


@dataclass
class Parity:
    sequences: int = 0
    positions: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    argmax_compared: int = 0
    argmax_differ: int = 0
    near_ties: int = 0
    worst: dict = field(default_factory=dict)      # where max_rel occurs: row, position, token
    first_argmax_difference: dict | None = None

    def ok(self, tol: float = DEFAULT_TOL) -> bool:
        return self.max_rel <= tol and self.argmax_differ == 0 and self.sequences > 0

    def add(self, other: "Parity") -> None:
        if other.max_rel > self.max_rel or not self.worst:
            self.worst = other.worst
        self.max_abs = max(self.max_abs, other.max_abs)
        self.max_rel = max(self.max_rel, other.max_rel)
        for f in ("sequences", "positions", "argmax_compared", "argmax_differ", "near_ties"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        if self.first_argmax_difference is None:
            self.first_argmax_difference = other.first_argmax_difference

    def as_dict(self) -> dict:
        return asdict(self)


def _batches(lengths: np.ndarray, budget: int) -> list[np.ndarray]:
    order = np.argsort(lengths, kind="stable")
    out, i = [], 0
    while i < len(order):
        j = i + 1
        while j < len(order) and (j - i + 1) * int(lengths[order[j]]) <= budget:
            j += 1
        out.append(order[i:j])
        i = j
    return out


def compare_batch(model, exported_logits: np.ndarray, ids: np.ndarray, lengths: np.ndarray,
                  tol: float = DEFAULT_TOL, rows: np.ndarray | None = None) -> Parity:
    """Compare the exported model's logits (B, L, V) on ``ids`` with the runtime's."""
    ref = model.logits(model.forward(ids, FLOAT64), FLOAT64)
    got = np.asarray(exported_logits, dtype=np.float64)
    if got.shape != ref.shape:
        raise ValueError(f"exported logits have shape {got.shape}, the runtime's {ref.shape}")
    real = np.arange(ids.shape[1])[None, :] < np.asarray(lengths)[:, None]           # (B, L)
    finite = np.isfinite(ref)
    inf_mismatch = real[..., None] & ((finite != np.isfinite(got)) | (~finite & (ref != got)))
    scale = np.maximum(1.0, np.max(np.where(finite, np.abs(ref), 0.0), axis=-1, keepdims=True))
    diff = np.where(finite & real[..., None], np.abs(np.where(finite, got, 0.0) - np.where(finite, ref, 0.0)), 0.0)
    diff = np.where(inf_mismatch | np.isnan(diff), np.inf, diff)
    rel = diff / scale
    out = Parity(sequences=int(ids.shape[0]), positions=int(real.sum()),
                 max_abs=float(diff.max()) if diff.size else 0.0, max_rel=float(rel.max()) if rel.size else 0.0)
    if rel.size:
        b, k, t = np.unravel_index(int(np.argmax(rel)), rel.shape)
        out.worst = {"row": int(rows[b]) if rows is not None else int(b), "position": int(k) + 1, "token": int(t)}
    safe = np.where(finite, ref, -np.inf)
    top2 = np.sort(safe, axis=-1)[..., -2:]
    strict = (top2[..., 1] - top2[..., 0]) > tol * scale[..., 0]
    compared = real & strict
    differ = compared & (np.argmax(got, axis=-1) != np.argmax(safe, axis=-1))
    out.argmax_compared = int(compared.sum())
    out.argmax_differ = int(differ.sum())
    out.near_ties = int((real & ~strict).sum())
    if out.argmax_differ:
        b, k = np.argwhere(differ)[0]
        out.first_argmax_difference = {"row": int(rows[b]) if rows is not None else int(b), "position": int(k) + 1,
                                       "runtime": int(np.argmax(safe[b, k])), "exported": int(np.argmax(got[b, k]))}
    return out


def compare_logits(model, exported: Callable, ids: np.ndarray, lengths: np.ndarray, tol: float = DEFAULT_TOL,
                   max_tokens: int = MAX_TOKENS, progress: Callable[[int], None] | None = None) -> Parity:
    """Run ``exported`` (token ids (B, L) as a torch LongTensor -> logits (B, L, V)) and the runtime
    ``model`` on right-padded sequences ``ids`` with ``lengths``; compare as the module docstring says."""
    import torch

    ids = np.asarray(ids)
    lengths = np.asarray(lengths)
    total = Parity()
    with torch.no_grad():
        for rows in _batches(lengths, max_tokens):
            width = int(lengths[rows].max())
            batch = ids[rows, :width]
            logits = exported(torch.as_tensor(batch, dtype=torch.long))
            total.add(compare_batch(model, logits.detach().cpu().numpy(), batch, lengths[rows], tol, rows))
            if progress is not None:
                progress(len(rows))
    return total
