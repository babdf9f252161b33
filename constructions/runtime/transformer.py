"""The Transformer of Defs 3.1-3.2, in numpy: the only place its forward pass lives.

Shapes: the paper keeps tokens as columns (X in R^{d x l}); here a batch is ``X[b, k, :]`` with
positions as rows, which is the same model transposed.

Semantics (one block):
    A(X) = sum_h  softmax_col(score_h + C) applied to values  W_V^h X
    score_h[k', k] = (W_K^h X_{k'}) . (W_Q^h X_k) * score_scale,   C = -inf for k' > k (causal)
    f(X) = X + A(X) + g(X + A(X)),    g(x) = W_3 (ReLU(W_1 x + b_1) * (W_2 x + b_2)) + b_3  (ReGLU)
No LayerNorm. Input = fixed word embedding + position ``k * w_pos``; read-out = tied, the logits of
the last position are ``W_E x`` over the embedding coordinates.

``score_scale`` is the paper's 1/sqrt(d) by default. The paper's constructions fold that factor
into W_Q (App. C); our builders do the same and store ``score_scale = 1``.

Speed: a head reads only the coordinates its weights touch (the nonzero columns of W_Q, W_K, W_V)
and writes only the nonzero rows of W_V; an FFN likewise. These index sets are derived from the
weights once, so edited weights are honoured exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from constructions.runtime.arithmetic import FLOAT64, Mode
from constructions.runtime.layout import Layout
from theory.precision import bits_needed
from theory.tokens import Vocab


def _nonzero_cols(*mats: np.ndarray) -> np.ndarray:
    mask = np.zeros(mats[0].shape[1], dtype=bool)
    for m in mats:
        mask |= np.any(m != 0, axis=0)
    return np.flatnonzero(mask)


HEAD_FIELDS = ("W_Q", "W_K", "W_V")
FFN_FIELDS = ("W_1", "b_1", "W_2", "b_2", "W_3", "b_3")


@dataclass
class Head:
    """One attention head. ``W_Q, W_K``: (h, d); ``W_V``: (d, d). ``name`` is for dumps and traces."""

    W_Q: np.ndarray
    W_K: np.ndarray
    W_V: np.ndarray
    name: str = ""

    def sparse(self):
        qk_cols = _nonzero_cols(self.W_Q, self.W_K)
        v_cols = _nonzero_cols(self.W_V)
        v_rows = np.flatnonzero(np.any(self.W_V != 0, axis=1))
        return (qk_cols, self.W_Q[:, qk_cols].T, self.W_K[:, qk_cols].T,
                v_cols, v_rows, self.W_V[np.ix_(v_rows, v_cols)].T)


@dataclass
class FFN:
    """ReGLU FFN: ``W_1, W_2``: (w, d); ``b_1, b_2``: (w,); ``W_3``: (d, w); ``b_3``: (d,)."""

    W_1: np.ndarray
    b_1: np.ndarray
    W_2: np.ndarray
    b_2: np.ndarray
    W_3: np.ndarray
    b_3: np.ndarray
    units: list[str] = field(default_factory=list)  # a name per hidden unit, for dumps

    @property
    def width(self) -> int:
        return self.W_1.shape[0]

    def sparse(self):
        cols = _nonzero_cols(self.W_1, self.W_2)
        rows = np.flatnonzero(np.any(self.W_3 != 0, axis=1) | (self.b_3 != 0))
        return cols, self.W_1[:, cols].T, self.W_2[:, cols].T, rows, self.W_3[rows].T, self.b_3[rows]


@dataclass
class Block:
    heads: list[Head] = field(default_factory=list)
    ffn: FFN | None = None
    name: str = ""


@dataclass
class Transformer:
    vocab: Vocab
    layout: Layout
    blocks: list[Block]
    score_scale: float | None = None  # None: the paper's 1/sqrt(d)
    meta: dict[str, Any] = field(default_factory=dict)

    kind = "transformer"

    @property
    def d(self) -> int:
        return len(self.layout)

    @property
    def scale(self) -> float:
        return 1.0 / np.sqrt(self.d) if self.score_scale is None else float(self.score_scale)

    # -- the model interface (shared with LinearRNN and Hybrid) ---------------------------------
    def named_arrays(self) -> dict[str, np.ndarray]:
        """Every weight array under a name that says where it sits (``block3.head1.W_Q``): the only
        input to the weights hash and to ``.npz`` saving (:mod:`constructions.runtime.io`)."""
        out: dict[str, np.ndarray] = {}
        for i, block in enumerate(self.blocks):
            out.update(block_arrays(block, f"block{i}"))
        return out

    def signature(self) -> dict[str, Any]:
        """What besides the arrays fixes the function: kind, vocabulary, layout, score scale."""
        return {"kind": self.kind, "n": self.vocab.n, "extra": list(self.vocab.extra),
                "layout": list(self.layout.names), "score_scale": self.score_scale}

    def shape(self) -> dict[str, Any]:
        return model_shape(self, attention=self.blocks, rnn_blocks=[])

    # -- forward ------------------------------------------------------------------------------
    def embed(self, ids: np.ndarray, mode: Mode = FLOAT64) -> np.ndarray:
        """Word + position embedding of a padded id batch (B, L); id 0 is padding (zero word part)."""
        ids = np.asarray(ids)
        if ids.ndim != 2:
            raise ValueError(f"token ids must be a (batch, length) array, got shape {ids.shape}")
        if ids.size and (ids.min() < 0 or ids.max() > self.vocab.size):
            raise ValueError(f"token ids must lie in 0..{self.vocab.size}")
        e = self.vocab.embedding_matrix()
        table = np.zeros((e.shape[0], self.d))  # each token's whole residual row: one gather per position
        table[:, : e.shape[1]] = e
        x = table[ids]
        x[..., self.layout["pos"]] = np.arange(1, ids.shape[1] + 1)
        return mode.round(x)

    def prepare(self, mode: Mode = FLOAT64) -> "Prepared":
        """The weights as the forward pass uses them (see :class:`Prepared`); pass the result to
        :meth:`forward` to reuse it across batches while the weights do not change."""
        return Prepared.of(self.blocks, self.d, self.scale, mode.raw())

    def forward(self, ids: np.ndarray, mode: Mode = FLOAT64, dump: bool = False, rows_from: int = 0,
                prepared: "Prepared | None" = None):
        """Final residual (B, L, d); with ``dump=True`` also the residual after the embedding and after
        each block, as dicts ``{"name": "embedding" | "block{i}", "block": the builder's label,
        "residual": ..., "attention": {head name: weights}}`` (names as in :meth:`named_arrays`).

        ``rows_from=s`` returns only rows ``s..L-1`` of the final residual, (B, L - s, d), exactly as
        the full pass computes them, and skips the work no such row depends on: a head or FFN whose
        output no later block reads at an earlier row runs on rows s.. only (:func:`row_plan`).
        ``prepared`` is :meth:`prepare` for this mode (made here when not given).
        """
        raw = mode.raw()  # R_p: grid integers inside, values out (arithmetic.py)
        prepared = prepared if prepared is not None else self.prepare(mode)
        x = raw.round(self.embed(ids))
        causal = np.tril(np.ones((x.shape[1], x.shape[1]), dtype=bool))
        trace = [{"name": "embedding", "block": "embedding", "residual": mode.store(x.copy())}] if dump else None
        start = 0 if dump else int(rows_from)
        if not 0 <= start < max(x.shape[1], 1):
            raise ValueError(f"rows_from must lie in 0..{x.shape[1] - 1}, got {rows_from}")
        for i, (block, prep, full) in enumerate(zip(self.blocks, prepared.blocks, prepared.plan)):
            x, weights = block_forward(block, x, causal, self.scale, raw, keep_weights=dump,
                                       rows_from=start, full=full if start else None, prepared=prep)
            if dump:
                trace.append({"name": f"block{i}", "block": block.name, "residual": mode.store(x.copy()),
                              "attention": {h: mode.store(w) for h, w in weights.items()}})
        x = x[:, start:]
        return (mode.store(x), trace) if dump else mode.store(x)

    def logits(self, residual: np.ndarray, mode: Mode = FLOAT64) -> np.ndarray:
        """Tied read-out at every position: ``logits[b, k, id]`` (id 0, padding, gets -inf)."""
        raw = mode.raw()
        e = self.vocab.embedding_matrix()
        x = residual[..., : e.shape[1]]
        z = raw.matmul(x if mode.grid_values else raw.load(x), raw.round(e.T))
        z[..., 0] = raw.pad
        return mode.store(z)


def block_arrays(block: Block, prefix: str) -> dict[str, np.ndarray]:
    """A block's arrays by name: ``{prefix}.head{j}.W_Q|W_K|W_V`` and ``{prefix}.ffn.W_1 .. b_3``."""
    out = {}
    for j, head in enumerate(block.heads):
        for f in HEAD_FIELDS:
            out[f"{prefix}.head{j}.{f}"] = getattr(head, f)
    if block.ffn is not None:
        out.update(ffn_arrays(block.ffn, prefix))
    return out


