"""A runtime Transformer (Def 3.1) as a TransformerLens ``HookedTransformer``, and back.

The map, block by block (runtime on the left, TransformerLens on the right):

* **Residual.** ``d_model = d + 1``: the layout's d coordinates in their order, then
  :data:`~constructions.export.names.EXPORT_ONE`, a constant 1 at every position. TransformerLens's
  gated MLP computes ``ReLU(x W_gate) * (x W_in) + b_in`` with no bias inside the product, so the
  ReGLU biases ``b_1, b_2`` become the weights of ``W_gate, W_in`` on the constant coordinate. No
  head or FFN reads it otherwise, and nothing writes it.
* **Embedding.** ``W_E`` is the fixed word embedding (``i w_num - (i^2/2) w_num_sq`` for number i, an
  indicator for each special token, row 0 = padding = 0); ``W_pos[k - 1]`` puts ``k`` into ``pos``
  and 1 into the constant (positions are 1-based, as in the runtime). ``n_ctx`` bounds the length.
* **Attention.** ``use_attn_scale`` is off when the runtime's score scale is 1 (every catalogue
  construction); otherwise ``attn_scale = 1 / score_scale``. A runtime head has ``h`` score terms
  (``W_Q, W_K``: (h, d)) and a full value map ``W_V``: (d, d). TransformerLens's head has one
  ``d_head`` for queries, keys and values: ``W_Q[:, :h] = W_Q^T`` (likewise ``W_K``), and the value
  map is factored *exactly* through 0/1 selections: if ``W_V`` reads fewer coordinates C than it
  writes, ``W_V^TL`` selects C and ``W_O = W_V[:, C]^T``; otherwise ``W_V^TL = W_V[R, :]^T`` for the
  written rows R and ``W_O`` puts slot j into row R_j. Either way ``W_V^TL W_O = W_V^T`` with one
  nonzero term per entry, so nothing is rounded. ``d_head`` is the largest h or min(|C|, |R|) over
  all heads; unused slots are zero. All attention biases are zero.
* **Padding.** TransformerLens has one ``n_heads`` and one ``d_mlp`` for every block: a block with
  fewer heads gets **zero heads** (W_Q = W_K = W_V = W_O = 0: uniform attention, zero output) and a
  block with a narrower FFN, or none, gets **zero units** (W_gate = W_in = W_out = 0). Neither
  changes the function.
* **FFN.** ``W_gate = [W_1^T; b_1]``, ``W_in = [W_2^T; b_2]`` (the last row is the constant
  coordinate), ``W_out = W_3^T``, ``b_out = b_3``, ``b_in = 0``, ``act_fn = "relu"``, no LayerNorm
  anywhere (``normalization_type=None``), float64. The block is TransformerLens's
  ``resid_mid = resid_pre + attn_out``, ``resid_post = resid_mid + mlp_out(resid_mid)``, which is
  Def 3.1's ``f(X) = X + A(X) + g(X + A(X))``.
* **Read-out.** Tied: ``W_U = W_E^T`` on the embedding coordinates, 0 elsewhere; ``b_U`` is
  ``-inf`` for id 0 (padding, as in the runtime) and 0 for every real token.

The exported model's ``cfg`` is a :class:`NamedConfig`: ``cfg.residual_names`` and ``cfg.toolkit``
(vocabulary, score scale, block/head/unit names, each head's score-term count, metadata, the weights'
sha256) let :func:`from_transformer_lens` rebuild the runtime model with the same weights hash
(:func:`constructions.runtime.io.weights_sha256`), and let :mod:`constructions.export.names` read
activations by coordinate name.

Arithmetic: float64 only (the runtime's ``hard`` and ``Rp`` modes are not exported).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from constructions.export import require
from constructions.export.names import EXPORT_ONE
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import FFN, Block, Head, Transformer
from theory.tokens import Vocab

torch = require("torch")
_tl = require("transformer_lens")
HookedTransformer = _tl.HookedTransformer
HookedTransformerConfig = _tl.HookedTransformerConfig

DEFAULT_N_CTX = 1024
FORMAT_VERSION = 1


@dataclass
class NamedConfig(HookedTransformerConfig):
    """A HookedTransformerConfig that also carries the residual layout's names and the toolkit's
    metadata (see the module docstring)."""

    residual_names: list = field(default_factory=list)
    toolkit: dict = field(default_factory=dict)


# -- export -----------------------------------------------------------------------------------------
def _value_factors(w_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W_V^TL (d, r), W_O (r, d)) with ``W_V^TL @ W_O == W_V.T`` exactly, r = min(|reads|, |writes|)."""
    cols = np.flatnonzero(np.any(w_v != 0, axis=0))
    rows = np.flatnonzero(np.any(w_v != 0, axis=1))
    d = w_v.shape[0]
    if len(cols) <= len(rows):
        sel = np.zeros((d, len(cols)))
        sel[cols, np.arange(len(cols))] = 1.0
        return sel, w_v[:, cols].T.copy()
    out = np.zeros((len(rows), d))
    out[np.arange(len(rows)), rows] = 1.0
    return w_v[rows, :].T.copy(), out


