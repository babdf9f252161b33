"""python -m verify.smt: proofs hold, corrupted weights give concrete counterexamples, the encoder agrees
with the numpy runtime, and the precision certificate is confirmed by R_p runs."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
import z3
from hypothesis import given, strategies as st

from constructions.gadgets import attention as att
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import HARD, Rp
from constructions.runtime.transformer import ffn_forward
from constructions.transformer.index import build_index_transformer
from constructions.transformer.istree import build_istree_transformer
from constructions import registry
from theory.tasks.index import IndexTask
from verify import core
from verify.smt import command as smt
from verify.smt import istree as smt_istree
from verify.smt.encode import discharge, environment, ffn_output, score, to_fraction
from verify.smt.gadgets import ATT_LAYOUT, FFN_LAYOUT, GADGETS
from verify.smt.precision import certificate, premise_violations, propagate

N = 4
PROVABLE = list(GADGETS)


@pytest.mark.parametrize("name", PROVABLE)
def test_gadget_lemma_is_proved(name):
    row = smt.gadget_row(name, N, 53, timeout=60)
    assert row["status"] == "proved", row
    if "one_hot" in row:
        assert row["one_hot"]


def test_match_next_old_sink_counterexample_is_real(monkeypatch):
    """Regression: with the sink at -M1 - 5 (the gadget before verify.smt found the bug), a
    mismatching key with a counter beats the sink when nothing matches. Z3 finds it, and the
    counterexample is replayed with plain numpy scores on the built head."""
    gadget = GADGETS["match_next"]
    original = att.match_next_head

    def old_sink(*args, **kwargs):
        m1, _ = att.match_next_constants(kwargs["max_count"])
        return original(*args, **{**kwargs, "sink": -m1 - 5.0})

    monkeypatch.setattr(att, "match_next_head", old_sink)
    row = smt.gadget_row("match_next", N, 53, timeout=60)
    assert row["status"] == "counterexample" and "sink beats a mismatch" in row["failed"]
    cex = row["counterexample"]
    head = gadget.build(N)[1]
    m = int(cex["x"].split("/")[1])
    nh = float(Fraction(cex["nh(x)"]))
    y = float(Fraction(str(cex["y@k2'"])))

    def vec(values):
        x = np.zeros(len(ATT_LAYOUT))
        for k, v in values.items():
            x[ATT_LAYOUT[k]] = v
        return x

    b = [cex["b0"], cex["b1"]]
    a = [cex["a0@k2'"], cex["a1@k2'"]]
    k = cex["k"]
    query = vec({"one": 1, "pos": k, "pos_sq": k * k, "b0": b[0], "b0_sq": b[0] ** 2, "b1": b[1],
                 "b1_sq": b[1] ** 2, "nh": nh})
    sink = vec({"tok:<s>": 1, "one": 1, "pos": 1, "pos_sq": 1})
    kp = cex["k2'"]
    mismatch = vec({"one": 1, "pos": kp, "pos_sq": kp * kp, "a0": a[0], "a0_sq": a[0] ** 2, "a1": a[1],
                    "a1_sq": a[1] ** 2, "y": y, "y_sq": y * y})
    assert a != b and 1 <= m <= N + 1
    assert (head.W_K @ mismatch) @ (head.W_Q @ query) > (head.W_K @ sink) @ (head.W_Q @ query)


def test_corrupted_ffn_weight_gives_counterexample(monkeypatch, capsys):
    gadget = GADGETS["multiply"]
    original = gadget.build

    def corrupted(n):
        ffns = original(n)
        ffns[0].W_3[FFN_LAYOUT["dst"], 1] *= 0.5  # the ReLU(-x) * y unit of the multiply
        return ffns

    monkeypatch.setattr(gadget, "build", corrupted)
    assert smt.main(["--gadget", "multiply", "--n", "4"]) == 1
    out = capsys.readouterr().out
    assert "counterexample" in out and "C.1 multiply" in out
    # replay the printed input through the runtime's own FFN forward pass
    row = smt.gadget_row("multiply", 4, 53, timeout=30)
    cex = row["counterexample"]
    x = np.zeros((1, 1, len(FFN_LAYOUT)))
    for name in ("x", "y", "z"):
        x[0, 0, FFN_LAYOUT[name]] = float(Fraction(str(cex[name])))
    out_vec = np.zeros_like(x)
    ffn_forward(corrupted(4)[0], x, HARD, out_vec)
    xv, yv, zv = (x[0, 0, FFN_LAYOUT[c]] for c in ("x", "y", "z"))
    want = -3 * (xv - yv + 1) * zv
    assert not np.isclose(out_vec[0, 0, FFN_LAYOUT["dst"]], want)


def test_corrupted_attention_weight_gives_counterexample(monkeypatch, capsys):
    gadget = GADGETS["copy"]
    original = gadget.build

    def corrupted(n):
        heads = original(n)
        heads[0].W_Q[1, ATT_LAYOUT["one"]] *= 1.25  # the 2 (k - s) k' term of COPY s = 1
        return heads

    monkeypatch.setattr(gadget, "build", corrupted)
    assert smt.main(["--gadget", "copy", "--n", "4"]) == 1
    assert "COPY s=1" in capsys.readouterr().out


def test_corrupted_saved_model_gives_counterexample(tmp_path, capsys):
    """io.save, edit one weight of the Match head, prove the loaded file: exit 1 with a concrete prompt."""
    model = build_index_transformer(4)
    path = tmp_path / "index4.npz"
    model_io.save(model, str(path))
    assert smt.main(["--construction", "index", "--n", "4", "--weights", str(path)]) == 0
    head = model.blocks[1].heads[0]  # Match: key = position - 1, query = the token i
    r = np.nonzero(head.W_Q[:, model.layout["num"]])[0][0]
    head.W_Q[r, model.layout["num"]] *= 0.5  # the query now looks for data index i/2
    model_io.save(model, str(path))
    capsys.readouterr()
    assert smt.main(["--construction", "index", "--n", "4", "--weights", str(path)]) == 1
    out = capsys.readouterr().out
    assert "counterexample" in out and "x1 =" in out and "i =" in out


def test_whole_models_proved_small():
    for name, top in (("index", 4), ("ar", 4), ("cgram", 4)):
        low = 3 if name == "cgram" else 2
        for n in range(low, top + 1):
            row = smt.construction_row(name, n, timeout=60)
            assert row["status"] == "proved", row


def test_istree_steps_proved_and_break_when_corrupted():
    assert discharge(smt_istree.obligations(5), 60).status == "proved"
    model = build_istree_transformer(5)
    ffn = model.blocks[5].ffn  # block 6: cand
    unit = ffn.units.index("cand<-o2")
    ffn.W_3[model.layout["cand"], unit] = 0.0
    out = discharge(smt_istree.obligations(5, model), 60)
    assert out.status == "counterexample" and "block 6" in out.failed


def test_precision_certificate_is_sound_and_not_below_measured():
    cert = certificate("index", N)
    assert cert.p is not None
    model = build_index_transformer(N)
    construction, task = registry.get("index", "transformer"), IndexTask(N)
    domain = task.domain()

    def passes(p):
        return core.run(construction, task, model, domain, Rp(p), progress=False).failed == 0

    assert passes(cert.p)  # the certified precision really passes every instance
    measured, _ = core.min_precision(passes, report=lambda s: None)
    assert measured <= cert.p
    assert not cert.inexact  # Index needs no rounding-error argument: every value is on the grid


@pytest.mark.parametrize("construction,n", [("counting", 4), ("counting", 8), ("istree", 4), ("istree", 5)])
def test_rounding_error_certificate_is_sound(construction, n):
    """Counting and IsTree round COUNT's 1/(m+1): argument (4) still certifies a p, and R_p at that
    p passes the whole default domain, while the argument's premises hold there."""
    cert = certificate(construction, n)
    entry = registry.get(construction, "transformer")
    task = registry.task_of_size(entry.task, n)
    model = entry.build(task)
    assert cert.p is not None and "cnt" in cert.inexact, cert.as_dict()
    assert 0 < 2 * cert.logit_error < model.meta["logit_margin"]
    assert core.run(entry, task, model, task.domain(), Rp(cert.p), progress=False).failed == 0
    assert premise_violations(construction, n) == []


