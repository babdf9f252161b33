"""python -m verify.compare: rows for every task and family, memory split into RNN state and KV cache,
corrupted weights make a row fail (exit 1), bad usage is one line (exit 2), curves show n log n."""

from __future__ import annotations

import json
import math

import numpy as np

from constructions.hybrid.retrieval import build_index_hybrid
from constructions.runtime import io as model_io
from constructions import registry
from verify import compare as vc

ARGS = ["--n", "4", "--samples", "8", "--graphs", "2", "--no-progress"]


def test_table_rows_and_memory_split(tmp_path, capsys):
    cert = tmp_path / "c.json"
    assert vc.main(ARGS + ["--json", str(cert)]) == 0
    out = capsys.readouterr().out
    assert "not built" in out  # e.g. no Transformer simulates a TM here
    rows = {(r["task"], r["kind"]): r for r in json.loads(cert.read_text())["rows"]}
    assert len(rows) == len(registry.tasks()) * len(vc.FAMILIES)
    hybrid = rows[("index", "hybrid")]
    model = build_index_hybrid(4)
    p = vc.precision_for(hybrid["longest_sequence"])
    assert hybrid["state_bits"] == model.rnn.state_dim * p
    assert hybrid["kv_cache_bits"] == model.shape()["kv_per_position"] * hybrid["longest_sequence"] * p
    assert rows[("index", "transformer")]["state_bits"] == 0
    assert rows[("istree", "hybrid")]["cot_max"] > rows[("istree", "transformer")]["cot_max"]
    for r in rows.values():
        assert not r["built"] or r["verdict"] == "verified"


def test_corrupted_weights_fail_their_row(tmp_path, capsys):
    model = build_index_hybrid(4)
    model.top.heads[0].W_V[:] = 0.0  # the Match head copies nothing
    path = tmp_path / "bad.npz"
    model_io.save(model, str(path))
    cert = tmp_path / "c.json"
    assert vc.main(ARGS + ["--weights", f"index/hybrid={path}", "--json", str(cert)]) == 1
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