def config_args(model: Transformer, n_ctx: int = DEFAULT_N_CTX) -> dict[str, Any]:
    """The HookedTransformerConfig arguments of the export of ``model`` (JSON-able; dtype by name)."""
    if not isinstance(model, Transformer):
        kind = getattr(model, "kind", type(model).__name__)
        raise ValueError(f"TransformerLens export takes a Transformer, not a {kind}"
                         " (use to_torch for Linear RNNs and hybrids)")
    if EXPORT_ONE in model.layout:
        raise ValueError(f"the layout already has a coordinate named {EXPORT_ONE!r}")
    d_head = 1
    for block in model.blocks:
        for head in block.heads:
            d_head = max(d_head, head.W_Q.shape[0], _value_factors(head.W_V)[0].shape[1])
    scale = model.scale
    return {
        "model_name": str(model.meta.get("builder", "rnn-icr-toolkit")),
        "d_model": model.d + 1, "d_head": int(d_head), "n_layers": len(model.blocks), "n_ctx": int(n_ctx),
        "n_heads": max([1] + [len(b.heads) for b in model.blocks]),
        "d_mlp": max([1] + [b.ffn.width for b in model.blocks if b.ffn is not None]),
        "d_vocab": model.vocab.size + 1, "d_vocab_out": model.vocab.size + 1,
        "act_fn": "relu", "gated_mlp": True, "normalization_type": None, "positional_embedding_type": "standard",
        "use_attn_scale": scale != 1.0, "attn_scale": 1.0 / scale if scale != 1.0 else -1.0,
        "attention_dir": "causal", "default_prepend_bos": False, "dtype": "float64", "device": "cpu",
        "init_weights": False, "original_architecture": "rnn-icr-toolkit",
    }


_CONFIG_KEYS = ("model_name", "d_model", "d_head", "n_layers", "n_ctx", "n_heads", "d_mlp", "d_vocab", "d_vocab_out",
                "act_fn", "gated_mlp", "normalization_type", "positional_embedding_type", "use_attn_scale",
                "attn_scale", "attention_dir", "default_prepend_bos", "dtype", "device", "init_weights",
                "original_architecture")


def toolkit_info(model: Transformer) -> dict[str, Any]:
    """What the runtime model has beyond its arrays: enough to rebuild it exactly."""
    from constructions.runtime import io as model_io

    return {
        "format_version": FORMAT_VERSION, "kind": model.kind, "n": model.vocab.n, "extra": list(model.vocab.extra),
        "layout": list(model.layout.names), "score_scale": model.score_scale,
        "blocks": [{"name": b.name, "heads": [h.name for h in b.heads],
                    "score_terms": [int(h.W_Q.shape[0]) for h in b.heads],
                    "ffn": b.ffn is not None, "units": list(b.ffn.units) if b.ffn is not None else []}
                   for b in model.blocks],
        "meta": _jsonable(model.meta), "weights_sha256": model_io.weights_sha256(model),
    }


def _jsonable(obj):
    """Metadata as plain JSON values (numpy scalars and arrays become numbers and lists)."""
    def plain(x):
        if isinstance(x, (np.integer, np.floating, np.ndarray)):
            return x.tolist()
        raise TypeError(f"metadata value of type {type(x).__name__} cannot be exported")

    return json.loads(json.dumps(obj, default=plain))


