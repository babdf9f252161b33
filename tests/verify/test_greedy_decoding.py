"""Every catalogue entry, decoded the way the paper defines it (Sec 3, App. A.4, Def A.5): greedy arg-max
from the prompt, the real regex retriever after each ``<EndSearch>`` (RAG), and the stop rule (decoding
stops at the first arg-max in the task's answer set V_A). The token it stops at must be the task's
own answer (``task.solve``: plain indexing, counting, networkx, the Turing-machine interpreter), and
the whole decoded sequence must be the construction's reference.

The default run takes a few random instances per entry at small sizes (the RAG IsTree model decodes
slowly: greedy decoding re-runs the whole prefix per token, and a tree on 3 vertices already takes 181
tokens); ``-m slow`` takes more and larger ones. Turing machines: the library machine ``palindrome``,
half of the inputs palindromes.
"""

from __future__ import annotations

import numpy as np
import pytest

from constructions import registry
from theory.tasks.istree import IstreeTask, sample_graph
from theory.tasks.turing import TuringTask
from verify import core

# (task, family) -> [(size, instances), ...] in the default run; the slow run uses SLOW
# The Thm 4.8 Transformers (turing/transformer: the chain TM -> RNN -> circuit -> Transformer, whose
# sequences have 2^L (C + 1) tokens; rnn/transformer) decode one gate bit per token: small sizes only.
DEFAULT = {("istree", "rag"): [(3, 1), (4, 1)], ("istree", "transformer"): [(6, 4)],
           ("istree", "hybrid"): [(6, 4)], ("turing", "rag"): [(4, 2)], ("turing", "hybrid"): [(4, 4)],
           ("turing", "rnn-cot"): [(4, 4)], ("turing", "transformer"): [(1, 2)],
           ("rnn", "rnn-cot"): [(6, 4)], ("rnn", "transformer"): [(3, 2)]}
SLOW = {("istree", "rag"): [(5, 4)], ("istree", "transformer"): [(8, 12)], ("istree", "hybrid"): [(8, 12)],
        ("turing", "rag"): [(6, 8)], ("turing", "hybrid"): [(6, 12)],
        ("turing", "rnn-cot"): [(6, 12)], ("turing", "transformer"): [(2, 3)],
        ("rnn", "rnn-cot"): [(8, 12)], ("rnn", "transformer"): [(4, 4)]}
RETRIEVAL = {"default": [(8, 4)], "slow": [(16, 32)]}
MACHINE = "palindrome"
GRAPHS = ("tree", "uniform", "random", "hard")   # "tree" gives YES, the others mostly NO


def _instances(task, count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    if isinstance(task, TuringTask):   # half of them palindromes (YES), half random words
        words = []
        for k in range(count):
            half = [str(rng.choice(["a", "b"])) for _ in range(int(rng.integers(0, task.n // 2 + 1)))]
            word = half + half[::-1] if k % 2 == 0 else [str(rng.choice(["a", "b"])) for _ in range(task.n)]
            words.append(tuple(word))
        return words
    if isinstance(task, IstreeTask):
        return [sample_graph(task.n, GRAPHS[k % len(GRAPHS)] if task.n >= 4 else "tree", rng)
                for k in range(count)]
    _, chunk = task.domain(samples=count, seed=seed).chunk(0)
    return [task.instance(chunk, r) for r in range(len(chunk))]


def _task(construction, n: int):
    if construction.task is TuringTask:
        return TuringTask(MACHINE, n)
    return registry.task_of_size(construction.task, n)


def _decode_all(construction, size: int, count: int, seed: int) -> None:
    task = _task(construction, size)
    model = construction.build(task)
    for instance in _instances(task, count, seed):
        report = core.decode_one(construction, task, model, instance)
        answer = str(task.solve(instance))
        assert report["stopped"], f"{construction.name}: no answer-set token within the reference length"
        assert report["generated"][-1] == answer, (construction.name, report["prompt"], report["generated"])
        assert report["match"], (construction.name, report.get("position"), report.get("expected"),
                                 report.get("got"))


@pytest.mark.parametrize("construction", registry.CATALOGUE, ids=lambda c: c.name)
def test_greedy_decoding_stops_at_the_solvers_answer(construction):
    key = (construction.task.name, construction.family)
    for size, count in DEFAULT.get(key, RETRIEVAL["default"]):
        _decode_all(construction, size, count, seed=size)


@pytest.mark.slow
@pytest.mark.parametrize("construction", registry.CATALOGUE, ids=lambda c: c.name)
def test_greedy_decoding_more_instances(construction):
    key = (construction.task.name, construction.family)
    for size, count in SLOW.get(key, RETRIEVAL["slow"]):
        _decode_all(construction, size, count, seed=100 + size)


def test_every_family_and_task_is_covered():
    """The catalogue has Transformers, RAG (both vocabularies) and hybrids for every retrieval task,
    IsTree and a Turing machine where built; the test above decodes all of them."""
    names = {c.name for c in registry.CATALOGUE}
    for task in ("index", "ar", "cgram", "counting", "istree"):
        assert {f"{task}/transformer", f"{task}/rag", f"{task}/hybrid"} <= names
    assert {"turing/rag", "turing/hybrid", "index/rag-unary", "counting/rag-unary"} <= names