def ffn_arrays(ffn: FFN, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}.ffn.{f}": getattr(ffn, f) for f in FFN_FIELDS}


def kv_numbers_per_position(head: Head) -> int:
    """Numbers one head keeps per cached position: its key features and its nonzero value rows."""
    return int(head.W_K.shape[0] + np.count_nonzero(np.any(head.W_V != 0, axis=1)))


def model_shape(model, attention: list[Block], rnn_blocks: list) -> dict[str, Any]:
    """The size of any runtime model, one convention for all kinds.

    depth counts every block (a hybrid's RNN blocks and its attention block); heads is the most in
    one attention block; kv_per_position the numbers all heads cache per position (keys + values);
    state_dim is Lambda, the RNN state (Def 3.3); parameter statistics cover every named array.
    """
    arrays = list(model.named_arrays().values())
    params = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    ffns = [b.ffn for b in list(rnn_blocks) + list(attention) if b.ffn is not None]
    return {
        "kind": model.kind,
        "depth": len(rnn_blocks) + len(attention),
        "rnn_depth": len(rnn_blocks),
        "width": len(model.layout),
        "heads": max((len(b.heads) for b in attention), default=0),
        "heads_per_block": [0] * len(rnn_blocks) + [len(b.heads) for b in attention],
        "heads_total": sum(len(b.heads) for b in attention),
        "ffn_width": max((f.width for f in ffns), default=0),
        "state_dim": int(sum(len(b.unit.state_rows()) for b in rnn_blocks)),
        "kv_per_position": sum(kv_numbers_per_position(h) for b in attention for h in b.heads),
        "parameters": int(params.size),
        "nonzero_parameters": int(np.count_nonzero(params)),
        "max_abs_parameter": float(np.abs(params).max()) if params.size else 0.0,
        "parameter_bits": bits_needed(params),
    }



