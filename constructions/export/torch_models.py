"""The runtime's three model kinds as small ``torch.nn.Module`` s, written from the definitions.

* :class:`TorchTransformer` (Def 3.1): blocks ``f(X) = X + A(X) + g(X + A(X))``, causal softmax
  attention with the model's score scale, ReGLU FFN ``g(x) = W_3 (ReLU(W_1 x + b_1) * (W_2 x + b_2)) + b_3``.
* :class:`TorchLinearRNN` (Defs 3.4-3.5): blocks ``X + LU(X) + g(X + LU(X))`` with the linear unit
  ``h_t = A h_{t-1} + B x_t``, ``h_0 = 0``.
* :class:`TorchHybrid` (Def 5.5): a TorchLinearRNN, then one Transformer block over its outputs.

All three embed like the runtime (fixed word embedding over the embedding coordinates, position
``k`` in ``pos``, 1-based; id 0 is padding with a zero word part) and read out tied (``logits =
x[..., :E] W_E^T``, id 0 gets ``-inf``). ``module.residual(ids)`` is the runtime's ``forward(ids)``
(the final residual, (B, L, d)); ``module(ids)`` is the logits (B, L, |V| + 1). Weights are float64
``nn.Parameter`` s named after the runtime's arrays (``blocks.3.heads.1.W_Q`` is ``block3.head1.W_Q``),
so they can be edited or trained; :meth:`to_runtime` turns the module back into a runtime model
(same weights hash when nothing was changed) for the checkers.

:func:`greedy` decodes with any module that maps token ids to logits (these, or a
``HookedTransformer``), and with a :class:`~constructions.runtime.retrieve.Retriever` it appends the
retrieved tokens after each ``<EndSearch>`` (Def A.5), as the runtime's greedy decoding does.
"""

from __future__ import annotations

import numpy as np

from constructions.export import require
from constructions.runtime import io as model_io
from constructions.runtime.rnn import Hybrid, LinearRNN
from constructions.runtime.transformer import FFN_FIELDS, HEAD_FIELDS, Block, Transformer

torch = require("torch")
nn = torch.nn


def _param(a: np.ndarray) -> "nn.Parameter":
    return nn.Parameter(torch.as_tensor(np.array(a, dtype=np.float64)))


class TorchFFN(nn.Module):
    """ReGLU: ``W_3 (ReLU(W_1 x + b_1) * (W_2 x + b_2)) + b_3``."""

    def __init__(self, ffn):
        super().__init__()
        for f in FFN_FIELDS:
            setattr(self, f, _param(getattr(ffn, f)))

    def forward(self, x):
        gate = torch.relu(x @ self.W_1.T + self.b_1)
        return (gate * (x @ self.W_2.T + self.b_2)) @ self.W_3.T + self.b_3


class TorchHead(nn.Module):
    """One head: scores ``(W_K x_k') . (W_Q x_k) * scale`` over keys ``k' <= k``, value ``W_V x_k'``."""

    def __init__(self, head):
        super().__init__()
        for f in HEAD_FIELDS:
            setattr(self, f, _param(getattr(head, f)))

    def forward(self, x, scale: float):
        q = x @ (self.W_Q.T * scale)
        k = x @ self.W_K.T
        scores = q @ k.transpose(-1, -2)                               # (B, query, key)
        length = x.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool).tril()
        weights = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1)
        return weights @ (x @ self.W_V.T)


class TorchBlock(nn.Module):
    """``f(X) = X + A(X) + g(X + A(X))`` (Def 3.1)."""

    def __init__(self, block: Block):
        super().__init__()
        self.heads = nn.ModuleList(TorchHead(h) for h in block.heads)
        self.ffn = TorchFFN(block.ffn) if block.ffn is not None else None

    def forward(self, x, scale: float):
        y = x
        for head in self.heads:  # every head reads x
            y = y + head(x, scale)
        return y + self.ffn(y) if self.ffn is not None else y


class TorchLinearUnit(nn.Module):
    """``h_t = A h_{t-1} + B x_t``, ``h_0 = 0``; returns h_1 .. h_L."""

    def __init__(self, unit):
        super().__init__()
        self.A = _param(unit.A)
        self.B = _param(unit.B)

    def forward(self, x):
        # Only rows some A or B row can make nonzero carry state; the others stay 0 at every step.
        rows = torch.nonzero(torch.any(self.A != 0, dim=1) | torch.any(self.B != 0, dim=1)).flatten()
        a = self.A[rows][:, rows].T
        drive = x @ self.B[rows].T                                     # (B, L, |rows|): B x_t for every t
        h = x.new_zeros((x.shape[0], len(rows)))
        states = []
        for t in range(x.shape[1]):
            h = h @ a + drive[:, t]
            states.append(h)
        out = x.new_zeros(x.shape)
        if states:
            out[:, :, rows] = torch.stack(states, dim=1)
        return out


class TorchRNNBlock(nn.Module):
    """``X + LU(X) + g(X + LU(X))`` (Def 3.4)."""

    def __init__(self, block):
        super().__init__()
        self.unit = TorchLinearUnit(block.unit)
        self.ffn = TorchFFN(block.ffn) if block.ffn is not None else None

    def forward(self, x):
        y = x + self.unit(x)
        return y + self.ffn(y) if self.ffn is not None else y


