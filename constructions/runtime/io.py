"""Weights are data: save any model to ``.npz`` with its layout names and metadata, and load it back.

Array names are readable (``block3.head1.W_Q``, ``block5.ffn.W_3``, ``rnn.block0.unit.A``, ...), so a
user can open the file with numpy, edit a weight and re-check it with ``--weights``.
"""

from __future__ import annotations

import json

import numpy as np

from constructions.runtime.layout import Layout
from constructions.runtime.rnn import Hybrid, LinearRNN, LinearUnit, RNNBlock
from constructions.runtime.transformer import FFN, Block, Head, Transformer
from theory.tokens import Vocab

_FFN_FIELDS = ("W_1", "b_1", "W_2", "b_2", "W_3", "b_3")


def _put_block(arrays: dict, prefix: str, block: Block) -> dict:
    info = {"name": block.name, "heads": [h.name for h in block.heads], "ffn": block.ffn is not None}
    for j, head in enumerate(block.heads):
        for f in ("W_Q", "W_K", "W_V"):
            arrays[f"{prefix}.head{j}.{f}"] = getattr(head, f)
    if block.ffn is not None:
        for f in _FFN_FIELDS:
            arrays[f"{prefix}.ffn.{f}"] = getattr(block.ffn, f)
        info["units"] = block.ffn.units
    return info


def _get_ffn(arrays, prefix: str, units) -> FFN:
    return FFN(*(np.array(arrays[f"{prefix}.ffn.{f}"], dtype=float) for f in _FFN_FIELDS), units=list(units))


def _get_block(arrays, prefix: str, info: dict) -> Block:
    heads = [Head(*(np.array(arrays[f"{prefix}.head{j}.{f}"], dtype=float) for f in ("W_Q", "W_K", "W_V")),
                  name=name) for j, name in enumerate(info["heads"])]
    ffn = _get_ffn(arrays, prefix, info.get("units", [])) if info["ffn"] else None
    return Block(heads, ffn, info["name"])


def save(model, path: str) -> None:
    arrays = to_arrays(model)
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def weights_sha256(model) -> str:
    """A hash of the weights and header that does not depend on the .npz container (zip timestamps)."""
    import hashlib

    digest = hashlib.sha256()
    for name, arr in sorted(to_arrays(model).items()):
        arr = np.asarray(arr)
        digest.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return digest.hexdigest()


def to_arrays(model) -> dict[str, np.ndarray]:
    """Every weight as a named array, plus ``__header__`` (JSON: kind, vocabulary, layout, metadata)."""
    arrays: dict[str, np.ndarray] = {}
    header = {"kind": model.kind, "meta": model.meta}
    if isinstance(model, Transformer):
        rnn = None
        header.update(n=model.vocab.n, extra=list(model.vocab.extra), layout=model.layout.names,
                      score_scale=model.score_scale,
                      blocks=[_put_block(arrays, f"block{i}", b) for i, b in enumerate(model.blocks)])
    else:
        rnn = model.rnn if isinstance(model, Hybrid) else model
        header.update(n=rnn.vocab.n, extra=list(rnn.vocab.extra), layout=rnn.layout.names)
        rblocks = []
        for i, b in enumerate(rnn.blocks):
            arrays[f"rnn.block{i}.unit.A"] = b.unit.A
            arrays[f"rnn.block{i}.unit.B"] = b.unit.B
            info = {"name": b.name, "unit": b.unit.name, "ffn": b.ffn is not None}
            if b.ffn is not None:
                for f in _FFN_FIELDS:
                    arrays[f"rnn.block{i}.ffn.{f}"] = getattr(b.ffn, f)
                info["units"] = b.ffn.units
            rblocks.append(info)
        header["rnn_blocks"] = rblocks
        header["rnn_meta"] = rnn.meta
        if isinstance(model, Hybrid):
            header["top"] = _put_block(arrays, "top", model.top)
            header["score_scale"] = model.score_scale
    arrays["__header__"] = np.array(json.dumps(header, sort_keys=True))
    return arrays


def load(path: str):
    """Load a model saved by :func:`save`; a malformed file raises ValueError naming the problem."""
    try:
        arrays = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ValueError(f"weights file not found: {path}") from None
    except Exception as exc:  # zipfile/format errors from numpy
        raise ValueError(f"cannot read weights file {path}: {exc}") from None
    try:
        header = json.loads(str(arrays["__header__"]))
        vocab = Vocab(int(header["n"]), tuple(header["extra"]))
        layout = Layout(list(header["layout"]))
        if header["kind"] == "transformer":
            blocks = [_get_block(arrays, f"block{i}", info) for i, info in enumerate(header["blocks"])]
            return Transformer(vocab, layout, blocks, score_scale=header["score_scale"], meta=header["meta"])
        rblocks = []
        for i, info in enumerate(header["rnn_blocks"]):
            unit = LinearUnit(np.array(arrays[f"rnn.block{i}.unit.A"], dtype=float),
                              np.array(arrays[f"rnn.block{i}.unit.B"], dtype=float), info["unit"])
            ffn = _get_ffn(arrays, f"rnn.block{i}", info.get("units", [])) if info["ffn"] else None
            rblocks.append(RNNBlock(unit, ffn, info["name"]))
        rnn = LinearRNN(vocab, layout, rblocks, meta=header["rnn_meta"])
        if header["kind"] == "linear_rnn":
            return rnn
        return Hybrid(rnn, _get_block(arrays, "top", header["top"]), score_scale=header["score_scale"],
                      meta=header["meta"])
    except KeyError as exc:
        raise ValueError(f"weights file {path} lacks entry {exc}") from None


def check_compatible(model, reference) -> None:
    """Loaded weights must have the shapes of the construction they replace."""
    if type(model) is not type(reference):
        raise ValueError(f"weights are a {model.kind}, expected a {reference.kind}")
    if model.layout.names != reference.layout.names or model.vocab != reference.vocab:
        raise ValueError("weights file has a different layout or vocabulary than the construction for this n")


def load_or_build(path: str | None, built):
    """The model a checker should check: ``built`` itself, or weights loaded from ``path`` that must
    have the construction's layout and vocabulary (a one-line ValueError otherwise)."""
    if path is None:
        return built
    model = load(path)
    check_compatible(model, built)
    return model