def row_plan(blocks: list[Block], d: int) -> list[tuple[list[bool], bool]]:
    """Which parts of each block must run at every row when only the last rows' residuals are wanted.

    Backwards from the output, where every coordinate is wanted at the last rows only: an FFN or a
    head must run at every row iff it writes a coordinate that a later part reads at every row.
    An FFN reads its own row; a head reads its query coordinates at its own row and its key and
    value coordinates at every earlier row. Returns ``(heads, ffn)`` flags per block (True: every row).
    Skipping the other rows is exact: nothing that reaches the wanted rows reads them.
    """
    everywhere = np.zeros(d, dtype=bool)  # coordinates some later part reads at every row
    plan = []
    for block in reversed(blocks):
        ffn_full = False
        if block.ffn is not None:
            cols, _, _, rows, _, _ = block.ffn.sparse()
            ffn_full = bool(everywhere[rows].any())
            if ffn_full:
                everywhere[cols] = True
        heads_full = []
        for head in block.heads:
            _, _, _, v_cols, v_rows, _ = head.sparse()
            full = bool(everywhere[v_rows].any())
            reads_kv = _nonzero_cols(head.W_K)
            if full:
                everywhere[_nonzero_cols(head.W_Q)] = True
            everywhere[reads_kv] = True
            everywhere[v_cols] = True
            heads_full.append(full)
        plan.append((heads_full, ffn_full))
    return plan[::-1]