class _TorchLM(nn.Module):
    """Embedding, read-out and bookkeeping shared by the three kinds."""

    kind = ""

    def __init__(self, model):
        super().__init__()
        self.vocab = model.vocab
        self.residual_names = list(model.layout.names)
        self.header = model_io.header(model)  # the runtime's own description (kind, layout, names, meta)
        self.weights_sha256 = model_io.weights_sha256(model)
        emb = model.vocab.embedding_matrix()
        self.register_buffer("W_E", torch.as_tensor(emb, dtype=torch.float64))
        self.pos_index = model.layout["pos"]
        self.d = len(model.layout)

    def embed(self, ids):
        ids = torch.as_tensor(ids, dtype=torch.long)
        if ids.dim() != 2:
            raise ValueError(f"token ids must be a (batch, length) tensor, got shape {tuple(ids.shape)}")
        x = torch.zeros(ids.shape + (self.d,), dtype=torch.float64)
        x[..., : self.W_E.shape[1]] = self.W_E[ids]
        x[..., self.pos_index] = torch.arange(1, ids.shape[1] + 1, dtype=torch.float64)
        return x

    def logits(self, residual):
        z = residual[..., : self.W_E.shape[1]] @ self.W_E.T
        z[..., 0] = float("-inf")
        return z

    def forward(self, ids):
        return self.logits(self.residual(ids))

    def to_runtime(self):
        """The runtime model with this module's current weights (for the checkers' ``--weights``)."""
        arrays = {name: p.detach().cpu().numpy() for name, p in self.named_arrays().items()}
        return model_io.from_arrays(self.header, arrays, f"<torch {self.kind}>")


def _block_arrays(block: TorchBlock, prefix: str) -> dict:
    out = {f"{prefix}.head{j}.{f}": getattr(h, f) for j, h in enumerate(block.heads) for f in HEAD_FIELDS}
    if block.ffn is not None:
        out.update({f"{prefix}.ffn.{f}": getattr(block.ffn, f) for f in FFN_FIELDS})
    return out


class TorchTransformer(_TorchLM):
    kind = "transformer"

    def __init__(self, model: Transformer):
        super().__init__(model)
        self.scale = model.scale
        self.blocks = nn.ModuleList(TorchBlock(b) for b in model.blocks)

    def residual(self, ids):
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, self.scale)
        return x

    def named_arrays(self) -> dict:
        out = {}
        for i, block in enumerate(self.blocks):
            out.update(_block_arrays(block, f"block{i}"))
        return out


class TorchLinearRNN(_TorchLM):
    kind = "linear_rnn"

    def __init__(self, model: LinearRNN):
        super().__init__(model)
        self.blocks = nn.ModuleList(TorchRNNBlock(b) for b in model.blocks)

    def residual(self, ids):
        return self.run(self.embed(ids))

    def run(self, x):
        for block in self.blocks:
            x = block(x)
        return x

    def named_arrays(self, prefix: str = "rnn") -> dict:
        out = {}
        for i, block in enumerate(self.blocks):
            out[f"{prefix}.block{i}.unit.A"] = block.unit.A
            out[f"{prefix}.block{i}.unit.B"] = block.unit.B
            if block.ffn is not None:
                out.update({f"{prefix}.block{i}.ffn.{f}": getattr(block.ffn, f) for f in FFN_FIELDS})
        return out


class TorchHybrid(_TorchLM):
    kind = "hybrid"

    def __init__(self, model: Hybrid):
        super().__init__(model)
        self.scale = model._as_transformer().scale
        self.rnn = TorchLinearRNN(model.rnn)
        self.top = TorchBlock(model.top)

    def residual(self, ids):
        return self.top(self.rnn.run(self.embed(ids)), self.scale)

    def named_arrays(self) -> dict:
        return {**self.rnn.named_arrays(), **_block_arrays(self.top, "top")}


def to_torch(model):
    """A float64 ``torch.nn.Module`` for any runtime model: Transformer, Linear RNN or hybrid."""
    if isinstance(model, Transformer):
        module = TorchTransformer(model)
    elif isinstance(model, Hybrid):
        module = TorchHybrid(model)
    elif isinstance(model, LinearRNN):
        module = TorchLinearRNN(model)
    else:
        raise ValueError(f"cannot export a {type(model).__name__} to torch (Transformer, LinearRNN or Hybrid)")
    return module.eval()


def greedy(module, prompt, stop_ids, max_steps: int, retriever=None) -> tuple[list[int], bool]:
    """Greedy decoding from ``prompt`` (token ids) until a token in ``stop_ids`` or ``max_steps`` tokens.

    ``module(ids)`` must give logits (B, L, V): a module of this file or a ``HookedTransformer``.
    With a ``retriever`` each generated ``<EndSearch>`` is followed by the retrieved tokens (Def A.5).
    Returns (generated tokens, stopped). Ties go to the smallest id, as in the runtime.
    """
    seq = [int(t) for t in prompt]
    out: list[int] = []
    with torch.no_grad():
        for _ in range(max_steps):
            logits = module(torch.tensor([seq], dtype=torch.long))[0, -1]
            nxt = int(torch.argmax(logits))
            seq.append(nxt)
            out.append(nxt)
            if nxt in stop_ids:
                return out, True
            if retriever is not None and retriever.is_end(nxt):
                found = retriever.retrieve(seq)
                seq += found
                out += found
    return out, False
