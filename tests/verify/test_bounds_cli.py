"""python -m verify.bounds: tables with statuses, exact mode, conventions, exit codes, JSON."""

import json
import subprocess
import sys
import time
from itertools import product

import numpy as np
import pytest

from constructions import registry
from theory import bounds as B
from theory.tasks.base import Domain, ListPart
from theory.tasks.cgram import CgramTask
from theory.tasks.istree import sample_graph
from verify import bounds as V
from verify import compare, core


def run(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "verify.bounds", *args], capture_output=True, text=True,
                          timeout=timeout)


def cert_of(tmp_path, *args):
    path = tmp_path / "c.json"
    assert V.main([*args, "--no-progress", "--json", str(path)]) == 0
    return json.loads(path.read_text())


def test_istree_table(capsys, tmp_path):
    cert = cert_of(tmp_path, "--task", "istree", "--n", "1024")
    row = cert["table"][0]
    assert [(b["bits"], b["status"]) for b in row["bounds"]] == [(1021, "proved"), (6328, "proved"), (6582, "proved")]
    assert row["rnn_bits"] == 6582 and row["rnn_lambda_min"] == 200 and row["p"] == 33
    out = capsys.readouterr().out
    assert "6,582" in out and "[proved]" in out and "conjectured" not in out


def test_conventions_at_n_1024(tmp_path):
    rows = {t: cert_of(tmp_path, "--task", t, "--n", "1024")["table"][0] for t in ("prop51", "counting", "index")}
    assert rows["prop51"]["rnn_bits"] == 511                      # Prop 5.1 with the oracle, sigma = 2
    assert [b["bits"] for b in rows["counting"]["bounds"]] == [1019, 1023]  # list per length; fixed length
    assert rows["index"]["rnn_lambda_min"] == 32                  # p = 33: 32 numbers of 2^33 - 1 values
    assert cert_of(tmp_path, "--task", "index", "--n", "1024", "--p", "31")["table"][0]["rnn_lambda_min"] == 34


def test_epsilon_row(tmp_path):
    row = cert_of(tmp_path, "--task", "index", "--n", "1000", "--eps", "0.11")["table"][0]
    eps = next(b for b in row["bounds"] if b["name"].startswith("average error"))
    assert eps["bits"] == pytest.approx(500, rel=1e-3) and row["rnn_bits"] == 1000


def test_exact_istree_n6(capsys, tmp_path):
    cert = cert_of(tmp_path, "--exact", "--n", "6")
    assert "91 states = 7 bits at j=2" in capsys.readouterr().out
    assert cert["verified"] and [r["states"] for r in cert["exact"]] == [2, 32, 91, 65, 15, 1]
    assert [r["closed_form_status"] for r in cert["exact"]] == ["proved", "exact", "proved", "proved", "proved", "proved"]
    assert {r["status"] for r in cert["exact"]} == {"exact"}


def distinct_rows_index(n, i):
    """States at split i of Index over {1,2}^n, from the definition: one tuple of answers per prefix."""
    rows = set()
    for pre in product((1, 2), repeat=i):
        rows.add(tuple((pre + suf)[k - 1] for suf in product((1, 2), repeat=n - i) for k in range(1, n + 1)))
    return len(rows)


def test_exact_index(tmp_path):
    cert = cert_of(tmp_path, "--task", "index", "--exact", "--n", "10")
    assert [r["states"] for r in cert["exact"]] == [distinct_rows_index(10, i) for i in range(11)]
    assert cert["family"]["ok"] and cert["family"]["rows"] == 2 ** 10


def test_exact_ar_sigma4_finishes_with_a_certificate(tmp_path):
    res = run("--task", "ar", "--exact", "--n", "5", "--sigma", "4", "--no-progress", "--json", str(tmp_path / "a.json"))
    assert res.returncode == 0, res.stderr
    cert = json.loads((tmp_path / "a.json").read_text())
    assert cert["verified"] and [r["states"] for r in cert["exact"]] == [1, 4, 16, 58, 180, 294]
    assert cert["family"] is None and "n >= 2*sigma" in cert["family_skipped"]


def test_cgram_c2_builds_the_c2_transformer(tmp_path):
    row = cert_of(tmp_path, "--task", "cgram", "--c", "2", "--n", "12")["table"][0]
    built = registry.get("cgram", "transformer").build(registry.task_of_size(CgramTask, 12, c=2)).shape()
    assert row["transformer"]["kv_per_position"] == built["kv_per_position"] == 9   # c = 3 caches 16
    assert row["rnn_bits"] == 6 and row["transformer"]["proved_p"] is None