def _span(idx: np.ndarray):
    """``idx`` as a slice when it is a run of consecutive coordinates (a view instead of a gather)."""
    if len(idx) and idx[-1] - idx[0] == len(idx) - 1:
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _runs(idx) -> list[tuple[slice, slice]]:
    """The runs of consecutive coordinates in ``idx``: (coordinates, positions in idx) as slices."""
    if isinstance(idx, slice):
        return [(idx, slice(0, idx.stop - idx.start))]
    if len(idx) == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    bounds = [0, *breaks.tolist(), len(idx)]
    return [(slice(int(idx[a]), int(idx[b - 1]) + 1), slice(a, b)) for a, b in zip(bounds, bounds[1:])]


@dataclass(frozen=True)
class PreparedHead:
    """A head's weights as :func:`project` uses them: the coordinates it reads and writes and its
    rounded, scaled projections (Head.sparse, then mode.round)."""

    cols: Any
    wq: np.ndarray
    wk: np.ndarray
    v_cols: Any
    v_rows: Any
    wv: np.ndarray
    v_runs: list

    @classmethod
    def of(cls, head: Head, scale: float, mode: Mode) -> "PreparedHead":
        cols, wq, wk, v_cols, v_rows, wv = head.sparse()
        return cls(_span(cols), mode.round(wq * scale), mode.round(wk), _span(v_cols), _span(v_rows),
                   mode.round(wv), _runs(v_rows))  # parameters are p-bit numbers


@dataclass(frozen=True)
class PreparedFFN:
    """An FFN's weights as :func:`ffn_forward` uses them (FFN.sparse, then mode.round)."""

    cols: Any
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    rows: Any
    w3: np.ndarray
    b3: np.ndarray
    runs: list

    @classmethod
    def of(cls, ffn: FFN, mode: Mode) -> "PreparedFFN":
        cols, w1, w2, rows, w3, b3 = ffn.sparse()
        w1, w2, w3, b1, b2, b3 = (mode.round(a) for a in (w1, w2, w3, ffn.b_1, ffn.b_2, b3))
        return cls(_span(cols), w1, b1, w2, b2, _span(rows), w3, b3, _runs(rows))


@dataclass(frozen=True)
class Prepared:
    """Every block's prepared heads and FFN, and the :func:`row_plan`, for one arithmetic mode."""

    blocks: list
    plan: list

    @classmethod
    def of(cls, blocks: list[Block], d: int, scale: float, mode: Mode) -> "Prepared":
        return cls([prepare_block(b, scale, mode) for b in blocks], row_plan(blocks, d))


def prepare_block(block: Block, scale: float, mode: Mode):
    return ([PreparedHead.of(h, scale, mode) for h in block.heads],
            PreparedFFN.of(block.ffn, mode) if block.ffn is not None else None)