def config_args_of(cfg) -> dict[str, Any]:
    """The arguments :func:`config_args` gave, read back from a config (for saving)."""
    out = {}
    for key in _CONFIG_KEYS:
        value = getattr(cfg, key)
        out[key] = float(value) if isinstance(value, (float, np.floating)) else value
    out["dtype"] = str(cfg.dtype).replace("torch.", "")
    return out


def make_config(args: dict[str, Any], names: list[str], info: dict[str, Any]) -> NamedConfig:
    kw = dict(args)
    kw["dtype"] = getattr(torch, kw["dtype"])
    return NamedConfig(**kw, residual_names=list(names), toolkit=dict(info))


def new_hooked(cfg: NamedConfig):
    with warnings.catch_warnings():  # TransformerLens 3 marks HookedTransformer deprecated (kept until 4.0)
        warnings.simplefilter("ignore", DeprecationWarning)
        return HookedTransformer(cfg, move_to_device=False)


def state_dict_of(model: Transformer, args: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every TransformerLens parameter of the export, as float64 numpy arrays."""
    d, D = model.d, args["d_model"]
    H, dh, w = args["n_heads"], args["d_head"], args["d_mlp"]
    one, pos = d, model.layout["pos"]
    emb = model.vocab.embedding_matrix()                    # (size + 1, n_emb)
    W_E = np.zeros((emb.shape[0], D))
    W_E[:, : emb.shape[1]] = emb
    W_pos = np.zeros((args["n_ctx"], D))
    W_pos[:, pos] = np.arange(1, args["n_ctx"] + 1)
    W_pos[:, one] = 1.0
    W_U = np.zeros((D, emb.shape[0]))
    W_U[: emb.shape[1], :] = emb.T
    b_U = np.zeros(emb.shape[0])
    b_U[0] = -np.inf
    sd = {"embed.W_E": W_E, "pos_embed.W_pos": W_pos, "unembed.W_U": W_U, "unembed.b_U": b_U}
    for i, block in enumerate(model.blocks):
        q, k, v, o = (np.zeros((H, D, dh)), np.zeros((H, D, dh)), np.zeros((H, D, dh)), np.zeros((H, dh, D)))
        for j, head in enumerate(block.heads):
            h = head.W_Q.shape[0]
            q[j, :d, :h] = head.W_Q.T
            k[j, :d, :h] = head.W_K.T
            sel, out = _value_factors(head.W_V)
            v[j, :d, : sel.shape[1]] = sel
            o[j, : out.shape[0], :d] = out
        p = f"blocks.{i}."
        sd.update({p + "attn.W_Q": q, p + "attn.W_K": k, p + "attn.W_V": v, p + "attn.W_O": o,
                   p + "attn.b_Q": np.zeros((H, dh)), p + "attn.b_K": np.zeros((H, dh)),
                   p + "attn.b_V": np.zeros((H, dh)), p + "attn.b_O": np.zeros(D)})
        gate, lin, wout, bout = np.zeros((D, w)), np.zeros((D, w)), np.zeros((w, D)), np.zeros(D)
        if block.ffn is not None:
            f = block.ffn
            u = f.width
            gate[:d, :u], gate[one, :u] = f.W_1.T, f.b_1
            lin[:d, :u], lin[one, :u] = f.W_2.T, f.b_2
            wout[:u, :d] = f.W_3.T
            bout[:d] = f.b_3
        sd.update({p + "mlp.W_gate": gate, p + "mlp.W_in": lin, p + "mlp.W_out": wout,
                   p + "mlp.b_in": np.zeros(w), p + "mlp.b_out": bout})
    return sd


def load_state(hooked, arrays: dict[str, Any]) -> None:
    """Put float64 arrays (numpy or torch) into the model's parameters; every parameter must be given."""
    params = dict(hooked.named_parameters())
    missing = sorted(set(params) - set(arrays))
    extra = sorted(set(arrays) - set(params))
    if missing or extra:
        raise ValueError(f"parameters do not match the architecture (missing {missing[:4]}, unexpected {extra[:4]})")
    with torch.no_grad():
        for name, param in params.items():
            value = torch.as_tensor(np.asarray(arrays[name]) if not torch.is_tensor(arrays[name]) else arrays[name],
                                    dtype=torch.float64)
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"parameter {name} has shape {tuple(value.shape)}, expected {tuple(param.shape)}")
            param.copy_(value)


