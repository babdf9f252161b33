"""python -m verify.rnn: the Thm 4.8 Transformer of every library RNN and of a circuit file written from
docs/rnn.md passes; a corrupted gate (through a circuit file) and a corrupted Transformer weight
(through --weights) give exit 1 with the smallest counterexample; bad usage is one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from constructions import registry
from constructions.runtime import io as model_io
from theory import circuit as tc
from theory.tasks import modcount
from theory.tasks.circuit_rnn import CircuitRNNTask
from theory.tokens import NO, YES
from verify import rnn as vr

XOR_PARITY = {  # the worked example of docs/rnn.md, copied from the documented format alone
    "format": "circuit-rnn/1", "name": "xor-parity", "description": "parity of the 1s read; YES iff odd",
    "p": 5, "vocab": {"n": 1, "extra": ["sym:0", "sym:1"]},
    "state": [{"name": "parity", "init": 0.0}],
    "gates": [["const", 0], ["const", 1], ["state", 0, 2], ["input", "tok:sym:1", 2],
              ["xor", 3, 4], ["xor", 5, 2]],
    "next_state": [[1, 5, 1, 1, 2]],
    "output": {"tok:YES": [1, 5, 1, 1, 2], "tok:NO": [1, 6, 1, 1, 2]},
    "input_tokens": ["<s>", "sym:0", "sym:1"],
}
QUIET = ["--no-progress"]


@pytest.mark.parametrize("name,L", [("parity", 5), ("mod3", 4), ("logspace:parity", 2)])
def test_library_rnns_pass(name, L, tmp_path, capsys):
    cert = tmp_path / "c.json"
    assert vr.main(["--rnn", name, "--max-len", str(L), "--json", str(cert)] + QUIET) == 0
    out = capsys.readouterr().out
    inputs = 2 ** (L + 1) - 1
    assert out.startswith(f"verified: {inputs} inputs (every input of length 0..{L}")
    data = json.loads(cert.read_text())
    assert data["verified"] and data["instances_checked"] == inputs and data["failure_count"] == 0
    assert data["model"]["construction"] == "rnn/transformer" and data["model"]["circuit"]["gates"] > 0


@pytest.mark.slow
@pytest.mark.parametrize("name", ["parity", "mod3"])
def test_library_rnns_pass_at_length_8(name, capsys):
    """511 inputs each; parity about 10 s, mod3 about 40-100 s on the shared machine (docs/rnn.md)."""
    assert vr.main(["--rnn", name, "--max-len", "8"] + QUIET) == 0
    assert "verified: 511 inputs" in capsys.readouterr().out


def test_the_answers_are_independent_of_the_circuit():
    task = CircuitRNNTask("mod3", 3)
    assert task.circuit is None  # nothing compiled: the answers come from plain Python
    assert [task.solve(w) for w in task.words] == [modcount.mod_trace(w, 3)[-1] for w in modcount.words_up_to(3)]


def test_the_linear_rnns_themselves(capsys):
    assert vr.main(["--rnn", "mod3", "--max-len", "6", "--model", "rnn-cot"] + QUIET) == 0
    assert "verified: 127 inputs" in capsys.readouterr().out


def test_circuit_file_written_from_the_docs(tmp_path, capsys):
    path = tmp_path / "xor_parity.json"
    path.write_text(json.dumps(XOR_PARITY))
    cert = tmp_path / "c.json"
    assert vr.main(["--rnn", str(path), "--max-len", "4", "--json", str(cert)] + QUIET) == 0
    out = capsys.readouterr().out
    # every prompt of 1..4 tokens over <s>, sym:0, sym:1: 3 + 9 + 27 + 81
    assert "verified: 120 inputs (every prompt of 1..4 tokens over ['<s>', 'sym:0', 'sym:1'])" in out
    data = json.loads(cert.read_text())
    circuit = tc.load_circuit(path)
    for tok, count in data["answers"].items():  # the interpreter answers: YES iff an odd number of sym:1
        assert tok in (YES, NO) and count > 0
    task = CircuitRNNTask(str(path), 4)
    for prompt in task.words[:40]:
        assert tc.answer(circuit, list(prompt)) == (YES if list(prompt).count("sym:1") % 2 else NO)
    # restricting the prompt tokens
    assert vr.main(["--rnn", str(path), "--max-len", "3", "--tokens", "sym:1"] + QUIET) == 0
    assert "verified: 3 inputs" in capsys.readouterr().out


def _save_circuit(name: str, L: int, tmp_path) -> dict:
    path = tmp_path / f"{name}.json"
    assert vr.main(["--rnn", name, "--max-len", str(L), "--save-circuit", str(path)] + QUIET) == 0
    return json.loads(path.read_text())


def _flip(gate: list) -> list:
    kind = gate[0]
    return {"and": ["xor", *gate[1:]], "xor": ["and", *gate[1:]]}.get(kind, ["const", 1 - gate[1]] if kind == "const"
                                                                       else ["const", 0])


def test_corrupted_gate_is_caught_with_the_smallest_counterexample(tmp_path, capsys):
    data = _save_circuit("parity", 3, tmp_path)
    capsys.readouterr()
    q = (data["p"] - 1) // 2
    g = data["output"]["tok:YES"][q - 1]          # the gate holding the parity (the count's units bit)
    data["gates"][g - 1] = _flip(data["gates"][g - 1])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    cert = tmp_path / "c.json"
    assert vr.main(["--rnn", "parity", "--max-len", "3", "--circuit", str(bad), "--json", str(cert)] + QUIET) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED")
    # "" and "0" never set the bit; "1" is the smallest input whose answer changes
    assert "smallest counterexample: input 1 (length 1)" in out
    assert "the circuit answers NO, the reference (parity) answers YES" in out
    data = json.loads(cert.read_text())
    assert not data["verified"] and data["failures"][0]["input"] == ["1"]
    assert data["failures"][0]["reason"] == "circuit"


def test_corrupted_gate_that_only_changes_a_cot_token_is_caught(tmp_path, capsys):
    """mod3 writes the residue + 1 as a number token before its verdict: a gate that feeds only that
    token is caught, because the circuit's output is compared with the reference token by token."""
    data = _save_circuit("mod3", 3, tmp_path)
    capsys.readouterr()
    num = set(data["output"]["num"])
    used = {a for gate in data["gates"] if gate[0] in ("and", "xor") for a in gate[1:]}
    used |= {g for row in data["next_state"] for g in row}
    used |= {g for k, row in data["output"].items() if k != "num" for g in row}
    only = sorted(g for g in num - used if data["gates"][g - 1][0] in ("and", "xor"))
    assert only
    data["gates"][only[0] - 1] = _flip(data["gates"][only[0] - 1])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    words = list(modcount.words_up_to(3))
    task = CircuitRNNTask("mod3", 3, circuit=str(bad))
    wrong = [w for w in words if task.circuit.vocab.tokens(
        tc.run(task.circuit, task.prompt(w), max_new=2).generated) != task.rnn_trace(w)]
    assert wrong
    assert vr.main(["--rnn", "mod3", "--max-len", "3", "--circuit", str(bad)] + QUIET) == 1
    out = capsys.readouterr().out
    first = " ".join(wrong[0]) or "(empty)"
    assert f"smallest counterexample: input {first} (length {len(wrong[0])}): after RNN step" in out


