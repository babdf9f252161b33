"""Thm 4.6 Transformers: constant size in n, exact on small exhaustive domains, Hypothesis up to n = 256.

Answers are compared with the one-instance reference solvers ``theory.tasks.<task>.solve`` (pure
Python loops, independent of the batch code and of the weights).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from constructions import registry
from constructions.runtime.arithmetic import FLOAT64, HARD, Rp
from constructions.runtime.decode import teacher_force
from constructions.transformer.ar import CLAIM as AR_CLAIM, build_ar_transformer
from constructions.transformer.cgram import build_cgram_transformer, claim as cgram_claim
from constructions.transformer.counting import CLAIM as COUNTING_CLAIM, build_counting_transformer
from constructions.transformer.index import CLAIM as INDEX_CLAIM, build_index_transformer
from tests.strategies import ar_instances, cgram_instances, counting_instances, index_instances
from theory.tasks import ar, cgram, counting, index
from theory.tasks.common import Batch

SIZES = [4, 5, 16, 64, 256, 1024]


def _shape(model):
    s = model.shape()
    return {"depth": s["depth"], "heads": s["heads"], "width": s["width"]}


@pytest.mark.parametrize("n", SIZES)
def test_size_is_constant_in_n(n):
    assert _shape(build_index_transformer(n)) == INDEX_CLAIM
    assert _shape(build_ar_transformer(n)) == AR_CLAIM
    assert _shape(build_counting_transformer(n)) == COUNTING_CLAIM
    for c in (2, 3, 4):
        assert _shape(build_cgram_transformer(n, c)) == cgram_claim(c)


def test_catalogue_rows_match_built_models():
    for name in ("index", "ar", "cgram", "counting"):
        entry = registry.get(name, "transformer")
        for n in (6, 60):
            task = registry.task_of_size(entry.task, n)
            assert _shape(entry.build(task)) == entry.claim(task), name


def test_parameters_report_their_bits():
    size = build_index_transformer(64).shape()
    assert size["parameter_bits"]["fraction_bits"] == 0 and size["parameter_bits"]["integer_bits"] > 0


def _answers(model, batch: Batch, mode):
    """The model's arg-max at each checked position and whether every instance passed."""
    res = teacher_force(model, batch.ids, batch.check_mask(), mode)
    return res.argmax[np.arange(len(batch)), batch.answer_pos - 1], res.ok


def _assert_solves(model, batch, reference, mode):
    got, ok = _answers(model, batch, mode)
    vocab = model.vocab
    for r in range(len(batch)):
        assert vocab.token(got[r]) == str(reference(r)), vocab.tokens(batch.prompt(r))
    assert ok.all()  # unique arg-max


def _rows(batch, vocab):
    return [vocab.tokens(batch.prompt(r)) for r in range(len(batch))]


MODES = [FLOAT64, HARD, Rp(45)]


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_index_exhaustive(mode):
    n = 6
    model = build_index_transformer(n)
    (_, batch), = index.exhaustive(n)
    rows = _rows(batch, model.vocab)
    _assert_solves(model, batch, lambda r: index.solve(n, [int(t) for t in rows[r][1:-1]], int(rows[r][-1])), mode)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_ar_exhaustive(mode):
    n = 5
    model = build_ar_transformer(n)
    batch = Batch.concat([b for _, b in ar.exhaustive(n)])
    rows = _rows(batch, model.vocab)
    _assert_solves(model, batch, lambda r: ar.solve(n, [int(t) for t in rows[r][1:-1]], int(rows[r][-1])), mode)


@pytest.mark.parametrize("mode", MODES, ids=str)
@pytest.mark.parametrize("c", [2, 3, 4])
def test_cgram_exhaustive(mode, c):
    n = 6 if c < 4 else 8
    model = build_cgram_transformer(n, c)
    batch = Batch.concat([b for _, b in cgram.exhaustive(n, c, budget=5000)])
    rows = _rows(batch, model.vocab)
    ref = lambda r: cgram.solve(n, c, [int(t) for t in rows[r][1:n + 1]], [int(t) for t in rows[r][n + 1:]])  # noqa: E731
    _assert_solves(model, batch, ref, mode)


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_counting_exhaustive(mode):
    n = 4
    model = build_counting_transformer(n)
    batch = Batch.concat([b for _, b in counting.exhaustive(n)])
    rows = _rows(batch, model.vocab)

    def ref(r):
        x, q, t = rows[r][1:-2], rows[r][-2], rows[r][-1]
        return counting.solve(n, [int(v) for v in x], int(q), 0 if t == counting.ZERO else int(t))
    _assert_solves(model, batch, ref, mode)


# -- Hypothesis: n up to 256 ----------------------------------------------------------------------
PROPERTY = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=None)
def _model(kind: str, n: int, c: int = 0):
    return {"index": lambda: build_index_transformer(n), "ar": lambda: build_ar_transformer(n),
            "cgram": lambda: build_cgram_transformer(n, c),
            "counting": lambda: build_counting_transformer(n)}[kind]()


def _predict(model, sequence):
    batch = Batch.from_sequences(model.vocab, [sequence])
    got, ok = _answers(model, batch, FLOAT64)
    return model.vocab.token(got[0]), bool(ok[0])


@PROPERTY
@given(index_instances(max_n=256))
def test_index_property(inst):
    n, x, i = inst
    assert _predict(_model("index", n), index.sequence(n, x, i)) == (str(index.solve(n, x, i)), True)


@PROPERTY
@given(ar_instances(max_n=256))
def test_ar_property(inst):
    n, x, q = inst
    assert _predict(_model("ar", n), ar.sequence(n, x, q)) == (str(ar.solve(n, x, q)), True)


@PROPERTY
@given(cgram_instances(max_n=256))
def test_cgram_property(inst):
    n, c, x, q = inst
    assert _predict(_model("cgram", n, c), cgram.sequence(n, c, x, q)) == (str(cgram.solve(n, c, x, q)), True)


@PROPERTY
@given(counting_instances(max_n=256))
def test_counting_property(inst):
    n, x, q, t = inst
    assert _predict(_model("counting", n), counting.sequence(n, x, q, t)) == (counting.solve(n, x, q, t), True)
