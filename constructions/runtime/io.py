"""Weights are data: save any model to ``.npz`` with its layout names and metadata, load it back, hash it.

Array names say where each array sits (``block3.head1.W_Q``, ``block5.ffn.W_3``, ``rnn.block0.unit.A``,
``top.head0.W_V``): they are the models' own :meth:`named_arrays`, so a user can open the file with
numpy, edit a weight and re-check it with ``--weights``. The header (JSON in ``__header__``) holds the
model's signature (kind, vocabulary, layout, score scale) and the names of blocks, heads and units.

:func:`weights_sha256` is the one weights hash: it covers the signature and every array with its name,
dtype and shape, so a model built in memory and the same model saved and loaded hash alike, and
moving, renaming or changing any array changes the hash.
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from constructions.runtime.layout import Layout
from constructions.runtime.rnn import Hybrid, LinearRNN, LinearUnit, RNNBlock
from constructions.runtime.transformer import FFN, FFN_FIELDS, Block, Head, Transformer
from theory.tokens import Vocab

KINDS = ("transformer", "linear_rnn", "hybrid")


# -- hash ------------------------------------------------------------------------------------------
def weights_sha256(model) -> str:
    """sha256 over the signature and every named array (name, float64 bytes, shape), in name order."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model.signature(), sort_keys=True).encode())
    for name, arr in sorted(model.named_arrays().items()):
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        digest.update(f"|{name}|{arr.shape}|".encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


# -- save ------------------------------------------------------------------------------------------
def _block_info(block: Block) -> dict:
    info = {"name": block.name, "heads": [h.name for h in block.heads], "ffn": block.ffn is not None}
    if block.ffn is not None:
        info["units"] = list(block.ffn.units)
    return info


def header(model) -> dict:
    """The JSON header: the signature, the names of blocks, heads and units, and the metadata."""
    head = {**model.signature(), "meta": model.meta}
    if isinstance(model, Transformer):
        head["blocks"] = [_block_info(b) for b in model.blocks]
        return head
    rnn = model.rnn if isinstance(model, Hybrid) else model
    head["rnn_blocks"] = [{"name": b.name, "unit": b.unit.name, "ffn": b.ffn is not None,
                           **({"units": list(b.ffn.units)} if b.ffn is not None else {})}
                          for b in rnn.blocks]
    head["rnn_meta"] = rnn.meta
    if isinstance(model, Hybrid):
        head["top"] = _block_info(model.top)
    return head


def save(model, path: str) -> None:
    arrays = dict(model.named_arrays())
    arrays["__header__"] = np.array(json.dumps(header(model), sort_keys=True, default=_plain))
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def _plain(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"metadata value of type {type(obj).__name__} cannot be saved")


# -- load ------------------------------------------------------------------------------------------
class _Reader:
    """Takes arrays out of an .npz by name, checking each one's shape; every error names file and array."""

    def __init__(self, arrays, path: str, d: int):
        self.arrays, self.path, self.d = arrays, path, d
        self.used: set[str] = set()

    def take(self, name: str, shape: tuple) -> np.ndarray:
        if name not in self.arrays.files:
            raise ValueError(f"weights file {self.path} lacks array {name}")
        arr = self.arrays[name]
        if arr.dtype.kind not in "fiu":
            raise ValueError(f"weights file {self.path}: array {name} is not numeric ({arr.dtype})")
        arr = np.array(arr, dtype=float)
        want = tuple(self.d if s == "d" else s for s in shape)
        if arr.ndim != len(want) or any(w is not None and a != w for a, w in zip(arr.shape, want)):
            shown = tuple("?" if w is None else w for w in want)
            raise ValueError(f"weights file {self.path}: array {name} has shape {arr.shape}, expected {shown}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"weights file {self.path}: array {name} holds a NaN or an infinity")
        self.used.add(name)
        return arr

    def head(self, prefix: str, name: str) -> Head:
        w_q = self.take(f"{prefix}.W_Q", (None, "d"))
        w_k = self.take(f"{prefix}.W_K", (w_q.shape[0], "d"))
        return Head(w_q, w_k, self.take(f"{prefix}.W_V", ("d", "d")), name=name)

    def ffn(self, prefix: str, units) -> FFN:
        w_1 = self.take(f"{prefix}.ffn.W_1", (None, "d"))
        w = w_1.shape[0]
        shapes = {"b_1": (w,), "W_2": (w, "d"), "b_2": (w,), "W_3": ("d", w), "b_3": ("d",)}
        rest = {f: self.take(f"{prefix}.ffn.{f}", shapes[f]) for f in FFN_FIELDS[1:]}
        units = list(units) if units else [f"unit{i}" for i in range(w)]
        if len(units) != w:
            raise ValueError(f"weights file {self.path}: {prefix}.ffn has {w} units but the header names {len(units)}")
        return FFN(w_1, rest["b_1"], rest["W_2"], rest["b_2"], rest["W_3"], rest["b_3"], units=units)

    def block(self, prefix: str, info: dict) -> Block:
        heads = [self.head(f"{prefix}.head{j}", name) for j, name in enumerate(info["heads"])]
        ffn = self.ffn(prefix, info.get("units", [])) if info["ffn"] else None
        return Block(heads, ffn, info["name"])

    def unused(self) -> list[str]:
        return sorted(set(self.arrays.files) - self.used - {"__header__"})


def load(path: str):
    """Load a model saved by :func:`save`; anything malformed raises a one-line ValueError naming the
    file and, where there is one, the array."""
    if not os.path.isfile(path):
        raise ValueError(f"weights file not found: {path}" if not os.path.exists(path)
                         else f"weights path {path} is not a file")
    try:
        arrays = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several kinds for a file that is not an .npz
        raise ValueError(f"cannot read weights file {path}: {exc}") from None
    if not hasattr(arrays, "files"):
        raise ValueError(f"weights file {path} is a single array (.npy), not a saved model (.npz)")
    with arrays:
        if "__header__" not in arrays.files:
            raise ValueError(f"weights file {path} has no __header__: not saved by this toolkit")
        try:
            head = json.loads(str(arrays["__header__"]))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"weights file {path}: __header__ is not JSON ({exc})") from None
        if not isinstance(head, dict):
            raise ValueError(f"weights file {path}: __header__ is a JSON {type(head).__name__}, not an object")
        try:
            return _from_header(head, arrays, path)
        except KeyError as exc:
            raise ValueError(f"weights file {path}: header lacks entry {exc}") from None
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"weights file {path}: malformed header ({exc})") from None


