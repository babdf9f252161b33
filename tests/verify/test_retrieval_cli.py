"""``python -m verify.retrieval``: verifies, fails on corrupted weights, rejects bad input with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from constructions.runtime import io as model_io
from constructions.transformer.ar import build_ar_transformer
from constructions.transformer.counting import build_counting_transformer
from constructions.transformer.index import build_index_transformer
from theory.tasks import index
from verify import retrieval


def run(args, capsys):
    code = retrieval.main(list(args) + ["--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args", [["--task", "index", "--n", "6"], ["--task", "ar", "--n", "6"],
                                  ["--task", "cgram", "--n", "6", "--c", "3"], ["--task", "counting", "--n", "5"],
                                  ["--task", "index", "--n", "40", "--samples", "50"],
                                  ["--task", "counting", "--n", "4", "--mode", "hard"],
                                  ["--task", "ar", "--n", "4", "--mode", "rp", "--p", "45"]])
def test_verifies(args, capsys):
    code, out, _ = run(args, capsys)
    assert code == 0 and out.startswith("verified:")


def test_certificate(tmp_path, capsys):
    path = tmp_path / "cert.json"
    code, _, _ = run(["--task", "index", "--n", "5", "--json", str(path)], capsys)
    cert = json.loads(path.read_text())
    assert code == 0 and cert["verified"] and cert["instances_checked"] == 5 * 2**5 + 2000  # + full-alphabet samples
    assert cert["domain"]["task"] == "index" and cert["failures"] == []
    assert cert["model"]["shape"]["depth"] == 2 and len(cert["model"]["weights_sha256"]) == 64
    assert cert["mode"] == "float64" and "numpy" in cert["versions"] and cert["wall_time_seconds"] >= 0


def test_same_seed_same_certificate(tmp_path, capsys):
    certs = []
    for i in range(2):
        path = tmp_path / f"c{i}.json"
        run(["--task", "ar", "--n", "30", "--samples", "40", "--seed", "7", "--json", str(path)], capsys)
        cert = json.loads(path.read_text())
        cert.pop("wall_time_seconds"), cert.pop("command"), cert.pop("checksum")
        certs.append(cert)
    assert certs[0] == certs[1]


def _corrupt(model, path, array, edit):
    model_io.save(model, str(path))
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[array] = edit(arrays[array].copy())
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def test_zeroed_match_value_map_is_caught(tmp_path, capsys):
    """The checker can fail: with the Match head's value map zeroed, exit 1 and the smallest counterexample."""
    path = tmp_path / "bad.npz"
    n = 5
    _corrupt(build_index_transformer(n), path, "block1.head0.W_V", np.zeros_like)
    json_path = tmp_path / "cert.json"
    code, out, _ = run(["--task", "index", "--n", str(n), "--weights", str(path), "--json", str(json_path)], capsys)
    assert code == 1 and "smallest counterexample" in out and "attends position" in out
    cert = json.loads(json_path.read_text())
    assert not cert["verified"] and cert["failure_count"] == n * 2**n + 2000  # every instance fails
    # the smallest instance of the domain (x = 1..1, query 1) is reported first
    assert cert["failures"][0]["prompt"] == ["<s>"] + ["1"] * n + ["1"]
    keys = [(len(f["prompt"]), [index.vocab(n).id(t) for t in f["prompt"]]) for f in cert["failures"]]
    assert keys == sorted(keys) and len(keys) == 20  # the 20 smallest, smallest first
    assert cert["failures"][0]["position"] == n + 3  # <s>, n data tokens, the query: the answer is token n + 3


def test_subtle_corruption_is_caught(tmp_path, capsys):
    """A small edit (COPY looks 2 back instead of 1) breaks AR only on some instances."""
    path = tmp_path / "bad.npz"
    model = build_ar_transformer(5)
    head = model.blocks[1].heads[0]
    row = int(np.flatnonzero(head.W_K[:, model.layout["pos"]])[0])
    col = model.layout["one"]
    _corrupt(model, path, "block1.head0.W_Q", lambda w: w + np.where(
        (np.arange(w.shape[0])[:, None] == row) & (np.arange(w.shape[1])[None, :] == col), -w[row, col] / 2, 0))
    code, out, _ = run(["--task", "ar", "--n", "5", "--weights", str(path)], capsys)
    assert code == 1 and "FAILED" in out


def test_counting_threshold_corruption(tmp_path, capsys):
    path = tmp_path / "bad.npz"
    _corrupt(build_counting_transformer(4), path, "block2.ffn.W_2", lambda w: w * 0.5)
    code, out, _ = run(["--task", "counting", "--n", "4", "--weights", str(path)], capsys)
    assert code == 1 and "expected" in out


def test_min_precision(capsys):
    code, out, err = run(["--task", "index", "--n", "4", "--min-precision"], capsys)
    assert code == 0 and "minimum precision: p = " in out
    p = int(out.split("p = ")[1].split()[0])
    assert run(["--task", "index", "--n", "4", "--mode", "rp", "--p", str(p)], capsys)[0] == 0
    assert run(["--task", "index", "--n", "4", "--mode", "rp", "--p", str(p - 2)], capsys)[0] == 1


@pytest.mark.parametrize("args,message", [
    (["--task", "sort", "--n", "4"], "invalid choice"),
    (["--task", "index", "--n", "1"], "2..4,096"),
    (["--task", "index", "--n", "4", "--c", "3"], "--c only applies"),
    (["--task", "cgram", "--n", "4", "--c", "1"], "--c must lie in 2..4"),
    (["--task", "index", "--n", "4", "--mode", "rp", "--p", "32"], "odd"),
    (["--task", "index", "--n", "4", "--mode", "rp"], "needs --p"),
    (["--task", "index", "--n", "4", "--p", "31"], "only applies"),
    (["--task", "index", "--n", "30"], "--samples"),
    (["--task", "index", "--n", "4", "--samples", "0"], "--samples must lie in 1.."),
    (["--task", "index"], "required"),
    (["--task", "index", "--n", "4", "--model", "nope"], "invalid choice"),
])
def test_bad_usage_exits_2(args, message, capsys):
    code, out, err = run(args, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_bad_weights_files_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file")
    code, _, err = run(["--task", "index", "--n", "4", "--weights", str(junk)], capsys)
    assert code == 2 and "cannot read" in err
    other = tmp_path / "other.npz"
    model_io.save(build_index_transformer(5), str(other))
    code, _, err = run(["--task", "index", "--n", "4", "--weights", str(other)], capsys)
    assert code == 2 and "different layout or vocabulary" in err
    code, _, err = run(["--task", "index", "--n", "4", "--weights", str(tmp_path / "missing.npz")], capsys)
    assert code == 2 and "not found" in err


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "verify.retrieval", "--task", "index", "--n", "4", "--no-progress"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "verified" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "verify.retrieval", "--task", "index", "--n", "0"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
