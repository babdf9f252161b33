"""RNNs (Def 3.3), Linear RNNs (Defs 3.4-3.5) and hybrids (Def 5.5): the only forward passes for them.

* :class:`RNN` is the general class of the lower bounds: a state ``s_t in R_p^Lambda`` updated by an
  arbitrary transition ``s_t = t(s_{t-1}, x_t)`` and read out by ``o(s_t)``. Its memory is
  ``M = Lambda * p`` bits (Def 3.3); only the state counts, weights are free.
* :class:`LinearRNN` stacks blocks ``f(X) = X + LU(X) + g(X + LU(X))`` with the linear unit
  ``h_t = A h_{t-1} + B x_t`` (h_0 = 0) and a ReGLU FFN g. Its state is every block's h, so
  Lambda = the number of coordinates some A or B row can make nonzero, summed over blocks.
* :class:`Hybrid` is a Linear RNN followed by one Transformer block (attention + ReGLU FFN) over the
  RNN outputs at all positions; the attention keeps a KV cache, reported separately.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from constructions.runtime.arithmetic import FLOAT64, Mode
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import (FFN, Block, Transformer, block_arrays, block_forward, row_plan,
                                               ffn_arrays, ffn_forward, model_shape)
from theory.tokens import Vocab


class RNN(ABC):
    """The general recurrent model of Def 3.3: a state of ``state_dim`` numbers and a transition.

    The lower bounds (theory/bounds.py) need nothing more than this: whatever the transition, the
    state after a prefix is all a suffix can learn of it, so ``state_bits(p)`` bounds what the model
    can carry.
    """

    @property
    @abstractmethod
    def state_dim(self) -> int:
        """Lambda: how many numbers the state holds."""

    def state_bits(self, p: int) -> int:
        """M = Lambda * p: the memory the lower bounds constrain."""
        return self.state_dim * int(p)


@dataclass
class LinearUnit:
    """``h_t = A h_{t-1} + B x_t``; A, B: (d, d)."""

    A: np.ndarray
    B: np.ndarray
    name: str = ""

    def state_rows(self) -> np.ndarray:
        return np.flatnonzero(np.any(self.A != 0, axis=1) | np.any(self.B != 0, axis=1))


@dataclass
class RNNBlock:
    unit: LinearUnit
    ffn: FFN | None = None
    name: str = ""


@dataclass
class LinearRNN(RNN):
    vocab: Vocab
    layout: Layout
    blocks: list[RNNBlock]
    meta: dict[str, Any] = field(default_factory=dict)

    kind = "linear_rnn"

    @property
    def d(self) -> int:
        return len(self.layout)

    @property
    def state_dim(self) -> int:
        return int(sum(len(b.unit.state_rows()) for b in self.blocks))

    def embed(self, ids, mode: Mode = FLOAT64) -> np.ndarray:
        return Transformer(self.vocab, self.layout, []).embed(ids, mode)

    def forward(self, ids, mode: Mode = FLOAT64, dump: bool = False, rows_from: int = 0):
        """Final residual (B, L, d), or its rows ``rows_from``.. (see Transformer.forward)."""
        if rows_from and not dump:
            return self.forward(ids, mode)[:, rows_from:]
        raw = mode.raw()  # R_p: grid integers inside, values out (arithmetic.py)
        x = raw.round(self.embed(ids))
        trace = [{"name": "embedding", "block": "embedding", "residual": mode.store(x)}] if dump else None
        for i, block in enumerate(self.blocks):
            x = raw.add(x, run_linear_unit(block.unit, x, raw))
            if block.ffn is not None:
                ffn_forward(block.ffn, x, raw, x)
            if dump:
                trace.append({"name": f"rnn.block{i}", "block": block.name, "residual": mode.store(x)})
        return (mode.store(x), trace) if dump else mode.store(x)

    def logits(self, residual, mode: Mode = FLOAT64) -> np.ndarray:
        return Transformer(self.vocab, self.layout, []).logits(residual, mode)

    def named_arrays(self) -> dict[str, np.ndarray]:
        """``rnn.block{i}.unit.A|B`` and ``rnn.block{i}.ffn.W_1 .. b_3`` (see Transformer.named_arrays)."""
        out: dict[str, np.ndarray] = {}
        for i, block in enumerate(self.blocks):
            out[f"rnn.block{i}.unit.A"] = block.unit.A
            out[f"rnn.block{i}.unit.B"] = block.unit.B
            if block.ffn is not None:
                out.update(ffn_arrays(block.ffn, f"rnn.block{i}"))
        return out

    def signature(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": self.vocab.n, "extra": list(self.vocab.extra),
                "layout": list(self.layout.names)}

    def shape(self) -> dict[str, Any]:
        return model_shape(self, attention=[], rnn_blocks=self.blocks)


def run_linear_unit(unit: LinearUnit, x: np.ndarray, mode: Mode) -> np.ndarray:
    """All outputs h_1..h_L of one linear unit for a batch x (B, L, d); a loop over time only.

    ``h_t = ROUND(ROUND(A h_{t-1}) + ROUND(B x_t))``, each matrix product rounded as in any matmul.
    R_p: x and the result are grid integers (pass ``mode.raw()``).
    """
    rows = unit.state_rows()
    cols = np.flatnonzero(np.any(unit.B[rows] != 0, axis=0))
    a = mode.round(unit.A[np.ix_(rows, rows)]).T
    b = mode.round(unit.B[np.ix_(rows, cols)]).T
    h = mode.zeros((x.shape[0], len(rows)))
    out = mode.zeros(x.shape)
    for t in range(x.shape[1]):
        h = mode.add(mode.matmul(h, a), mode.matmul(x[:, t, cols], b))
        out[:, t, rows] = h
    return out


@dataclass
class Hybrid:
    """A Linear RNN whose outputs at all positions feed one Transformer block (Def 5.5)."""

    rnn: LinearRNN
    top: Block
    score_scale: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    kind = "hybrid"

    @property
    def vocab(self) -> Vocab:
        return self.rnn.vocab

    @property
    def layout(self) -> Layout:
        return self.rnn.layout

    def _as_transformer(self) -> Transformer:
        return Transformer(self.vocab, self.layout, [self.top], score_scale=self.score_scale)

    def forward(self, ids, mode: Mode = FLOAT64, dump: bool = False, rows_from: int = 0):
        """Final residual (B, L, d), or its rows ``rows_from``.. (see Transformer.forward): the top
        block then runs its queries and FFN on those rows only."""
        raw = mode.raw()  # R_p: grid integers inside, values out (arithmetic.py)
        x = self.rnn.forward(ids, raw)
        causal = np.tril(np.ones((x.shape[1], x.shape[1]), dtype=bool))
        start = 0 if dump else int(rows_from)
        full = row_plan([self.top], self.rnn.d)[0] if start else None
        out, weights = block_forward(self.top, x, causal, self._as_transformer().scale, raw, dump,
                                     rows_from=start, full=full)
        if not dump:
            return mode.store(out[:, start:])
        _, rnn_trace = self.rnn.forward(ids, mode, dump=True)  # the RNN blocks' residuals, by name
        return mode.store(out), rnn_trace + [{"name": "top", "block": self.top.name or "top",
                                              "residual": mode.store(out),
                                              "attention": {h: mode.store(w) for h, w in weights.items()}}]

    def logits(self, residual, mode: Mode = FLOAT64) -> np.ndarray:
        return self._as_transformer().logits(residual, mode)

    def named_arrays(self) -> dict[str, np.ndarray]:
        return {**self.rnn.named_arrays(), **block_arrays(self.top, "top")}

    def signature(self) -> dict[str, Any]:
        return {**self.rnn.signature(), "kind": self.kind, "score_scale": self.score_scale}

    def shape(self) -> dict[str, Any]:
        return model_shape(self, attention=[self.top], rnn_blocks=self.rnn.blocks)