def test_premise_checks_can_fail():
    entry = registry.get("istree", "transformer")
    task = registry.task_of_size(entry.task, 5)
    model = entry.build(task)
    model.meta["tied_heads"] = {k: v for k, v in model.meta["tied_heads"].items() if k != "VISITED"}
    assert any(v.startswith("VISITED") for v in premise_violations("istree", 5, model))
    model.meta["tied_heads"]["SEP"] = []  # SEP's average reaches sep_pos
    assert any("averages nonzero values into sep_pos" in v for v in premise_violations("istree", 5, model))
    model = entry.build(task)
    model.meta["logit_margin"] = 1.5  # a number wins by out_scale / 2 = 1
    assert any("logit_margin" in v for v in premise_violations("istree", 5, model))


def test_rounding_error_argument_needs_a_logit_margin():
    entry = registry.get("counting", "transformer")
    model = entry.build(registry.task_of_size(entry.task, N))
    del model.meta["logit_margin"]
    cert = certificate("counting", N, model)
    assert cert.p is None and "logit margin" in cert.note


def test_rounding_error_needs_exact_scores_in_a_tied_head():
    model = build_istree_transformer(4)
    model.meta["tied_heads"]["NEXT"] = ["o1"]  # NEXT's scores read the rounded counters
    t = propagate(model, model.meta["max_len"])
    assert any(p.startswith("NEXT averages") for p in t.problems)


