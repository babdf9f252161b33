"""One position convention for every checker: a failure's ``position`` is the 1-based index, in prompt
+ chain of thought + answer, of the token the model had to produce and did not.

Each family is corrupted so that it fails somewhere inside its sequence; the checker's certificate
and the single-instance decoder must report the position that a plain forward pass finds: the first
model-produced token (not one the retriever supplies) that differs from the model's arg-max.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.decode import retrieval_positions
from constructions.runtime.retrieve import Retriever
from theory.tasks.turing import TuringTask
from verify import core, istree, retrieval, turing


def _zero(name):
    def corrupt(arrays, model):
        arrays[name][:] = 0.0
    return corrupt


def _zero_units(block, prefix):
    def corrupt(arrays, model):
        units = model.blocks[block].ffn.units
        cols = [i for i, u in enumerate(units) if u.startswith(prefix)]
        assert cols, prefix
        arrays[f"rnn.block{block}.ffn.W_3"][:, cols] = 0.0
    return corrupt


def _head(block_name, head_name):
    def corrupt(arrays, model):
        block = int(block_name.removeprefix("block"))
        j = next(j for j, h in enumerate(model.blocks[block].heads) if h.name == head_name)
        arrays[f"{block_name}.head{j}.W_V"][:] = 0.0
    return corrupt


# (task, family, checker main, arguments, task instance, corruption)
CASES = [
    ("istree", "transformer", istree.main, ["--n", "5"], lambda: registry.task_class("istree")(5),
     _head("block4", "NEXT2")),
    ("istree", "hybrid", istree.main, ["--n", "4", "--model", "hybrid"], lambda: registry.task_class("istree")(4),
     _zero("top.head0.W_V")),
    ("istree", "rag", istree.main, ["--n", "4", "--model", "rag"], lambda: registry.task_class("istree")(4),
     _zero_units(3, "g10->")),
    ("index", "transformer", retrieval.main, ["--task", "index", "--n", "5"], lambda: registry.task_class("index")(5),
     _zero("block1.head0.W_V")),
    ("counting", "rag-unary", retrieval.main, ["--task", "counting", "--n", "4", "--model", "rag-unary"],
     lambda: registry.task_class("counting")(4), _zero_units(1, "o>=3:R(z)")),
    ("ar", "hybrid", retrieval.main, ["--task", "ar", "--n", "5", "--model", "hybrid"],
     lambda: registry.task_class("ar")(5), _zero("rnn.block0.unit.A")),
    ("turing", "rag", turing.main, ["--machine", "parity", "--max-len", "3"], lambda: TuringTask("parity", 3),
     _zero_units(3, "f2_0->")),
    ("turing", "hybrid", turing.main, ["--machine", "parity", "--max-len", "3", "--model", "hybrid"],
     lambda: TuringTask("parity", 3), _zero("top.head0.W_V")),
]


def _first_wrong_position(model, construction, task, instance) -> int:
    """Independently of the checker core: the 1-based position of the first token the model must
    produce that differs from its arg-max after the prefix before it."""
    prompt = list(model.vocab.ids(task.prompt(instance)))
    ids = prompt + list(model.vocab.ids(construction.reference(task, instance) if construction.reference
                                        else [task.solve(instance)]))
    supplied = retrieval_positions(ids, Retriever(model.vocab))[0] if construction.retrieval else np.zeros(len(ids))
    logits = model.logits(model.forward(np.array([ids])))[0]
    for k in range(len(prompt), len(ids)):     # ids[k] is token k + 1 (1-based)
        if supplied[k]:
            continue
        row = logits[k - 1]
        if np.argmax(row) != ids[k] or np.sum(row == row.max()) > 1:
            return k + 1
    raise AssertionError("the corrupted model reproduces this reference")


def _instance(task, failure):
    if "edges" in failure:
        return [tuple(e) for e in failure["edges"]]
    if "input" in failure:
        return tuple(failure["input"])
    return [int(t) if t.isdigit() else t for t in failure["prompt"]]


@pytest.mark.parametrize("name,family,main,args,make_task,corrupt", CASES, ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_every_checker_reports_the_same_position(name, family, main, args, make_task, corrupt, tmp_path):
    construction, task = registry.get(name, family), make_task()
    model = construction.build(task)
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    model_io.save(model, str(good))
    arrays = dict(np.load(good, allow_pickle=False))
    corrupt(arrays, model)
    np.savez(bad, **arrays)
    cert_path = tmp_path / "c.json"
    assert main(args + ["--weights", str(bad), "--no-progress", "--json", str(cert_path)]) == 1
    failures = json.loads(cert_path.read_text())["failures"]
    broken = model_io.load(str(bad))
    model_failures = [f for f in failures if f["reason"] == "model"]
    assert model_failures
    for f in model_failures[:5]:
        instance = _instance(task, f)
        want = _first_wrong_position(broken, construction, task, instance)
        assert f["position"] == want, (f, want)
        report = core.decode_one(construction, task, broken, instance)
        assert not report["match"] and report["position"] == want
