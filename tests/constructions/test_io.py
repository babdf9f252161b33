"""Weights files: one hash per set of weights, every array's shape checked on load, clear errors.

The hash must identify the weights whatever path they took (built, saved, loaded) and must change
when any array changes, moves to another place in the model, or is renamed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.transformer import Block
from constructions.transformer.cgram import build_cgram_transformer

MODELS = {c.name: c.build(registry.task_of_size(c.task, c.sizes[0])) for c in registry.CATALOGUE
          if c.name in ("cgram/transformer", "ar/hybrid", "counting/rag")}


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(MODELS)), st.data())
def test_changing_any_entry_changes_the_hash(name, data):
    model = MODELS[name]
    before = model_io.weights_sha256(model)
    arrays = model.named_arrays()
    array = data.draw(st.sampled_from(sorted(arrays)))
    arr = arrays[array]
    index = tuple(data.draw(st.integers(0, s - 1)) for s in arr.shape)
    old = arr[index]
    arr[index] = old + data.draw(st.sampled_from([1.0, -0.5, 2.0**-30, 1e6]))
    try:
        assert model_io.weights_sha256(model) != before
    finally:
        arr[index] = old
    assert model_io.weights_sha256(model) == before


def test_moving_a_head_to_another_block_changes_the_hash():
    """The collision the audit found: the same arrays in another block used to hash alike."""
    model = build_cgram_transformer(6, 3)
    before = model_io.weights_sha256(model)
    head = model.blocks[1].heads.pop(0)
    model.blocks[2].heads.insert(0, head)
    assert model_io.weights_sha256(model) != before
    model.blocks[2].heads.pop(0)
    model.blocks.insert(2, Block([head], None, "moved"))  # or into a block of its own
    assert model_io.weights_sha256(model) != before


def test_renaming_an_array_changes_the_hash(tmp_path):
    model = MODELS["ar/hybrid"]
    path, moved = tmp_path / "w.npz", tmp_path / "moved.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    # swap two same-shaped arrays' names: the file still loads, and the model is a different one
    a, b = "rnn.block0.unit.A", "rnn.block1.unit.A"
    arrays[a], arrays[b] = arrays[b], arrays[a]
    np.savez(moved, **arrays)
    assert model_io.weights_sha256(model_io.load(str(moved))) != model_io.weights_sha256(model)


@pytest.mark.parametrize("edit,message", [
    (lambda a: a.update({"block1.head0.W_Q": a["block1.head0.W_Q"][0]}), "block1.head0.W_Q has shape"),
    (lambda a: a.update({"block1.head0.W_V": np.zeros((13, 14))}), "block1.head0.W_V has shape (13, 14)"),
    (lambda a: a.update({"block1.head0.W_V": np.zeros((40, 40))}), "block1.head0.W_V has shape (40, 40)"),
    (lambda a: a.update({"block0.ffn.b_1": np.full(a["block0.ffn.b_1"].shape, np.nan)}), "NaN"),
    (lambda a: a.pop("block1.head0.W_K"), "lacks array block1.head0.W_K"),
    (lambda a: a.update({"extra": np.zeros(3)}), "does not use: extra"),
    (lambda a: a.update({"__header__": np.array(json.dumps([1, 2]))}), "JSON list, not an object"),
    (lambda a: a.update({"__header__": np.array("{not json")}), "not JSON"),
])
def test_malformed_files_are_one_line_errors(tmp_path, edit, message):
    path = tmp_path / "w.npz"
    model_io.save(build_cgram_transformer(6, 3), str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    edit(arrays)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as err:
        model_io.load(str(bad))
    assert str(bad) in str(err.value) and "\n" not in str(err.value)


def test_npy_and_missing_files_are_one_line_errors(tmp_path):
    npy = tmp_path / "w.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        model_io.load(str(npy))
    with pytest.raises(ValueError, match="not found"):
        model_io.load(str(tmp_path / "missing.npz"))
    with pytest.raises(ValueError, match="not a file"):
        model_io.load(str(tmp_path))
