"""Thm 5.2 RAG Linear RNNs (Index, AR, c-gram, Counting), both families: ``rag`` (O(1) CoT; quantifier
tokens for Index and Counting) and ``rag-unary`` (Index and Counting without quantifier tokens, O(n) CoT).

The references against plain-Python solvers and the real retriever (random and exhaustive small
domains), the stop rule, the models by teacher forcing, a corrupted weight caught by the checker for
every model, a state whose size does not depend on n, and a CoT length that does not either."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions import registry
from constructions.rag import retrieval as R
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64, Mode
from constructions.runtime.decode import greedy
from constructions.runtime.retrieve import Retriever
from theory.rag import retrieval as rt
from theory.tasks.base import Chunk
from theory.tasks.common import Batch
from theory.tokens import BOS, END_SEARCH, FAILED, NO, START_SEARCH, YES
from tests import strategies as S
from verify import core
from verify import retrieval as vr

BUILD = {("index", "rag"): R.build_rag_index, ("ar", "rag"): R.build_rag_ar,
         ("cgram", "rag"): lambda n: R.build_rag_cgram(n, 3), ("counting", "rag"): R.build_rag_counting,
         ("index", "rag-unary"): R.build_rag_index_unary, ("counting", "rag-unary"): R.build_rag_counting_unary}
FAMILIES = ["rag", "rag-unary"]


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
    return _task_of(task, inst[0], inst[1] if task == "cgram" else 3)


def _task_of(task, n, c=3):
    return registry.task_class(task)(n, c) if task == "cgram" else registry.task_class(task)(n)


def _model(task, family, inst):
    n = inst[0]
    return R.build_rag_cgram(n, inst[1]) if task == "cgram" else BUILD[(task, family)](n)


def _family(task, data):
    return "rag" if task in ("ar", "cgram") else data


def _model_written(ref):
    """The tokens the model writes before the answer: all but the retrieved one and the answer."""
    k = ref.index(END_SEARCH)
    return ref[:k + 1]


@settings(max_examples=80, deadline=None)
@given(S.retrieval_instances(max_n=24), st.sampled_from(FAMILIES))
def test_reference_answer_retrieval_and_stop_rule(case, family):
    task, inst = case
    family = _family(task, family)
    n, c = inst[0], (inst[1] if task == "cgram" else None)
    prompt = _prompt(task, inst)
    ref = rt.retrieval_rag_trace(task, n, c, prompt, unary=family == "rag-unary")
    assert ref[-1] == _brute(task, inst)
    model = _model(task, family, inst)
    vocab = model.vocab
    ids = list(vocab.ids(prompt + _model_written(ref)))
    found = vocab.tokens(Retriever(vocab).retrieve(ids))
    expected = [str(ref[-1])] if task != "counting" else ([str(inst[2])] if ref[-1] == YES else [FAILED])
    assert found == expected
    # the stop rule: nothing the model writes before the answer is in V_A
    answer_set = {str(a) for a in _task(task, inst).answer_set()}
    assert not answer_set & {str(t) for t in _model_written(ref)}
    assert str(ref[-1]) in answer_set


def test_o1_patterns_have_no_number_and_fixed_length():
    for task, c in (("ar", None), ("cgram", 3), ("cgram", 5)):
        for n in (5, 9, 40):
            x = list(range(1, n + 1))
            prompt = [BOS, *x, *x[:(c or 2) - 1]]
            ref = rt.retrieval_rag_trace(task, n, c, prompt)
            assert len(ref) == 5 and not any(str(t).isdigit() for t in _model_written(ref))
    assert rt.index_query(7) == [rt.IDXQ_OPEN, "{7}", rt.IDX_CAPTURE]
    assert rt.count_query(0) == [rt.COUNTQ_OPEN, rt.COUNTQ_STEP, "{1}", rt.COUNTQ_END]


def _search(vocab, prompt, query):
    ids = list(vocab.ids([*prompt, START_SEARCH, *query, END_SEARCH]))
    return vocab.tokens(Retriever(vocab).retrieve(ids))


def test_patterns_on_every_small_instance():
    """Exhaustive: every x over the full alphabet [n] at small n, every query/threshold, the real
    retriever against plain Python."""
    for n in (2, 3, 4):
        words = list(itertools.product(range(1, n + 1), repeat=n))
        vi, vc = R.build_rag_index(n).vocab, R.build_rag_counting(n).vocab
        vu, vcu = R.build_rag_index_unary(n).vocab, R.build_rag_counting_unary(n).vocab
        for x in words:
            x = list(x)
            for i in range(1, n + 1):
                prompt = [BOS, *x, i]
                assert _search(vi, prompt, rt.index_query(i)) == [str(x[i - 1])]
                assert _search(vu, prompt, rt.index_query_unary(i)) == [str(x[i - 1])]
            for m in range(n + 1):
                for q in range(1, n + 1):
                    for t in range(n + 1):
                        prompt = [BOS, *x[:m], q, "0" if t == 0 else t]
                        want = [str(q)] if x[:m].count(q) > t else [FAILED]
                        assert _search(vc, prompt, rt.count_query(t)) == want
                        assert _search(vcu, prompt, rt.count_query_unary(q, t)) == want
    for n in (2, 3, 4, 5):
        for c in range(2, min(n, 4) + 1):
            vocab = R.build_rag_cgram(n, c).vocab
            for x in itertools.product(range(1, n + 1), repeat=n):
                x = list(x)
                for j in range(n - c + 1):
                    q = x[j:j + c - 1]
                    first = next(k for k in range(n - c + 1) if x[k:k + c - 1] == q)
                    assert _search(vocab, [BOS, *x, *q], rt.gram_query(c)) == [str(x[first + c - 1])]


@settings(max_examples=30, deadline=None)
@given(S.retrieval_instances(max_n=24), st.sampled_from(FAMILIES))
def test_models_reproduce_the_reference_on_random_instances(case, family):
    task, inst = case
    family = _family(task, family)
    model = _model(task, family, inst)
    prompt = _prompt(task, inst)
    batch = Batch.from_sequences(model.vocab, [prompt + [_brute(task, inst)]])
    assert core.check(registry.get(task, family), _task(task, inst), model, batch, FLOAT64).failed == 0


@pytest.mark.parametrize("task, family", sorted(BUILD))
def test_checker_cli_exhaustive(task, family, capsys):
    assert vr.main(["--task", task, "--n", "5", "--model", family, "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("verified:")


@pytest.mark.parametrize("task, family", [("index", "rag"), ("counting", "rag"), ("ar", "rag"),
                                          ("index", "rag-unary"), ("counting", "rag-unary")])
def test_paper_precision_and_greedy_decoding(task, family):
    # the instances pass in R_p (p = 17; verify.retrieval --min-precision measures the least p), and
    # greedy decoding with the retriever and the stop rule reproduces the reference
    n = 5
    model = BUILD[(task, family)](n)
    t = registry.task_class(task)(n)
    construction = registry.get(task, family)
    parts = t.exhaustive_batches()
    for _, batch, _ in parts:
        if len(batch) > 3000:
            batch = batch.take(np.arange(0, len(batch), 7))
        assert core.check(construction, t, model, batch, Mode("rp", 17)).failed == 0
    batch = parts[0][1]
    vocab, retriever = model.vocab, Retriever(model.vocab)
    stop = set(t.answer_set_ids(vocab).tolist())
    for r in range(0, len(batch), 97):
        out, stopped = greedy(model, list(batch.prompt(r)), stop, 40, FLOAT64, retriever)
        ref = construction.reference(t, t.instance(Chunk(np.array([r]), batch.take([r])), 0))
        assert stopped and vocab.tokens(out) == [str(tk) for tk in ref]
        assert vocab.token(out[-1]) == vocab.token(batch.answers[r])


def _corrupt(model, tmp_path, prefix):
    """Save the model, and a copy with every FFN unit whose name starts with ``prefix`` silenced."""
    path, bad = tmp_path / "w.npz", tmp_path / "bad.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    hit = 0
    for b, block in enumerate(model.blocks):
        for j, unit in enumerate(block.ffn.units):
            if unit.startswith(prefix):
                arrays[f"rnn.block{b}.ffn.W_3"][:, j] = 0.0
                hit += 1
    assert hit
    np.savez(bad, **arrays)
    return str(path), str(bad)


@pytest.mark.parametrize("task, family, prefix", [
    ("index", "rag", "o=2:qnt"),            # the quantifier {i} is never written
    ("ar", "rag", "o=1:"),                  # the first-occurrence pattern is never written
    ("cgram", "rag", "o=4:num"),            # the answer is not the retrieved token
    ("counting", "rag", "o=3:qnt"),         # the quantifier {t+1} is never written
    ("index", "rag-unary", "o>=2"),         # the skips are never written
    ("counting", "rag-unary", "o>=3:R(z)"), # every threshold t >= 1 emits one repeat too few
])
def test_corrupted_weight_is_caught(task, family, prefix, tmp_path, capsys):
    n = 4
    args = ["--task", task, "--n", str(n), "--model", family, "--no-progress"]
    good, bad = _corrupt(registry.get(task, family).build(_task_of(task, n)), tmp_path, prefix)
    assert vr.main(args + ["--weights", good]) == 0
    capsys.readouterr()
    assert vr.main(args + ["--weights", bad]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "smallest counterexample" in out


def test_state_is_constant_across_n():
    for (task, family), build in BUILD.items():
        dims = {build(n).state_dim for n in (8, 16, 32, 64, 128, 256)}
        assert dims == {R.claim(task, unary=family == "rag-unary")["state_dim"]}
    # the state numbers are bounded by n + CoT length: O(log n) bits each (index at n = 256, i = n)
    n = 256
    x = list(np.random.default_rng(0).integers(1, n + 1, n))
    prompt = [BOS, *x, n]
    for unary, model in ((False, R.build_rag_index(n)), (True, R.build_rag_index_unary(n))):
        ids = model.vocab.ids(prompt + rt.retrieval_rag_trace("index", n, None, prompt, unary=unary))
        res = model.forward(ids[None])[0]
        rows = sorted({int(r) for b in model.blocks for r in b.unit.state_rows()})
        assert np.abs(res[:, rows]).max() <= 2 * n + 10


def _longest_instances(task: str, n: int, rng) -> list[list]:
    """The instances with the longest unary CoT (Index i = n, Counting t = n and t = count) and random
    ones; for AR and c-gram every instance has the same CoT."""
    x = [int(v) for v in rng.integers(1, 3, n)]
    if task == "index":
        return [[BOS, *x, n], [BOS, *x, 1], [BOS, *x, int(rng.integers(1, n + 1))]]
    if task == "counting":
        return [[BOS, *x, 1, n], [BOS, *x, 1, x.count(1)], [BOS, *x, 2, "0"]]
    c = 2 if task == "ar" else 3
    return [[BOS, *x, *x[-c:-1]], [BOS, *x, *x[:c - 1]]]


def _max_cot(task: str, family: str, n: int) -> int:
    construction = registry.get(task, family)
    t = _task_of(task, n)
    model = construction.build(t)
    prompts = _longest_instances(task, n, np.random.default_rng(n))
    batch = Batch.from_sequences(model.vocab, [p + [construction.reference(t, p)[-1]] for p in prompts])
    res = core.build_sequences(construction, t, model, Chunk(np.arange(len(batch)), batch))
    assert all(p is None for p in res.problems), res.problems  # sound: retriever and stop rule
    return int((res.lengths - res.starts - 2).max())


def test_cot_length_is_constant_from_8_to_256():
    """The O(1) claim of Thm 5.2 for the ``rag`` rows: the longest CoT (tokens before the answer) is the
    same at n = 8 and n = 256; the unary rows grow like n."""
    ns = (8, 32, 256)
    for task in ("index", "ar", "cgram", "counting"):
        lengths = {n: _max_cot(task, "rag", n) for n in ns}
        assert len(set(lengths.values())) == 1, (task, lengths)
    assert _max_cot("index", "rag", 8) == 6 and _max_cot("ar", "rag", 256) == 4
    assert _max_cot("counting", "rag", 256) == 7
    for task, grow in (("index", lambda n: n + 4), ("counting", lambda n: n + 6)):
        assert [_max_cot(task, "rag-unary", n) for n in ns] == [grow(n) for n in ns]
