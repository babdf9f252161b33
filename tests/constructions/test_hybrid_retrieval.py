"""Thm 5.6 hybrids (Linear RNN + one attention layer): constant size, exact answers against the
one-instance reference solvers (theory.tasks.<task>.solve), corrupted weights caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from constructions import registry
from constructions.hybrid import retrieval as H
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64, HARD
from constructions.runtime.decode import teacher_force
from tests.strategies import ar_instances, cgram_instances, counting_instances, index_instances
from theory.tasks import ar, cgram, counting, index
from theory.tasks.common import Batch
from verify import core
from verify import retrieval as vr

BUILD = {"index": lambda n: H.build_index_hybrid(n), "ar": H.build_ar_hybrid,
         "cgram": lambda n: H.build_cgram_hybrid(n, 3), "counting": H.build_counting_hybrid}


def _shape(model):
    s = model.shape()
    return {k: s[k] for k in ("depth", "rnn_depth", "heads", "width", "state_dim")}


@pytest.mark.parametrize("n", [4, 16, 256])
def test_size_is_constant_and_as_claimed(n):
    for task, build in BUILD.items():
        assert _shape(build(n)) == H.claim(task), task
    assert _shape(H.build_cgram_hybrid(n, 4)) == H.claim("cgram", 4)


def _answers(model, batch: Batch, mode=FLOAT64):
    res = teacher_force(model, batch.ids, batch.check_mask(), mode)
    return [model.vocab.token(t) for t in res.argmax[np.arange(len(batch)), batch.answer_pos - 1]], res.ok


def _prompt_parts(model, batch, r):
    return [int(t) if t.isdigit() else t for t in model.vocab.tokens(batch.prompt(r))[1:]]


@pytest.mark.parametrize("mode", [FLOAT64, HARD], ids=str)
def test_exhaustive_against_reference_solvers(mode):
    n = 5
    for task, build in BUILD.items():
        model = build(n)
        t = registry.task_class(task)(n)
        for _, batch, _ in t.exhaustive_batches():
            got, ok = _answers(model, batch, mode)
            assert ok.all(), task
            for r in range(0, len(batch), max(1, len(batch) // 200)):  # solver calls are slow Python
                toks = _prompt_parts(model, batch, r)
                if task == "index":
                    want = index.solve(n, toks[:-1], toks[-1])
                elif task == "ar":
                    want = ar.solve(n, toks[:-1], toks[-1])
                elif task == "cgram":
                    want = cgram.solve(n, 3, toks[:-2], toks[-2:])
                else:
                    t = 0 if toks[-1] == counting.ZERO else toks[-1]
                    want = counting.solve(n, toks[:-2], toks[-2], t)
                assert got[r] == str(want), (task, toks)


SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(index_instances(max_n=64))
def test_index_random(inst):
    n, x, i = inst
    batch = Batch.from_sequences(index.vocab(n), [index.sequence(n, x, i)])
    got, ok = _answers(H.build_index_hybrid(n), batch)
    assert ok.all() and got[0] == str(index.solve(n, x, i))


@SETTINGS
@given(ar_instances(max_n=64))
def test_ar_random(inst):
    n, x, q = inst
    batch = Batch.from_sequences(ar.vocab(n), [ar.sequence(n, x, q)])
    got, ok = _answers(H.build_ar_hybrid(n), batch)
    assert ok.all() and got[0] == str(ar.solve(n, x, q))


@SETTINGS
@given(cgram_instances(max_n=64))
def test_cgram_random(inst):
    n, c, x, q = inst
    batch = Batch.from_sequences(cgram.vocab(n, c), [cgram.sequence(n, c, x, q)])
    got, ok = _answers(H.build_cgram_hybrid(n, c), batch)
    assert ok.all() and got[0] == str(cgram.solve(n, c, x, q))


@SETTINGS
@given(counting_instances(max_n=64))
def test_counting_random(inst):
    n, x, q, t = inst
    batch = Batch.from_sequences(counting.vocab(n), [counting.sequence(n, x, q, t)])
    got, ok = _answers(H.build_counting_hybrid(n), batch)
    assert ok.all() and got[0] == counting.solve(n, x, q, t)


def test_memory_split_state_vs_kv_cache():
    # The RNN state is constant in n; the KV cache grows with the context (Def 5.5).
    small, big = H.build_ar_hybrid(8), H.build_ar_hybrid(512)
    assert small.rnn.state_dim == big.rnn.state_dim == 5
    assert small.shape()["kv_per_position"] == big.shape()["kv_per_position"] == 4


def test_corrupted_weights_fail_the_checker(tmp_path):
    model = H.build_ar_hybrid(5)
    path = tmp_path / "w.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    arrays["rnn.block0.unit.A"][:] = 0.0  # the shift register forgets: prev1 is always 0
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    loaded = model_io.load(str(bad))
    construction, task = registry.get("ar", "hybrid"), registry.task_class("ar")(5)
    res = core.run(construction, task, loaded, task.domain(), FLOAT64, progress=False)
    assert res.failed > 0 and res.failures and res.failures[0]["expected"] != res.failures[0]["got"]
    # the unmodified file passes the same check
    assert core.run(construction, task, model_io.load(str(path)), task.domain(), progress=False).failed == 0


@pytest.mark.parametrize("task", sorted(BUILD))
def test_checker_cli_passes(task, capsys):
    assert vr.main(["--task", task, "--n", "5", "--model", "hybrid", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("verified:")


def test_checker_cli_rejects_bad_input(capsys):
    assert vr.main(["--task", "index", "--n", "1", "--model", "hybrid", "--no-progress"]) == 2
    assert vr.main(["--task", "index", "--n", "5", "--model", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all("error" in line for line in err)
