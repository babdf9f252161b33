"""python -m verify.bounds: tables, exact mode, exit codes, JSON, plots."""

import json
import subprocess
import sys

import pytest

from verify import bounds as V


def run(*args):
    return subprocess.run([sys.executable, "-m", "verify.bounds", *args], capture_output=True, text=True)


def test_istree_table(capsys):
    assert V.main(["--task", "istree", "--n", "1024", "--p", "32"]) == 0
    out = capsys.readouterr().out
    assert "N = 1021 bits" in out and "Λ_min = 198" in out and "6328" in out


def test_exact_istree_n6(capsys, tmp_path):
    path = tmp_path / "c.json"
    assert V.main(["--exact", "--n", "6", "--no-progress", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "91 states = 7 bits at j=2" in out
    cert = json.loads(path.read_text())
    assert cert["verified"] and [r["states"] for r in cert["exact"]] == [2, 32, 91, 65, 15, 1]


def test_exact_index(capsys):
    assert V.main(["--task", "index", "--exact", "--n", "10"]) == 0
    assert "1024" in capsys.readouterr().out


def test_disagreement_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(V.B, "istree_split_rows", lambda n, j: 3)
    assert V.main(["--exact", "--n", "5", "--no-progress"]) == 1
    assert "DISAGREEMENT" in capsys.readouterr().out


def test_sweep(capsys):
    assert V.main(["--sweep", "--task", "index", "--n", "64", "--p", "8", "16"]) == 0
    assert "index" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["--task", "nope"], "unknown task"), (["--task", "istree", "--n", "3"], "too small"),
    (["--p", "0"], "--p must be positive"), (["--task", "ar", "--n", "1"], "too small"),
    (["--exact", "--n", "20"], "limited"),
])
def test_bad_usage_one_line_exit_2(args, needle):
    res = run(*args)
    assert res.returncode == 2 and needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


@pytest.mark.slow
def test_plot_writes_files(tmp_path):
    res = run("--plot", str(tmp_path / "f.pdf"), "--no-progress")
    assert res.returncode == 0
    for stem in ("f", "f_exact"):
        for ext in ("pdf", "svg", "png"):
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 1000