def test_certify_prints_and_records_every_certificate(tmp_path, capsys):
    out = tmp_path / "c.json"
    assert smt.main(["--certify", "counting", "--sizes", "4,8", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    rows = [line.split() for line in text.splitlines() if line.strip().startswith("counting")]
    assert [(int(r[1]), int(r[3])) for r in rows] == [(4, certificate("counting", 4).p), (8, certificate("counting", 8).p)]
    assert [c["proved_p"] for c in json.loads(out.read_text())["precision_certificates"]] == [31, 33]


def test_plot_writes_png_and_pdf(tmp_path):
    path = tmp_path / "precision.png"
    assert smt.main(["--plot", str(path), "--sizes", "4"]) == 0
    assert path.exists() and (tmp_path / "precision.pdf").exists()


@pytest.mark.parametrize("argv", [["--certify", "nope"], ["--certify", "index", "--sizes", "4,x"], ["--gadget", "all"], ["--gadget", "nope", "--n", "4"], ["--n", "4"],
                                  ["--gadget", "copy", "--n", "4", "--p", "8"],
                                  ["--construction", "index", "--n", "4", "--weights", "missing.npz"]])
def test_bad_usage_exits_2(argv, capsys):
    assert smt.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


# -- the encoder agrees with the numpy runtime (an independent implementation of the same weights) --------
@given(st.lists(st.integers(-20, 20), min_size=6, max_size=6))
def test_ffn_encoding_matches_runtime(values):
    model = build_istree_transformer(4)
    lay = model.layout
    ffn = model.blocks[5].ffn
    names = ["o1", "o2", "f", "nz1", "e1", "nz2"]
    given_vals = dict(zip(names, values))
    x = np.zeros((1, 1, len(lay)))
    for k, v in given_vals.items():
        x[0, 0, lay[k]] = v
    out = np.zeros_like(x)
    ffn_forward(ffn, x, HARD, out)
    env = environment(lay, {name: given_vals.get(name, 0) for name in lay.names}, "t")
    sym = ffn_output(ffn, lay, env)
    for name in ("cand", "cand_sq", "eqf"):
        assert float(to_fraction(sym[name])) == pytest.approx(out[0, 0, lay[name]], abs=1e-9)


@given(st.lists(st.integers(0, 12), min_size=4, max_size=4), st.integers(1, 12), st.integers(1, 12))
def test_score_encoding_matches_runtime(vals, k, kp):
    head = GADGETS["match"].build(N)
    a0, a1, b0, b1 = vals

    def vec(d):
        x = np.zeros(len(ATT_LAYOUT))
        for name, v in d.items():
            x[ATT_LAYOUT[name]] = v
        return x

    key = {"one": 1, "pos": kp, "pos_sq": kp * kp, "a0": a0, "a0_sq": a0 * a0, "a1": a1, "a1_sq": a1 * a1}
    query = {"one": 1, "pos": k, "pos_sq": k * k, "b0": b0, "b0_sq": b0 * b0, "b1": b1, "b1_sq": b1 * b1}
    full = lambda d: {name: d.get(name, 0) for name in ATT_LAYOUT.names}  # noqa: E731
    sym = score(head, ATT_LAYOUT, environment(ATT_LAYOUT, full(key), "k"), environment(ATT_LAYOUT, full(query), "q"))
    assert float(to_fraction(sym)) == pytest.approx((head.W_K @ vec(key)) @ (head.W_Q @ vec(query)))
    assert isinstance(z3.simplify(sym), z3.ArithRef)


@pytest.mark.parametrize("which,unit", [("hat", 1), ("ge1", 0), ("table", 2), ("emit_value", 3)])
def test_corrupted_gate_gives_counterexample(monkeypatch, which, unit):
    """Every gated gadget the RAG and hybrid builders use is proved, and the proof can fail."""
    gadget = GADGETS["gates"]
    original = gadget.build

    def corrupted(n):
        ffns = original(n)
        ffns[which].W_3[:, unit] *= 0.5
        return ffns

    monkeypatch.setattr(gadget, "build", corrupted)
    row = smt.gadget_row("gates", 4, 53, timeout=30)
    assert row["status"] == "counterexample" and which in row["failed"]


def test_corrupted_unique_match_gives_counterexample(monkeypatch):
    gadget = GADGETS["unique_match"]
    original = gadget.build

    def corrupted(n):
        head = original(n)
        head.W_Q[-1] *= 0.0  # drop the sink term: the sink no longer scores -5 beta
        return head

    monkeypatch.setattr(gadget, "build", corrupted)
    assert smt.gadget_row("unique_match", 4, 53, timeout=30)["status"] == "counterexample"
