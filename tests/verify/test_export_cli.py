"""python -m verify.export: files, sidecar, --check, exit codes.

Usage errors are checked without the optional extra; the export itself needs it (skipped without
it on a developer's machine, a failure under CI, which installs it: see tests/constructions/test_export.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from constructions import registry
from constructions.runtime import io as model_io
from theory.tasks.istree import IstreeTask
from verify.export import main

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "verify.export", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def interp():
    if os.environ.get("CI"):
        import torch  # noqa: F401  (CI installs the extra: missing is a failure, not a skip)
        import transformer_lens  # noqa: F401
    else:
        pytest.importorskip("torch")
        pytest.importorskip("transformer_lens")
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the command sets one thread


def test_help_explains_the_command():
    r = run("--help")
    assert r.returncode == 0
    for word in ("transformer-lens", "torch", "--check", "sidecar", "interp", "Exit codes"):
        assert word in r.stdout


@pytest.mark.parametrize("args,message", [
    (["--construction", "istree", "--n", "5", "--format", "transformer-lens", "--model", "rag"], "Transformers only"),
    (["--construction", "nope", "--n", "5", "--format", "torch"], "invalid choice"),
    (["--construction", "istree", "--n", "1", "--format", "torch"], "--n must lie in"),
    (["--construction", "istree", "--n", "5", "--format", "torch", "--c", "3"], "--c only applies"),
    (["--construction", "istree", "--n", "5", "--format", "torch", "--instances", "x"], "--instances must be"),
    (["--construction", "istree", "--n", "5", "--format", "torch", "--tol", "-1"], "--tol must be"),
    (["--construction", "istree", "--n", "5", "--format", "torch", "--n-ctx", "64"], "--n-ctx only applies"),
    (["--construction", "istree", "--n", "5", "--format", "torch", "--weights", "missing.npz"], "not found"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, capsys, args, message):
    out = tmp_path / "m.pt"
    assert main(args + ["--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and err.startswith("verify.export: error:")
    assert not out.exists()


def test_bad_out_paths_are_refused_before_any_work(tmp_path, capsys):
    base = ["--construction", "istree", "--n", "5", "--format", "torch"]
    assert main(base + ["--out", str(tmp_path / "missing" / "m.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(base + ["--out", str(tmp_path / "m.json")]) == 2
    assert "sidecar" in capsys.readouterr().err


def test_without_the_extra_it_says_what_to_install(tmp_path):
    shim = tmp_path / "shim"
    (shim / "torch").mkdir(parents=True)
    (shim / "torch" / "__init__.py").write_text("raise ImportError('torch hidden by the test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), ROOT])}
    r = run("--construction", "istree", "--n", "5", "--format", "torch", "--out", str(tmp_path / "m.pt"), env=env)
    assert r.returncode == 2 and 'pip install -e ".[interp]"' in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "m.pt").exists()


def test_transformer_lens_export_with_check(interp, tmp_path, capsys):
    out = tmp_path / "m.pt"
    cert = tmp_path / "cert.json"
    assert main(["--construction", "istree", "--n", "5", "--format", "transformer-lens", "--out", str(out),
                 "--check", "--instances", "all", "--no-progress", "--json", str(cert)]) == 0
    text = capsys.readouterr().out
    assert "max logit difference" in text and "parity: OK" in text and "2,210 of 2,210 instances" in text
    side = json.loads((tmp_path / "m.json").read_text())
    model = registry.get("istree", "transformer").build(IstreeTask(5))
    assert side["weights_sha256"] == model_io.weights_sha256(model)
    assert side["residual_names"] == list(model.layout.names) + ["export:one"]
    assert side["check"]["passed"] and side["check"]["instances_compared"] == 2210
    assert side["heads"][4] == ["NEXT", "NEXT2"]
    assert json.loads(cert.read_text())["verified"]
    from constructions.export import from_transformer_lens, load

    assert model_io.weights_sha256(from_transformer_lens(load(str(out)))) == side["weights_sha256"]


def test_torch_export_of_a_rag_turing_machine(interp, tmp_path, capsys):
    out = tmp_path / "tm.pt"
    assert main(["--construction", "turing", "--model", "rag", "--machine", "parity", "--n", "3", "--format",
                 "torch", "--out", str(out), "--check", "--no-progress"]) == 0
    assert "parity: OK" in capsys.readouterr().out
    side = json.loads((tmp_path / "tm.json").read_text())
    assert side["kind"] == "linear_rnn" and side["task"] == {"machine": "parity", "max_len": 3}


def test_exported_edited_weights(interp, tmp_path, capsys):
    model = registry.get("index", "transformer").build(registry.task_of_size(registry.task_class("index"), 6))
    model.blocks[1].heads[0].W_V *= 2.0
    weights = tmp_path / "w.npz"
    model_io.save(model, str(weights))
    assert main(["--construction", "index", "--n", "6", "--format", "torch", "--out", str(tmp_path / "w.pt"),
                 "--weights", str(weights), "--check", "--no-progress"]) == 0
    side = json.loads((tmp_path / "w.json").read_text())
    assert side["weights_sha256"] == model_io.weights_sha256(model) and side["weights_file"] == str(weights)


def test_check_exits_1_when_the_export_differs(interp, tmp_path, capsys, monkeypatch):
    from constructions.export import files

    real_load = files.load

    def broken_load(path):
        module = real_load(path)
        import torch

        with torch.no_grad():
            module.blocks[-1].ffn.b_3[0] += 1e-3  # the read-out FFN: every logit of a number moves
        return module

    monkeypatch.setattr(files, "load", broken_load)
    assert main(["--construction", "istree", "--n", "4", "--format", "torch", "--out", str(tmp_path / "m.pt"),
                 "--check", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "parity: FAILED" in out
    assert not json.loads((tmp_path / "m.json").read_text())["check"]["passed"]
