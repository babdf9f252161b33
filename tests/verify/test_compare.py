"""python -m verify.compare: rows for every task and family, memory split into RNN state and KV cache,
corrupted weights make a row fail (exit 1), bad usage is one line (exit 2), curves show n log n."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from constructions.hybrid.retrieval import build_index_hybrid
from constructions.runtime import io as model_io
from constructions import registry
from constructions.runtime.arithmetic import Rp
from verify import compare as vc
from verify import core, retrieval

ARGS = ["--n", "4", "--samples", "8", "--graphs", "2", "--no-progress"]


def test_table_rows_and_memory_split(tmp_path, capsys):
    cert = tmp_path / "c.json"
    assert vc.main(ARGS + ["--precision", "formula", "--json", str(cert)]) == 0
    out = capsys.readouterr().out
    assert "not built" in out  # e.g. no RAG-RNN for the circuit-RNN task
    rows = {(r["task"], r["kind"]): r for r in json.loads(cert.read_text())["rows"]}
    assert len(rows) == len(registry.tasks()) * len(vc.FAMILIES)
    hybrid = rows[("index", "hybrid")]
    model = build_index_hybrid(4)
    p = hybrid["p"]
    assert hybrid["p_source"] == "formula" and p == vc.precision_for(hybrid["longest_sequence"])
    assert hybrid["state_bits"] == model.rnn.state_dim * p
    assert hybrid["kv_cache_bits"] == model.shape()["kv_per_position"] * hybrid["longest_sequence"] * p
    assert rows[("index", "transformer")]["state_bits"] == 0
    assert rows[("istree", "hybrid")]["cot_max"] > rows[("istree", "transformer")]["cot_max"]
    chain = rows[("turing", "transformer")]  # capped size
    assert chain["size"] == vc.SIZE_CAP[("turing", "transformer")]
    for r in rows.values():
        assert not r["built"] or r["verdict"] == "verified"


@pytest.mark.slow
def test_measured_table(tmp_path):
    """The default table: every row short enough is measured in R_p, and needs more than the formula."""
    cert = tmp_path / "c.json"
    assert vc.main(ARGS + ["--json", str(cert)]) == 0
    rows = {(r["task"], r["kind"]): r for r in json.loads(cert.read_text())["rows"]}
    hybrid = rows[("index", "hybrid")]
    assert hybrid["p_source"] == "measured" and hybrid["p"] > vc.precision_for(hybrid["longest_sequence"])
    assert hybrid["state_bits"] == build_index_hybrid(4).rnn.state_dim * hybrid["p"]
    assert rows[("turing", "transformer")]["p_source"] == "formula"  # 1,600 tokens: too long for exact R_p here
    assert all(r["p_source"] == "measured" for r in rows.values() if r["built"] and r["longest_sequence"] <= 1000)


@pytest.mark.parametrize("task,family", [("counting", "rag"), ("index", "hybrid")])
def test_memory_uses_the_min_precision_of_the_checker(task, family, tmp_path, capsys):
    """The table's p for a row is the p that the row's checker finds with --min-precision on the same
    domain (--samples K --seed S draws the instances that the table checks)."""
    cert = tmp_path / "c.json"
    assert retrieval.main(["--task", task, "--n", "4", "--model", family, "--samples", "8", "--seed", "0",
                           "--min-precision", "--no-progress", "--json", str(cert)]) == 0
    checker_p = json.loads(cert.read_text())["min_precision"]
    construction = registry.get(task, family)
    t = vc.make_task(task, 4, family)
    model = construction.build(t)
    domain, _ = vc.small_domain(t, 8, 2, 0)
    res = core.run(construction, t, model, domain, progress=False)
    p, source = vc.row_precision(construction, t, model, domain, res.longest, "measured")
    assert (p, source) == (checker_p, "measured") and p > 3
    # and a model that needs more bits reports more memory: the same row at p - 2 fails
    assert core.run(construction, t, model, domain, Rp(p - 2), progress=False).failed > 0


def test_corrupted_weights_fail_their_row(tmp_path, capsys):
    model = build_index_hybrid(4)
    model.top.heads[0].W_V[:] = 0.0  # the Match head copies nothing
    path = tmp_path / "bad.npz"
    model_io.save(model, str(path))
    cert = tmp_path / "c.json"
    assert vc.main(ARGS + ["--precision", "formula", "--weights", f"index/hybrid={path}", "--json", str(cert)]) == 1
    data = json.loads(cert.read_text())
    assert not data["verified"] and data["failures"][0]["task"] == "index"
    assert "FAILED" in capsys.readouterr().out


def test_bad_usage_is_one_line(capsys):
    for argv in (["--n", "2"], ["--n", "4", "--weights", "index/hybrid"],
                 ["--n", "4", "--weights", "turing/transformer=x"], ["--n", "4", "--samples", "0"]):
        assert vc.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("verify.compare: error") or "error" in line for line in err)


def test_curves_hybrid_n_log_n_transformer_linear(tmp_path):
    cv = vc.curves((8, 16, 32, 64), seed=0, trees=2)
    ns = np.array(cv["n"])
    hyb, tra = np.array(cv["cot"]["hybrid"]), np.array(cv["cot"]["Transformer"])
    assert (tra == 2 * ns - 1).all()                                   # the DFS tour of a tree
    r = hyb / (ns * np.log2(ns))
    assert r.max() / r.min() < 1.5 and hyb[-1] / 64 > 1.8 * hyb[0] / 8
    mem = cv["memory"]["IsTree hybrid"]
    assert mem["state_bits"][-1] < mem["kv_cache_bits"][-1]
    assert vc.plot(cv, str(tmp_path / "f.png")) and (tmp_path / "f.png").exists()
    assert math.isclose(sum(cv["memory"]["Index Transformer"]["state_bits"]), 0)
