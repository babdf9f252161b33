"""python -m verify.figures: every file written, TrueType fonts only, CSV numbers equal to the CLIs'."""

import csv
import json
import re
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from constructions import registry
from verify import bounds as V  # noqa: E402
from verify import compare, figures, turing  # noqa: E402

EXTS = ("pdf", "svg", "png")


@pytest.fixture(scope="module")
def quick_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    assert figures.main(["--out", str(out), "--quick", "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "sweep.json"
    assert V.main(["--sweep", "--n", "256", "--no-progress", "--json", str(path)]) == 0
    return json.loads(path.read_text())["sweep"]


def read_csv(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def pdf_font_subtypes(path) -> list[str]:
    """The /Subtype of every font object of a PDF (matplotlib writes no object streams)."""
    data = path.read_bytes()
    assert b"/ObjStm" not in data, "fonts could hide in a compressed object stream"
    subtypes = []
    for body in re.findall(rb"\d+ 0 obj(.*?)endobj", data, re.S):
        if re.search(rb"/Type\s*/Font\b", body):
            subtypes.append(re.search(rb"/Subtype\s*/(\w+)", body).group(1).decode())
    return subtypes


def test_every_file_exists(quick_dir):
    for name in figures.FIGURES:
        for tag in ("1col", "2col"):
            for ext in EXTS:
                assert (quick_dir / f"{name}_{tag}.{ext}").stat().st_size > 2000, (name, tag, ext)
        assert len(read_csv(quick_dir / f"{name}.csv")) > 0
        tex = (quick_dir / f"{name}.tex").read_text()
        assert all(k in tex for k in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}"))


def test_pdfs_embed_truetype_and_no_type3(quick_dir):
    pdfs = sorted(quick_dir.glob("*.pdf"))
    assert len(pdfs) == 2 * len(figures.FIGURES)
    for pdf in pdfs:
        subtypes = pdf_font_subtypes(pdf)
        assert subtypes and "Type3" not in subtypes, (pdf.name, subtypes)
        assert b"/FontFile2" in pdf.read_bytes()  # the TrueType program itself is embedded


def test_font_check_catches_type3(tmp_path):
    with plt.rc_context({"pdf.fonttype": 3}):
        fig, ax = plt.subplots()
        ax.set_title("Type 3")
        fig.savefig(tmp_path / "t3.pdf")
        plt.close(fig)
    assert "Type3" in pdf_font_subtypes(tmp_path / "t3.pdf")


def test_bounds_csv_equals_the_cli(quick_dir, sweep):
    rows = read_csv(quick_dir / "bounds.csv")
    strongest = {(r["task"], int(r["n"])): (float(r["bits"]), r["status"]) for r in rows
                 if r["bound"].startswith("strongest: ")}
    named = {(r["task"], int(r["n"]), r["bound"]): float(r["bits"]) for r in rows if r["n"]}
    checked = 0
    for s in sweep:
        assert strongest[s["task"], s["n"]] == (s["rnn_bits"], s["rnn_status"])
        for b in s["bounds"]:
            assert named[s["task"], s["n"], b["name"]] == b["bits"]
        checked += 1
    assert checked == len(sweep) >= 30


def test_crossover_csv_equals_the_cli(quick_dir, sweep):
    rows = {(r["task"], int(r["n"])): r for r in read_csv(quick_dir / "crossover.csv")}
    checked = 0
    for s in sweep:
        tf = s["transformer"]
        if tf is None:
            continue
        r = rows[s["task"], s["n"]]
        assert int(r["rnn_bits"]) == s["rnn_bits"] and int(r["kv_numbers"]) == tf["kv_numbers"]
        assert (int(r["proved_p"]) if r["proved_p"] else None) == tf["proved_p"]
        assert (int(r["kv_bits"]) if r["kv_bits"] else None) == tf["kv_bits_at_proved_p"]
        assert (int(r["weights_bits"]) if r["weights_bits"] else None) == tf["weights_bits_at_proved_p"]
        checked += 1
    assert checked >= 25


def test_exact_csv_equals_the_cli(quick_dir, tmp_path):
    rows = read_csv(quick_dir / "exact.csv")
    path = tmp_path / "e.json"
    assert V.main(["--exact", "--n", "6", "--no-progress", "--json", str(path)]) == 0
    cli = [r["states"] for r in json.loads(path.read_text())["exact"]]
    assert [int(r["states"]) for r in rows if r["task"] == "istree" and r["n"] == "6"] == cli
    assert V.main(["--task", "counting", "--exact", "--n", "6", "--sigma", "3", "--no-progress", "--json", str(path)]) == 0
    cli = [r["states"] for r in json.loads(path.read_text())["exact"]]
    assert [int(r["states"]) for r in rows if r["task"] == "counting" and r["sigma"] == "3"] == cli


def test_state_numbers_csv_equals_the_cli(quick_dir, tmp_path):
    rows = {(r["task"], int(r["n"]), int(r["p"])): int(r["lambda_min"]) for r in read_csv(quick_dir / "state_numbers.csv")}
    path = tmp_path / "s.json"
    for task in ("index", "istree", "counting", "prop51"):
        assert V.main(["--task", task, "--n", "1024", "--p", "17", "33", "65", "--no-progress", "--json", str(path)]) == 0
        for row in json.loads(path.read_text())["table"]:
            assert rows[task, 1024, row["p"]] == row["rnn_lambda_min"]


def test_families_csv_equals_verify_compare(quick_dir):
    mine = {(r["task"], r["family"]): r for r in read_csv(quick_dir / "families.csv") if r["n"] == "8"}
    checked = 0
    for r in compare.table(8, 64, 16, 0, {}, False, "formula"):
        if not r["built"] or r["task"] not in figures.FAMILY_TASKS:
            continue
        m = mine[r["task"], r["family"]]
        assert (int(m["state_numbers"]), int(m["kv_per_position"])) == (r["state_numbers"], r["kv_per_position"])
        if r["kind"] != "istree" and r["task"] != "istree":  # same seeded samples: same longest sequence
            assert (int(m["longest_sequence"]), int(m["kv_cache_bits"])) == (r["longest_sequence"], r["kv_cache_bits"])
        checked += 1
    assert checked == sum(1 for c in registry.CATALOGUE if c.task.name in figures.FAMILY_TASKS) >= 15


def test_a_registered_figure_runs_with_no_other_change(tmp_path):
    @figure_named("dummy")
    def make(out, quick=False):
        path = tmp_path / "out" / "dummy.csv"
        path.write_text("x\n1\n")
        return [str(path)]

    try:
        assert figures.main(["--out", str(tmp_path / "out"), "--only", "dummy", "--no-progress"]) == 0
        assert (tmp_path / "out" / "dummy.csv").exists()
    finally:
        figures.FIGURES.pop("dummy")


def figure_named(name):
    return figures.figure(name, "a test figure")


@pytest.mark.parametrize("args,needle", [
    (["--out", "/nonexistent/dir/figs"], "does not exist"), (["--out", "x", "--only", "nope"], "unknown figure"),
    ([], "--out DIR is required"),
])
def test_bad_usage_exit_2_before_work(args, needle):
    res = subprocess.run([sys.executable, "-m", "verify.figures", *args], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and needle in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_full_run(tmp_path):
    res = subprocess.run([sys.executable, "-m", "verify.figures", "--out", str(tmp_path), "--no-progress"],
                         capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr
    cross = {(r["task"], int(r["n"])): r for r in read_csv(tmp_path / "crossover.csv")}
    assert int(cross["index", 4096]["rnn_bits"]) > int(cross["index", 4096]["weights_bits"])
    assert all(not r["kv_bits"] or int(r["kv_bits"]) > int(r["rnn_bits"]) for r in cross.values())


def test_precision_rows_are_what_their_searches_found(quick_dir):
    """Each p_min passed and p_min - 2 failed among the recorded probes (both run); the fit is least squares."""
    rows = read_csv(quick_dir / "precision.csv")
    assert rows and all(r["status"] == "measured" for r in rows)
    for r in rows:
        probes = r["probes"].split()
        assert f"{r['p_min']}+" in probes and f"{int(r['p_min']) - 2}-" in probes, r
    assert figures.fit_log2([(4, 11), (8, 15), (16, 19), (32, 23)]) == pytest.approx((4.0, 3.0))
    assert figures.fit_log2([(8, 15)]) is None


def test_tm_precision_rows_are_exhaustive_searches(quick_dir, tmp_path):
    """Every simulator row covers every input of length 0..L (2^(L+1) - 1 binary words), and its
    p_min passed while p_min - 2 failed; the RAG row's p_min agrees with verify.turing's own search."""
    rows = read_csv(quick_dir / "precision_tm.csv")
    assert {r["family"] for r in rows} >= {"RAG-RNN", "hybrid", "RNN+CoT"}
    for r in rows:
        assert int(r["instances"]) == 2 ** (int(r["max_len"]) + 1) - 1, r
        probes = r["probes"].split()
        assert f"{r['p_min']}+" in probes and f"{int(r['p_min']) - 2}-" in probes, r
    rag = next(r for r in rows if r["machine"] == "parity" and r["family"] == "RAG-RNN")
    out = tmp_path / "t.json"
    assert turing.main(["--machine", "parity", "--max-len", rag["max_len"], "--model", "rag", "--min-precision",
                        "--no-progress", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["min_precision"] == int(rag["p_min"])