def test_corrupted_transformer_weight_is_caught(tmp_path, capsys):
    model = registry.get("rnn", "transformer").build(CircuitRNNTask("parity", 3))
    path = tmp_path / "w.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    ffn = model.blocks[2].ffn
    unit, row = ffn.units.index("XOR:rl"), model.layout["tok:gate:1"]
    w3 = arrays["block2.ffn.W_3"]
    assert w3.shape == (len(model.layout), ffn.width) and w3[row, unit] != 0
    w3[row, unit] = 0.0                            # XOR(0, 1) no longer votes for gate:1 (a tie)
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    assert vr.main(["--rnn", "parity", "--max-len", "3", "--weights", str(bad)] + QUIET) == 1
    out = capsys.readouterr().out
    # the first XOR(0, 1) of the gate trace of the empty input's prompt "<s>" (independently: the interpreter)
    circuit = tc.Circuit.from_dict(_save_circuit("parity", 3, tmp_path))
    vals, _ = tc.Interpreter(circuit).step(tc.Interpreter(circuit).init_bits, circuit.vocab.id("<s>"))
    g = next(i for i, gate in enumerate(circuit.gates, 1)
             if gate[0] == "xor" and (vals[gate[1] - 1], vals[gate[2] - 1]) == (0, 1))
    assert "smallest counterexample: input (empty) (length 0)" in out
    assert f"at position {1 + g}: expected gate:1, but the top logit is a tie" in out
    assert f"(gate {g} of {circuit.size} of RNN step 1)" in out


