"""The regression corpus of issue 18: corrupted weights that the old, narrow default domains passed.

``tests/data/corruptions.json`` (written by ``python tests/data/make_corruptions.py``) lists single
weights that, scaled by 1.2 or set to 0, change a construction's behaviour somewhere in a wide
domain (the full alphabet; every edge order; other edge counts) while the old default domain (small
alphabets; one edge order) still passed. Each test rebuilds the model, applies one corruption, saves
the weights and runs the construction's own checker command with its *default* domain: it must
exit 1 with a counterexample (about a second each).
"""

from __future__ import annotations

import json
import os
import shlex

import pytest

from constructions import registry
from constructions.runtime import io as model_io
from theory.tasks.turing import TuringTask
from verify import istree, retrieval, turing

CORPUS = os.path.join(os.path.dirname(__file__), os.pardir, "data", "corruptions.json")
MAINS = {"verify.istree": istree.main, "verify.retrieval": retrieval.main, "verify.turing": turing.main}


def _records() -> list[dict]:
    with open(CORPUS) as handle:
        return json.load(handle)["corruptions"]


def _id(r: dict) -> str:
    return f"{r['construction']}:{r['array']}{r['index']}x{r['factor']}"


def _argv(construction: registry.Construction, params: dict) -> tuple[str, list[str]]:
    """The catalogue's checker command for this construction at the record's size."""
    words = shlex.split(construction.checker)
    assert words[:2] == ["python", "-m"], construction.checker
    module, args = words[2], words[3:]
    out = []
    for w in args:
        if w == "N":
            w = str(params["n"])
        elif w == "L":
            w = str(params["max_len"])
        elif w == "M":
            w = params["machine"]
        out.append(w)
    return module, out


def _check(record: dict, tmp_path, capsys) -> None:
    task_name, family = record["construction"].split("/")
    construction = registry.get(task_name, family)
    params = record["params"]
    task = (TuringTask(params["machine"], params["max_len"]) if task_name == "turing"
            else registry.task_class(task_name)(params["n"]))
    model = construction.build(task)
    arrays = model.named_arrays()
    index = tuple(record["index"])
    assert arrays[record["array"]][index] != 0, "the corpus names a weight that is zero in today's build"
    arrays[record["array"]][index] *= record["factor"]
    path = str(tmp_path / "corrupted.npz")
    model_io.save(model, path)
    module, argv = _argv(construction, params)
    code = MAINS[module]([*argv, "--weights", path, "--no-progress", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 1, f"{_id(record)}: the default run exited {code}\n{out[-2000:]}"


def test_corpus_is_current():
    records = _records()
    assert records, "the corpus is empty: run python tests/data/make_corruptions.py"
    assert all(r["caught_by_default"] for r in records), "the generator recorded a fault the default run missed"
    names = {r["construction"] for r in records}
    assert {"istree/hybrid", "index/transformer"} <= names


@pytest.mark.parametrize("record", _records(), ids=_id)
def test_default_run_catches(record, tmp_path, capsys):
    _check(record, tmp_path, capsys)