class _Mapping:
    """The read interface of an .npz (``files``, ``[name]``) over a dict of arrays."""

    def __init__(self, arrays: dict):
        self._arrays, self.files = arrays, list(arrays)

    def __getitem__(self, name):
        return self._arrays[name]


def from_arrays(head: dict, arrays: dict, source: str = "<arrays>"):
    """A model from a header (:func:`header`) and its named arrays, with every check :func:`load`
    makes; ``source`` names the origin in error messages."""
    try:
        return _from_header(head, _Mapping(arrays), source)
    except KeyError as exc:
        raise ValueError(f"{source}: header lacks entry {exc}") from None


def _from_header(head: dict, arrays, path: str):
    kind = head["kind"]
    if kind not in KINDS:
        raise ValueError(f"weights file {path}: unknown model kind {kind!r} (expected one of {list(KINDS)})")
    vocab = Vocab(int(head["n"]), tuple(head["extra"]))
    layout = Layout(list(head["layout"]))
    read = _Reader(arrays, path, len(layout))
    if kind == "transformer":
        blocks = [read.block(f"block{i}", info) for i, info in enumerate(head["blocks"])]
        model = Transformer(vocab, layout, blocks, score_scale=head["score_scale"], meta=head["meta"])
    else:
        rblocks = []
        for i, info in enumerate(head["rnn_blocks"]):
            unit = LinearUnit(read.take(f"rnn.block{i}.unit.A", ("d", "d")),
                              read.take(f"rnn.block{i}.unit.B", ("d", "d")), info["unit"])
            ffn = read.ffn(f"rnn.block{i}", info.get("units", [])) if info["ffn"] else None
            rblocks.append(RNNBlock(unit, ffn, info["name"]))
        model = LinearRNN(vocab, layout, rblocks, meta=head["rnn_meta"])
        if kind == "hybrid":
            model = Hybrid(model, read.block("top", head["top"]), score_scale=head["score_scale"],
                           meta=head["meta"])
    extra = read.unused()
    if extra:
        raise ValueError(f"weights file {path} holds arrays the model does not use: {', '.join(extra[:5])}")
    return model


# -- checkers: built or loaded ---------------------------------------------------------------------
def check_compatible(model, reference) -> None:
    """Loaded weights must have the kind, layout and vocabulary of the construction they replace."""
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