def test_where_in_trace():
    assert vr.where_in_trace(3, 2, 9) == "gate 1 of 9 of RNN step 1"
    assert vr.where_in_trace(12, 2, 9) == "the RNN's token after step 1"
    assert vr.where_in_trace(13, 2, 9) == "gate 1 of 9 of RNN step 2"
    assert vr.where_in_trace(2, 2, 9) == "in the prompt"


@pytest.mark.parametrize("argv,message", [
    (["--max-len", "3"], "--rnn is required"),
    (["--rnn", "parity"], "--max-len"),
    (["--rnn", "parity", "--max-len", "13"], "--max-len must lie in 0..12"),
    (["--rnn", "logspace:parity", "--max-len", "5"], "--max-len must lie in 0..4"),
    (["--rnn", "nosuch", "--max-len", "3"], "unknown RNN 'nosuch'"),
    (["--rnn", "logspace:nosuch", "--max-len", "2"], "nosuch"),
    (["--rnn", "parity", "--max-len", "3", "--tokens", "sym:1"], "--tokens is for circuit files"),
    (["--rnn", "missing.json", "--max-len", "3"], "no such circuit file"),
    (["--rnn", "parity", "--max-len", "3", "--circuit", "missing.json"], "no such circuit file"),
    (["--rnn", "parity", "--max-len", "3", "--json", "/nonexistent/c.json"], "does not exist"),
    (["--rnn", "parity", "--max-len", "3", "--mode", "rp"], "--mode rp needs --p"),
    (["--rnn", "parity", "--max-len", "3", "--weights", "missing.npz"], "missing.npz"),
])
def test_bad_usage_is_one_line_exit_2(argv, message, capsys):
    assert vr.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("verify.rnn: error") and message in err


def test_bad_usage_with_a_circuit_file(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text(json.dumps(XOR_PARITY))
    for argv, message in [(["--max-len", "0"], "--max-len must lie in 1..16"),
                          (["--max-len", "16"], "more than 200,000"),
                          (["--max-len", "2", "--model", "rnn-cot"], "no Linear RNN"),
                          (["--max-len", "2", "--circuit", str(path)], "--circuit replaces"),
                          (["--max-len", "2", "--tokens", "sym:7"], "unknown token"),
                          (["--max-len", "2", "--tokens", "YES"], "answer")]:
        assert vr.main(["--rnn", str(path)] + argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (argv, err)
    broken = dict(XOR_PARITY, gates=XOR_PARITY["gates"][:4] + [["and", 5, 6]] + XOR_PARITY["gates"][5:])
    path.write_text(json.dumps(broken))
    assert vr.main(["--rnn", str(path), "--max-len", "2"]) == 2
    assert "x.json: gates[4] (gate 5): and takes two earlier gates" in capsys.readouterr().err


def test_a_sequence_beyond_dense_attention_is_refused_before_the_check(capsys, monkeypatch):
    monkeypatch.setattr(vr, "MAX_SEQUENCE", 100)
    assert vr.main(["--rnn", "mod3", "--max-len", "3"] + QUIET) == 2
    assert "longest sequence (prompt + gate trace) has" in capsys.readouterr().err