def test_disagreement_exits_1(monkeypatch, capsys):
    monkeypatch.setattr(V.B, "istree_split_rows", lambda n, j: 3)
    assert V.main(["--exact", "--n", "5", "--no-progress"]) == 1
    assert "DISAGREEMENT" in capsys.readouterr().out


def test_sweep(tmp_path):
    cert = cert_of(tmp_path, "--sweep", "--task", "index", "--n", "64", "--p", "17", "33")
    assert [(r["n"], r["p"], r["rnn_bits"]) for r in cert["sweep"]] == [
        (m, pp, m) for m in (8, 16, 32, 64) for pp in (17, 33)]


# --------------------------------------------------------------------------- KV caches
def tree_domain(n, count=6):
    def make(a, b):
        return [sample_graph(n, "tree", np.random.default_rng([0, i])) for i in range(a, b)]
    return Domain([ListPart("trees", count, make, {})], 64, task="istree", n=n)


@pytest.mark.parametrize("task_name,n", [("index", 8), ("ar", 8), ("cgram", 9), ("counting", 8), ("istree", 6)])
def test_longest_sequence_is_what_the_checker_runs(task_name, n):
    construction = registry.get(task_name, "transformer")
    task = registry.task_of_size(construction.task, n)
    model = construction.build(task)
    domain = tree_domain(n) if task_name == "istree" else task.domain(samples=16, seed=0)
    res = core.run(construction, task, model, domain, progress=False)
    assert res.failed == 0 and V.longest_sequence(task) == res.longest
    mem = V.transformer_memory(task_name, n, 3, 33)
    assert mem["kv_numbers"] == model.shape()["kv_per_position"] * res.longest
    assert mem["kv_bits_at_p"] == mem["kv_numbers"] * 33


def test_kv_caches_equal_verify_compare():
    rows = compare.table(8, 16, 16, 0, {}, False, "formula")
    checked = 0
    for r in rows:
        if r["built"] and r["kind"] == "transformer" and r["task"] not in ("turing", "rnn"):
            mem = V.transformer_memory(r["task"], 8, compare.CGRAM_C, r["p"])
            assert (mem["longest_sequence"], mem["kv_bits_at_p"]) == (r["longest_sequence"], r["kv_cache_bits"])
            checked += 1
    assert checked == 5


def test_statuses_only_from_the_vocabulary(tmp_path):
    cert = cert_of(tmp_path, "--sweep", "--n", "64")
    assert {r["task"] for r in cert["sweep"]} == set(B.TASKS)
    for r in cert["sweep"]:
        assert r["rnn_status"] == "proved" and all(b["status"] == "proved" for b in r["bounds"])
        if r["transformer"]:
            assert r["transformer"]["status"] == "measured"


# --------------------------------------------------------------------------- bad usage
@pytest.mark.parametrize("args,needle", [
    (["--task", "nope"], "unknown task"), (["--task", "istree", "--n", "3"], "too small"),
    (["--p", "0"], "--p must be odd"), (["--p", "32"], "--p must be odd"), (["--task", "ar", "--n", "1"], "too small"),
    (["--exact", "--n", "20"], "limited"), (["--sweep", "--n", "1000000000"], "--n must lie in"),
    (["--json", "/nonexistent/dir/c.json"], "does not exist"), (["--plot", "/nonexistent/dir/figs"], "does not exist"),
    (["--task", "index", "--c", "2"], "--c only applies"), (["--task", "ar", "--eps", "0.1"], "--eps applies"),
    (["--task", "index", "--eps", "0.7"], "--eps must lie"), (["--task", "cgram", "--c", "40"], "--c must lie"),
])
def test_bad_usage_one_line_exit_2(args, needle):
    started = time.time()
    res = run(*args)
    assert res.returncode == 2 and needle in res.stderr and res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr
    assert time.time() - started < 20


@pytest.mark.slow
def test_plot_writes_files(tmp_path):
    res = run("--plot", str(tmp_path / "figs"), "--no-progress", timeout=600)
    assert res.returncode == 0, res.stderr
    for stem in ("bounds", "state_numbers", "exact"):
        for tag in ("1col", "2col"):
            for ext in ("pdf", "svg", "png"):
                assert (tmp_path / "figs" / f"{stem}_{tag}.{ext}").stat().st_size > 1000