def block_forward(block: Block, x: np.ndarray, causal: np.ndarray, scale: float, mode: Mode,
                  keep_weights: bool = False, rows_from: int = 0, full=None, prepared=None):
    """``f(X) = X + A(X) + g(X + A(X))`` (Def 3.1); returns the new residual and, if asked, each head's weights.

    R_p: x and the result are grid integers (pass ``mode.raw()``). Each head's output is added to the
    residual and rounded in head order; then the FFN's output is added and rounded.

    ``x`` is updated in place and returned: every head reads its projections of X before any head
    writes. With ``rows_from=s`` and ``full = (heads, ffn)`` flags (:func:`row_plan`) the parts not
    flagged run on rows s.. only; their rows before s are left as they were (no later part reads them).
    ``prepared`` is :func:`prepare_block` of this block for ``mode`` (made here when not given).
    """
    heads, ffn = prepared if prepared is not None else prepare_block(block, scale, mode)
    heads_full, ffn_full = full if full is not None else ([True] * len(heads), True)
    projected = [project(h, x, mode, 0 if f else rows_from) for h, f in zip(heads, heads_full)]
    weights = {}
    for head, f, (q, k, v), prep in zip(block.heads, heads_full, projected, heads):
        s = 0 if f else rows_from
        a, w = mode.attend(q, k, v, causal[s:], keep_weights)
        _add_into(x[:, s:], prep.v_rows, a, mode, prep.v_runs)
        if keep_weights:
            weights[head.name] = w
    if ffn is not None:
        s = 0 if ffn_full else rows_from
        part = x[:, s:] if s else x  # a view: the FFN writes into x
        ffn_forward(ffn, part, mode, part)
    return x, weights


def _add_into(out: np.ndarray, idx, a: np.ndarray, mode: Mode, runs=None) -> None:
    """``out[..., idx] = ROUND(out[..., idx] + a)``. float64 and hard: in place, one view per run of
    consecutive coordinates (``runs``: :func:`_runs` of idx; the same sums, rounded once, as out + a)."""
    if mode.name == "rp":
        out[..., idx] = mode.add(out[..., idx], a)
        return
    for coords, part in runs if runs is not None else _runs(idx):
        view = out[..., coords]
        np.add(view, a[..., part], out=view)


def project(head: PreparedHead, x: np.ndarray, mode: Mode, rows_from: int = 0):
    """One head's queries (rows ``rows_from``.. only), keys and values, reading only the coordinates it uses."""
    xs = x[..., head.cols]
    q = mode.matmul(xs[:, rows_from:] if rows_from else xs, head.wq)
    k = mode.matmul(xs, head.wk)
    v = mode.matmul(x[..., head.v_cols], head.wv)
    return q, k, v


def attend(head: Head, x: np.ndarray, causal: np.ndarray, scale: float, mode: Mode,
           out: np.ndarray, keep_weights: bool = False):
    """Add one head's contribution into ``out`` (B, L, d), reading only the coordinates it uses."""
    prep = PreparedHead.of(head, scale, mode)
    q, k, v = project(prep, x, mode)
    a, w = mode.attend(q, k, v, causal, keep_weights)
    _add_into(out, prep.v_rows, a, mode, prep.v_runs)
    return w if keep_weights else None


def ffn_forward(ffn, x: np.ndarray, mode: Mode, out: np.ndarray) -> None:
    """``out += g(x)`` for the ReGLU FFN g (an FFN or its :class:`PreparedFFN`), rounding each step
    (in place; ``out`` may be ``x``)."""
    p = ffn if isinstance(ffn, PreparedFFN) else PreparedFFN.of(ffn, mode)
    xs = x[..., p.cols]
    if mode.name == "rp":
        gate = mode.relu(mode.add(mode.matmul(xs, p.w1), p.b1))
        lin = mode.add(mode.matmul(xs, p.w2), p.b2)
        hidden = mode.mul(gate, lin)
        _add_into(out, p.rows, mode.add(mode.matmul(hidden, p.w3), p.b3), mode, p.runs)
        return
    # float64 and hard: the same operations in the same order, in place on fresh products
    gate = xs @ p.w1
    gate += p.b1
    np.maximum(gate, 0.0, out=gate)
    lin = xs @ p.w2
    lin += p.b2
    gate *= lin
    y = gate @ p.w3
    y += p.b3
    _add_into(out, p.rows, y, mode, p.runs)
