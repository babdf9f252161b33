"""python -m verify.turing: passes on library and hand-written machines, catches corrupted weights and
a wrong delta entry with the smallest counterexample, and rejects bad files/inputs with one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from constructions.rag.turing import build_rag_turing
from constructions.runtime import io as model_io
from theory.tasks.turing import TuringTask
from theory.turing import Machine, load_machine
from constructions import registry
from verify import core
from verify import turing as vt

MY_PARITY = {  # the worked example of docs/turing.md, written from the documented format alone
    "name": "my_parity", "description": "binary strings with an odd number of 1s",
    "alphabet": ["0", "1"], "blank": "_", "states": ["even", "odd", "yes", "no"],
    "start": "even", "accept": "yes", "reject": "no",
    "delta": [["even", "0", "even", "0", "R"], ["even", "1", "odd", "1", "R"],
              ["odd", "0", "odd", "0", "R"], ["odd", "1", "even", "1", "R"], ["odd", "_", "yes", "_", "R"]],
}


def test_library_machine_passes(capsys, tmp_path):
    cert = tmp_path / "c.json"
    assert vt.main(["--machine", "brackets", "--max-len", "4", "--no-progress", "--json", str(cert)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("verified: 31 inputs")
    data = json.loads(cert.read_text())
    assert data["verified"] and data["instances_checked"] == 31 and data["memory"]["Lambda"] == 21


def test_hand_written_machine_passes(tmp_path, capsys):
    path = tmp_path / "my_parity.json"
    path.write_text(json.dumps(MY_PARITY))
    assert vt.main(["--machine", str(path), "--max-len", "5", "--no-progress"]) == 0
    assert "verified: 63 inputs" in capsys.readouterr().out


def _save(model, tmp_path, name="w.npz"):
    path = tmp_path / name
    model_io.save(model, str(path))
    return str(path)


def test_corrupted_weight_is_caught(tmp_path, capsys):
    model = build_rag_turing(load_machine("parity"), 3)
    arrays = dict(np.load(_save(model, tmp_path), allow_pickle=False))
    units = model.blocks[3].ffn.units
    j = units.index("f2_0->^.*")  # the unit that starts every lookup pattern
    arrays["rnn.block3.ffn.W_3"][:, j] = 0.0
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    assert vt.main(["--machine", "parity", "--max-len", "3", "--weights", str(bad), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 15 of 15" in out
    assert "smallest counterexample: input (empty)" in out and "expected ^.*" in out


def test_wrong_delta_entry_is_caught(tmp_path, capsys):
    data = load_machine("parity").to_dict()
    # odd reading 0 should keep 0 and stay odd; write 1 instead
    data["delta"] = [r if r[:2] != ["odd", "0"] else ["odd", "0", "odd", "1", "R"] for r in data["delta"]]
    wrong = build_rag_turing(Machine.from_dict(data), 3, offset=0, n_vocab=4)
    path = _save(wrong, tmp_path)
    assert vt.main(["--machine", "parity", "--max-len", "3", "--weights", path, "--no-progress"]) == 1
    out = capsys.readouterr().out
    # the shortest input that reads 0 in state odd is "1 0"
    assert "smallest counterexample: input 1 0 (length 2)" in out
    assert "expected sym:0, model chose sym:1" in out


def test_trace_one_input(capsys):
    assert vt.main(["--machine", "anbn", "--trace", "aabb"]) == 0
    out = capsys.readouterr().out
    assert "match:" in out and "verdict YES" in out


@pytest.mark.parametrize("content, message", [
    ('{"name": "x"}', "missing field 'alphabet'"),
    ("{not json", "invalid JSON"),
])
def test_bad_machine_file_is_one_line_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert vt.main(["--machine", str(path), "--max-len", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err and "Traceback" not in err


@pytest.mark.parametrize("argv, message", [
    (["--machine", "parity", "--trace", "012"], "not in the alphabet"),
    (["--machine", "nosuch", "--max-len", "2"], "unknown machine"),
    (["--machine", "parity"], "--max-len"),
    (["--machine", "parity", "--max-len", "-1"], "--max-len"),
    (["--max-len", "3"], "--machine"),
])
def test_bad_usage_is_one_line_exit_2(capsys, argv, message):
    assert vt.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_model_kinds_come_from_the_catalogue():
    kind = registry.get("turing", "rag")
    assert kind.retrieval and kind.reference is not None
    assert set(registry.families("turing")) == {"rag", "hybrid", "rnn-cot", "transformer"}
    assert registry.get("turing", "rnn-cot").prompt is not None  # Thm 4.1 reads 0^(n-|x|) x


# -- Thm 4.1 (rnn-cot) and the Thm 4.8 chain (transformer) ----------------------------------------------
CUSTOM = str(Path(__file__).parents[1] / "constructions" / "machines" / "first_equals_last.json")


@pytest.mark.parametrize("machine", ["parity", "palindrome", "brackets", "anbn", CUSTOM])
def test_thm41_rnn_passes_at_length_4(machine, capsys, tmp_path):
    cert = tmp_path / "c.json"
    assert vt.main(["--machine", machine, "--max-len", "4", "--model", "rnn-cot", "--json", str(cert),
                    "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("verified: 31 inputs")
    data = json.loads(cert.read_text())
    assert data["model"]["construction"] == "turing/rnn-cot" and data["memory"]["Lambda"] > 0


@pytest.mark.parametrize("machine", ["parity", CUSTOM])
def test_chain_transformer_passes_at_length_2(machine, capsys):
    assert vt.main(["--machine", machine, "--max-len", "2", "--model", "transformer", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("verified: 7 inputs")


@pytest.mark.slow
@pytest.mark.parametrize("machine", ["parity", "div3", "anbn", CUSTOM])
def test_chain_transformer_passes_at_length_4(machine, capsys):
    """About 1, 2, 3 and 2 minutes on the shared 2-core machine (docs/rnn.md); anbn needs 1 GB."""
    assert vt.main(["--machine", machine, "--max-len", "4", "--model", "transformer", "--no-progress"]) == 0
    assert capsys.readouterr().out.startswith("verified: 31 inputs")


def test_corrupted_thm41_weight_is_caught(tmp_path, capsys):
    model = registry.get("turing", "rnn-cot").build(TuringTask("parity", 3))
    arrays = dict(np.load(_save(model, tmp_path), allow_pickle=False))
    units = model.blocks[3].ffn.units
    j = next(i for i, u in enumerate(units) if u.startswith("delta(") and u.endswith(",1)"))
    arrays["rnn.block3.ffn.W_3"][:, j] = 0.0      # the delta row that reads a 1 emits nothing
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    assert vt.main(["--machine", "parity", "--max-len", "3", "--model", "rnn-cot", "--weights", str(bad),
                    "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "smallest counterexample: input 1 (length 1)" in out


def test_corrupted_chain_weight_is_caught(tmp_path, capsys):
    model = registry.get("turing", "transformer").build(TuringTask("parity", 1))
    arrays = dict(np.load(_save(model, tmp_path), allow_pickle=False))
    ffn = model.blocks[2].ffn
    arrays["block2.ffn.W_3"][model.layout["tok:gate:1"], ffn.units.index("AND")] = 0.0  # AND(1, 1) -> tie
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    assert vt.main(["--machine", "parity", "--max-len", "1", "--model", "transformer", "--weights", str(bad),
                    "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "smallest counterexample: input" in out and "expected gate:1" in out


def test_chain_beyond_dense_attention_is_refused(capsys):
    assert vt.main(["--machine", "binary_add", "--max-len", "3", "--model", "transformer"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "10,640 tokens" in err


@pytest.mark.parametrize("model", ["rag", "hybrid"])
def test_min_precision_reports_memory_in_the_papers_units(model, tmp_path, capsys):
    """--min-precision finds p with p passing and p - 2 failing, and the memory is Lambda * p at that p
    (not the bits of the state's values, which understate it)."""
    cert = tmp_path / "c.json"
    assert vt.main(["--machine", "parity", "--max-len", "3", "--model", model, "--min-precision", "--no-progress",
                    "--json", str(cert)]) == 0
    c = json.loads(cert.read_text())
    p = c["min_precision"]
    assert {"p": p - 2, "pass": False} in c["tried"] and {"p": p, "pass": True} in c["tried"]
    model_obj = registry.get("turing", model).build(TuringTask("parity", 3))
    lam = model_obj.shape()["state_dim"]
    assert c["memory"] == {"Lambda": lam, "p": p, "p_source": "measured (--min-precision, exhaustive)",
                           "state_bits": lam * p}
    assert f"Lambda = {lam} numbers x p = {p} (measured) = {lam * p:,} bits" in capsys.readouterr().out
    # the value range alone would claim fewer bits: the paper's unit is the precision the model needs
    assert core.state_memory(registry.get("turing", model), TuringTask("parity", 3), model_obj,
                             TuringTask("parity", 3).domain(), _run(model_obj, model))["p_state"] < p


def _run(model_obj, model):
    task = TuringTask("parity", 3)
    return core.run(registry.get("turing", model), task, model_obj, task.domain(), progress=False)