def to_transformer_lens(model: Transformer, n_ctx: int = DEFAULT_N_CTX):
    """The runtime Transformer ``model`` as a float64 ``HookedTransformer`` with the same logits.

    See the module docstring for the exact map. Blocks with fewer heads than the widest block are
    padded with zero heads, and blocks with a narrower FFN (or none) with zero units; the residual
    has one extra constant coordinate, ``export:one``, that carries the FFN biases. ``n_ctx`` is the
    longest sequence the exported model accepts. ``hooked.cfg.residual_names`` names the residual
    coordinates (read activations with :func:`constructions.export.named`), and
    :func:`from_transformer_lens` turns the result back into a runtime Transformer with the same
    weights hash.
    """
    if not isinstance(n_ctx, (int, np.integer)) or n_ctx < 1:
        raise ValueError(f"n_ctx must be a positive integer, got {n_ctx!r}")
    args = config_args(model, int(n_ctx))
    cfg = make_config(args, list(model.layout.names) + [EXPORT_ONE], toolkit_info(model))
    hooked = new_hooked(cfg)
    load_state(hooked, state_dict_of(model, args))
    hooked.eval()
    return hooked


# -- import -----------------------------------------------------------------------------------------
def _np(t) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()


def _check_config(cfg) -> dict[str, Any]:
    info = getattr(cfg, "toolkit", None)
    names = getattr(cfg, "residual_names", None)
    if not info or not names:
        raise ValueError("this HookedTransformer has no residual names or toolkit metadata: only models made by "
                         "constructions.export.to_transformer_lens can be imported")
    if info.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"export format version {info.get('format_version')!r} is not {FORMAT_VERSION}")
    wrong = {key: getattr(cfg, key, None) for key, want in
             (("normalization_type", None), ("gated_mlp", True), ("act_fn", "relu"),
              ("positional_embedding_type", "standard"), ("attention_dir", "causal"), ("attn_only", False),
              ("parallel_attn_mlp", False), ("use_local_attn", False), ("final_rms", False),
              ("post_embedding_ln", False), ("use_qk_norm", False), ("num_experts", None),
              ("use_attention_sinks", False), ("scale_attn_by_inverse_layer_idx", False))
             if getattr(cfg, key, want) != want}
    if wrong:
        raise ValueError(f"the model's configuration is outside Def 3.1 as exported: {wrong}")
    if list(names) != list(info["layout"]) + [EXPORT_ONE] or cfg.d_model != len(names):
        raise ValueError("cfg.residual_names do not match the recorded layout and d_model")
    return info


def _exact(name: str, got: np.ndarray, want: np.ndarray, why: str) -> None:
    if got.shape != want.shape or not np.array_equal(got, want):
        raise ValueError(f"{name} differs from the export's {why}; it is fixed (not a parameter) in the model")


def _zero(name: str, arr: np.ndarray, why: str) -> None:
    if np.any(arr != 0):
        raise ValueError(f"{name} is nonzero: {why}, which a Def 3.1 Transformer cannot express")


