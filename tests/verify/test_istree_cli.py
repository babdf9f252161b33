"""python -m verify.istree: exit codes, certificates, sharding, and that it can fail."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from constructions.runtime import io as model_io
from constructions.transformer.istree import build_istree_transformer
from verify.istree import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "verify.istree", *args], capture_output=True, text=True)


def test_exhaustive_n5_passes_with_certificate(tmp_path, capsys):
    cert = tmp_path / "c.json"
    assert main(["--n", "5", "--no-progress", "--workers", "1", "--json", str(cert)]) == 0
    c = json.loads(cert.read_text())
    assert c["verified"] and c["instances_checked"] == 2210 and c["trees"] == 125  # Cayley: 5^3
    assert c["parts"]["every graph, one edge order each drawn from seed 0"]["instances"] == 210
    assert c["domain"]["instances"] == 2210 and c["model"]["shape"]["depth"] == 7
    assert len(c["model"]["weights_sha256"]) == 64 and c["mode"] == "float64"
    assert "verified: 2,210 instances" in capsys.readouterr().out


def test_other_edge_counts_and_orders(capsys):
    assert main(["--n", "4", "--edges", "4", "--no-progress", "--workers", "1"]) == 0
    assert main(["--n", "4", "--orders", "all", "--no-progress", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "15 instances" in out and f"{20 * 6} instances" in out  # C(6,4); 20 graphs x 3! orders


def test_shards_merge_to_the_full_run(tmp_path):
    paths = []
    for i in range(3):  # n = 7: 54,264 graphs in 14 chunks
        p = tmp_path / f"s{i}.json"
        assert main(["--n", "7", "--shard", f"{i}/3", "--no-progress", "--workers", "1", "--json", str(p)]) == 0
        paths.append(str(p))
    merged = tmp_path / "m.json"
    assert main(["--merge", *paths, "--json", str(merged)]) == 0
    m = json.loads(merged.read_text())
    assert m["verified"] and m["instances_checked"] == 54264 + 2000 and m["trees"] == 7**5  # Cayley
    assert main(["--merge", *paths[:2]]) == 2  # incomplete shard set


def test_samples_beyond_exhaustive_range():
    assert main(["--n", "20", "--samples", "24", "--no-progress", "--workers", "1"]) == 0


def test_corrupted_weights_give_smallest_counterexample(tmp_path):
    m = build_istree_transformer(5)
    head = next(h for h in m.blocks[4].heads if h.name == "NEXT2")
    head.W_V[:] = 0  # never skip the parent edge
    path = tmp_path / "bad.npz"
    model_io.save(m, str(path))
    cert = tmp_path / "bad.json"
    r = run("--n", "5", "--weights", str(path), "--no-progress", "--json", str(cert))
    assert r.returncode == 1, r.stderr
    assert "FAILED" in r.stdout and "smallest counterexample" in r.stdout
    c = json.loads(cert.read_text())
    assert not c["verified"] and c["failure_count"] > 0
    first = c["failures"][0]
    assert first["reason"] == "model" and first["expected"] != first["got"]
    # the smallest failing graph, traced with --graph, reports per-head attention targets
    g = ",".join(f"{u}-{v}" for u, v in first["edges"])
    t = run("--n", "5", "--graph", g, "--trace", "--weights", str(path))
    assert t.returncode == 1 and "MISMATCH" in t.stdout and "NEXT2" in t.stdout


def test_unmodified_weights_file_passes(tmp_path):
    path = tmp_path / "w.npz"
    model_io.save(build_istree_transformer(4), str(path))
    assert main(["--n", "4", "--weights", str(path), "--no-progress", "--workers", "1"]) == 0


def test_graph_trace(capsys):
    assert main(["--n", "6", "--graph", "2-6,1-5,3-5,4-6,2-3", "--trace"]) == 0
    out = capsys.readouterr().out
    assert "generated: 1 5 3 2 6 4 6 2 3 5 1 YES" in out and "match" in out


@pytest.mark.parametrize("args,msg", [
    (["--n", "1"], "--n must lie in 2.."),
    (["--n", "40"], "use --samples"),
    (["--n", "5", "--graph", "1-2,2"], "malformed"),
    (["--n", "5", "--graph", "3-3"], "self-loop"),
    (["--n", "5", "--graph", "1-7"], "out of range"),
    (["--n", "5", "--edges", "11"], "--edges"),
    (["--n", "5", "--mode", "rp"], "needs --p"),
    (["--n", "5", "--mode", "rp", "--p", "8"], "odd"),
    (["--n", "5", "--shard", "3/2"], "shard"),
    (["--n", "5", "--weights", "missing.npz"], "not found"),
    (["--n", "5", "--model", "nope"], "invalid choice"),
    ([], "--n is required"),
])
def test_bad_input_is_one_line_exit_2(args, msg):
    r = run(*args)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in r.stderr


def test_weights_for_another_n_are_rejected(tmp_path):
    path = tmp_path / "w.npz"
    model_io.save(build_istree_transformer(6), str(path))
    r = run("--n", "5", "--weights", str(path))
    assert r.returncode == 2 and "different layout or vocabulary" in r.stderr


@pytest.mark.slow
def test_n7_exhaustive_in_rp_at_its_min_precision(tmp_path):
    """p_min(7) = 45 (``verify.istree --n 7 --min-precision``, exhaustive: 56,264 instances, 13 min):
    the whole default domain passes in exact R_p at p = 45 and fails at p = 43 (about a minute each)."""
    cert = tmp_path / "c.json"
    assert main(["--n", "7", "--mode", "rp", "--p", "45", "--no-progress", "--json", str(cert)]) == 0
    c = json.loads(cert.read_text())
    assert c["verified"] and c["instances_checked"] == 56_264 and c["mode"].startswith("rp")
    assert main(["--n", "7", "--mode", "rp", "--p", "43", "--no-progress"]) == 1
