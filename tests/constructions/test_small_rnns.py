"""The small library RNNs (parity, count of 1s mod 3) against plain Python on every input up to a
length, in float64 and in their stated R_p precision; a corrupted weight is caught."""

from __future__ import annotations

import numpy as np
import pytest

from constructions.rnn import library
from constructions.runtime.arithmetic import Rp
from constructions.runtime.decode import greedy, model_check_mask, teacher_force
from theory.tokens import NO, YES


def check(entry, model, L, mode=None):
    seqs = [model.vocab.ids(entry.prompt(w, L) + entry.reference(w)) for w in entry.words(L)]
    lengths = np.array([len(s) for s in seqs])
    ids = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
    starts = np.array([len(entry.prompt(w, L)) - 1 for w in entry.words(L)])
    return teacher_force(model, ids, model_check_mask(lengths, starts), *(() if mode is None else (mode,))).ok


@pytest.mark.parametrize("name", library.NAMES)
def test_every_input_up_to_8(name):
    entry = library.get(name)
    model = entry.build(8)
    assert check(entry, model, 8).all()
    assert check(entry, model, 8, Rp(model.meta["p"])).all()
    assert model.shape()["depth"] == 1 and model.state_dim == 1


def test_greedy_decoding():
    entry = library.get("mod3")
    model = entry.build(5)
    vocab = model.vocab
    for w in [("1", "1", "0", "1"), (), ("1", "1", "1")]:
        out, stopped = greedy(model, list(vocab.ids(entry.prompt(w, 5))), {vocab.id(YES), vocab.id(NO)}, 5)
        assert stopped and vocab.tokens(out) == entry.reference(w)


def test_a_corrupted_weight_is_caught():
    entry = library.get("parity")
    model = entry.build(4)
    model.blocks[0].unit.B[:] = 0.0  # the count never moves
    ok = check(entry, model, 4)
    assert not ok.all() and ok.any()