def from_transformer_lens(hooked) -> Transformer:
    """The runtime Transformer of a ``HookedTransformer`` made by :func:`to_transformer_lens` and
    possibly edited (trained, patched, ablated weights), for the checkers (``--weights``).

    Every parameter that Def 3.1 has comes back: the score terms of each head (extended past the
    recorded count if an edit made more slots nonzero in both W_Q and W_K), the value map
    ``W_V = (W_V^TL W_O)^T``, the FFN (``b_1``, ``b_2`` from the constant coordinate, ``b_3 = b_out +
    b_in W_out``); padding heads or units that an edit brought to life become extra heads or units.
    Edits that Def 3.1 cannot express raise a one-line ValueError: a changed embedding, position
    embedding or read-out (they are fixed), attention biases, a head reading the constant
    coordinate, or anything written into it. Unedited, the result has the original weights hash.
    """
    cfg = hooked.cfg
    info = _check_config(cfg)
    vocab = Vocab(int(info["n"]), tuple(info["extra"]))
    layout = Layout(list(info["layout"]))
    d = len(layout)
    sd = {name: _np(p) for name, p in hooked.named_parameters()}
    ref = state_dict_of(Transformer(vocab, layout, []), {"d_model": d + 1, "n_heads": 1, "d_head": 1, "d_mlp": 1,
                                                         "n_ctx": cfg.n_ctx})
    for key, why in (("embed.W_E", "fixed word embedding"), ("pos_embed.W_pos", "position embedding"),
                     ("unembed.W_U", "tied read-out"), ("unembed.b_U", "read-out bias (-inf for padding only)")):
        _exact(key, sd[key], ref[key], why)
    records = info["blocks"]
    if len(records) != cfg.n_layers:
        raise ValueError(f"the model has {cfg.n_layers} blocks but the export recorded {len(records)}")
    recorded = info["score_scale"]
    exported = 1.0 / np.sqrt(d) if recorded is None else float(recorded)  # the runtime's scale at export
    unchanged = (not cfg.use_attn_scale and exported == 1.0) or (
        cfg.use_attn_scale and exported != 1.0 and float(cfg.attn_scale) == 1.0 / exported)
    score_scale = recorded if unchanged else (1.0 / float(cfg.attn_scale) if cfg.use_attn_scale else 1.0)
    blocks = [_import_block(sd, f"blocks.{i}.", rec, d) for i, rec in enumerate(records)]
    meta = dict(info.get("meta", {}))
    return Transformer(vocab, layout, blocks, score_scale=score_scale, meta=meta)


def _import_block(sd: dict[str, np.ndarray], p: str, rec: dict, d: int) -> Block:
    for b in ("b_Q", "b_K", "b_V", "b_O"):
        _zero(p + "attn." + b, sd[p + "attn." + b], "an attention bias")
    W_Q, W_K, W_V, W_O = (sd[p + "attn." + f] for f in ("W_Q", "W_K", "W_V", "W_O"))
    for name, arr in (("W_Q", W_Q[:, d]), ("W_K", W_K[:, d]), ("W_V", W_V[:, d])):
        _zero(f"{p}attn.{name} on {EXPORT_ONE}", arr, "a head reading the constant coordinate")
    _zero(f"{p}attn.W_O into {EXPORT_ONE}", W_O[:, :, d], "a head writing the constant coordinate")
    heads = []
    for j in range(W_Q.shape[0]):
        value = (W_V[j, :d] @ W_O[j, :, :d]).T
        recorded = j < len(rec["heads"])
        if not recorded and not np.any(value != 0):
            continue  # a padding head (its output is zero whatever it attends to)
        both = np.flatnonzero(np.any(W_Q[j, :d] != 0, axis=0) & np.any(W_K[j, :d] != 0, axis=0))
        h = max(rec["score_terms"][j] if recorded else 0, int(both[-1]) + 1 if len(both) else 0)
        heads.append(Head(W_Q[j, :d, :h].T.copy(), W_K[j, :d, :h].T.copy(), value,
                          name=rec["heads"][j] if recorded else f"head{j}"))
    gate, lin, wout, bin_, bout = (sd[p + "mlp." + f] for f in ("W_gate", "W_in", "W_out", "b_in", "b_out"))
    _zero(f"{p}mlp.W_out into {EXPORT_ONE}", wout[:, d], "an FFN writing the constant coordinate")
    _zero(f"{p}mlp.b_out on {EXPORT_ONE}", bout[d:], "an FFN writing the constant coordinate")
    live = np.flatnonzero(np.any(wout[:, :d] != 0, axis=1) & np.any(gate != 0, axis=0) & np.any(lin != 0, axis=0))
    width = max(len(rec["units"]) if rec["ffn"] else 0, int(live[-1]) + 1 if len(live) else 0)
    ffn = None
    if rec["ffn"] or width > 0 or np.any(bout[:d] != 0) or np.any(bin_ @ wout[:, :d] != 0):
        units = list(rec["units"]) + [f"unit{u}" for u in range(len(rec["units"]), width)]
        b_3 = bout[:d] + (bin_ @ wout[:, :d] if np.any(bin_ != 0) else 0.0)
        ffn = FFN(gate[:d, :width].T.copy(), gate[d, :width].copy(), lin[:d, :width].T.copy(), lin[d, :width].copy(),
                  wout[:width, :d].T.copy(), np.asarray(b_3, dtype=float).copy(), units=units[:width])
    return Block(heads, ffn, rec["name"])
