"""The catalogue: every construction's claimed shape holds and does not change with n; lookups fail
clearly; one set of weights has one hash whichever path it took."""

from __future__ import annotations

import pytest

from constructions import registry
from constructions.runtime import io as model_io


@pytest.mark.parametrize("entry", registry.CATALOGUE, ids=lambda e: e.name)
def test_claimed_shape_holds_for_every_n(entry):
    for n in entry.sizes:
        task = registry.task_of_size(entry.task, n)
        shape = entry.build(task).shape()
        for key, claimed in entry.claim(task).items():
            assert shape[key] == claimed, f"{entry.name} at n = {n}: {key} is {shape[key]}, claimed {claimed}"


def test_names_are_unique_and_lookup_fails_clearly():
    names = [e.name for e in registry.CATALOGUE]
    assert len(names) == len(set(names))
    with pytest.raises(ValueError, match="no 'nope' construction for task 'istree'"):
        registry.get("istree", "nope")
    with pytest.raises(ValueError, match="no construction for task 'nope'"):
        registry.get("nope", "transformer")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(registry.CATALOGUE[0])


@pytest.mark.parametrize("entry", registry.CATALOGUE, ids=lambda e: e.name)
def test_one_hash_built_saved_and_loaded(entry, tmp_path):
    task = registry.task_of_size(entry.task, entry.sizes[0])
    built = entry.build(task)
    path = tmp_path / "w.npz"
    model_io.save(built, str(path))
    loaded = model_io.load(str(path))
    assert model_io.weights_sha256(loaded) == model_io.weights_sha256(built)
    assert model_io.weights_sha256(entry.build(task)) == model_io.weights_sha256(built)  # deterministic
