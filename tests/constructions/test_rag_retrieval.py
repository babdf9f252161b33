"""Thm 5.2 RAG Linear RNNs (Index, AR, c-gram, Counting): the reference sequences against independent
solvers and the real retriever, the models by teacher forcing (exhaustive and random), a corrupted
weight caught by the checker, the textbook-safe regexes failing under token-joined patterns, and
a state whose size does not depend on n."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings

from constructions import registry
from constructions.rag import retrieval as R
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64, Mode
from constructions.runtime.decode import greedy
from constructions.runtime.retrieve import Retriever
from theory.rag import retrieval as rt
from theory.tasks.common import Batch
from theory.tokens import BOS, FAILED, NO, YES
from tests import strategies as S
from verify import core
from verify import retrieval as vr

BUILD = {"index": R.build_rag_index, "ar": R.build_rag_ar, "cgram": lambda n: R.build_rag_cgram(n, 3),
         "counting": R.build_rag_counting}


def _prompt(task, inst):
    if task == "cgram":
        n, c, x, q = inst
        return [BOS, *x, *q]
    if task == "counting":
        n, x, q, t = inst
        return [BOS, *x, q, "0" if t == 0 else t]
    n, x, q = inst
    return [BOS, *x, q]


def _brute(task, inst):
    """Independent answers: plain Python, no task module."""
    if task == "index":
        _, x, i = inst
        return x[i - 1]
    if task == "ar":
        _, x, q = inst
        return next(x[j + 1] for j in range(len(x) - 1) if x[j] == q)
    if task == "cgram":
        _, c, x, q = inst
        return next(x[j + c - 1] for j in range(len(x) - c + 1) if x[j:j + c - 1] == q)
    _, x, q, t = inst
    return YES if x.count(q) > t else NO


def _task(task, inst):
    n = inst[0]
    return registry.task_class(task)(n, inst[1]) if task == "cgram" else registry.task_class(task)(n)


def _model(task, inst):
    n = inst[0]
    return R.build_rag_cgram(n, inst[1]) if task == "cgram" else BUILD[task](n)


@settings(max_examples=60, deadline=None)
@given(S.retrieval_instances(max_n=24))
def test_reference_answer_and_retrieval_are_right(case):
    task, inst = case
    n, c = inst[0], (inst[1] if task == "cgram" else None)
    prompt = _prompt(task, inst)
    ref = rt.retrieval_rag_trace(task, n, c, prompt)
    assert ref[-1] == _brute(task, inst)
    vocab = _model(task, inst).vocab
    ids = list(vocab.ids(prompt + ref[:ref.index("<EndSearch>") + 1]))
    found = vocab.tokens(Retriever(vocab).retrieve(ids))
    expected = [str(ref[-1])] if task != "counting" else ([str(inst[2])] if ref[-1] == YES else [FAILED])
    assert found == expected


@settings(max_examples=25, deadline=None)
@given(S.retrieval_instances(max_n=24))
def test_models_reproduce_the_reference_on_random_instances(case):
    task, inst = case
    model = _model(task, inst)
    prompt = _prompt(task, inst)
    batch = Batch.from_sequences(model.vocab, [prompt + [_brute(task, inst)]])
    t = _task(task, inst)
    assert core.check(registry.get(task, "rag"), t, model, batch, FLOAT64).failed == 0


@pytest.mark.parametrize("task", sorted(BUILD))
def test_checker_cli_exhaustive(task, capsys):
    assert vr.main(["--task", task, "--n", "5", "--model", "rag", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("verified:")


@pytest.mark.parametrize("task", ["index", "counting"])
def test_paper_precision_and_greedy_decoding(task):
    # the instances pass in R_p (measured minimum at n = 6: p = 11 index, 17 counting), and greedy
    # decoding with the retriever reproduces the reference
    n = 5
    model = BUILD[task](n)
    t = registry.task_class(task)(n)
    parts = t.exhaustive_batches()
    for _, batch, _ in parts:
        assert core.check(registry.get(task, "rag"), t, model, batch, Mode("rp", 17)).failed == 0
    batch = parts[0][1]
    vocab, retriever = model.vocab, Retriever(model.vocab)
    for r in range(0, len(batch), 97):
        out, stopped = greedy(model, list(batch.prompt(r)), set(), 40, FLOAT64, retriever)
        ref = rt.retrieval_rag_trace(task, n, None, vocab.tokens(batch.prompt(r)))
        assert vocab.tokens(out[:len(ref)]) == [str(t) for t in ref]


def test_corrupted_weight_is_caught(tmp_path, capsys):
    model = R.build_rag_counting(4)
    path, bad = tmp_path / "w.npz", tmp_path / "bad.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    # block 2's repeat-fragment units: every threshold t >= 1 then emits one repeat too few
    units = model.blocks[1].ffn.units
    col = units.index("o>=3:R(z)")
    arrays["rnn.block1.ffn.W_3"][:, col] = 0.0
    np.savez(bad, **arrays)
    assert vr.main(["--task", "counting", "--n", "4", "--model", "rag", "--weights", str(path),
                    "--no-progress"]) == 0
    capsys.readouterr()
    assert vr.main(["--task", "counting", "--n", "4", "--model", "rag", "--weights", str(bad),
                    "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "smallest counterexample" in out


def test_state_is_constant_across_n():
    for task, build in BUILD.items():
        dims = {build(n).state_dim for n in (8, 16, 32, 64, 128, 256)}
        assert dims == {R.claim(task)["state_dim"]}
    # the state numbers are bounded by n + CoT length: O(log n) bits each (index at n = 256, i = n)
    n = 256
    model = R.build_rag_index(n)
    x = list(np.random.default_rng(0).integers(1, n + 1, n))
    prompt = [BOS, *x, n]
    ids = model.vocab.ids(prompt + rt.retrieval_rag_trace("index", n, None, prompt))
    res = model.forward(ids[None])[0]
    rows = sorted({int(r) for b in model.blocks for r in b.unit.state_rows()})
    assert np.abs(res[:, rows]).max() <= 2 * n + 10


def test_spec_safe_forms_fail_when_emitted_as_tokens():
    text = "<s> 3 5 3 7 3"
    # the usual safe form `(?:^| )q (\S+)`; emitted as tokens it becomes `(?:^| ) 3 (\S+)` (two spaces)
    assert re.search(r"(?:^| ) 3 (\S+)", text) is None
    assert re.search(" ".join(map(str, rt.gram_query([3]))), text).group(1) == "5"
    # Counting: without a guard the query token itself is counted (q = 4 occurs twice in the data)
    text = "<s> 4 1 4 4 2"  # data 4 1 4, query 4, threshold 2
    unguarded = " ".join([rt.COUNT_OPEN, "4", rt.COUNT_REPEAT, rt.COUNT_REPEAT])
    assert re.search(unguarded, text) is not None            # would say "more than 2": wrong
    assert re.search(" ".join(map(str, rt.count_query(4, 2))), text) is None   # ours: FAILED -> NO
    # `((?:.*?(?:^| )v(?= |$)){t+1})` needs the number t+1 inside {}: as tokens it is literal text
    assert re.search(r"((?:.*?(?:^| )4(?= |$)){ 2 })", "<s> 4 1 4 4 1") is None
