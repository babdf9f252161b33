"""Every command on bad arguments and bad files: exit 2, one line naming the problem, no traceback,
within seconds, and no output file written. And: model faults are counterexamples (exit 1), never bad
input; nothing is certified on zero instances."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from constructions.runtime import io as model_io
from constructions.transformer.index import build_index_transformer
from constructions.transformer.istree import build_istree_transformer
from verify import compare, istree, retrieval, turing
from verify.smt import command as smt

MAINS = {"istree": istree.main, "retrieval": retrieval.main, "turing": turing.main, "compare": compare.main,
         "smt": smt.main}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    good = d / "good.npz"
    model_io.save(build_istree_transformer(4), str(good))
    arrays = dict(np.load(good, allow_pickle=False))

    def variant(name, edit):
        a = dict(arrays)
        edit(a)
        np.savez(d / name, **a)
        return str(d / name)

    out = {
        "dir": str(d),
        "missing_dir_json": str(d / "no" / "such" / "c.json"),
        "good": str(good),
        "w_q_1d": variant("wq1d.npz", lambda a: a.update({"block1.head0.W_Q": a["block1.head0.W_Q"][0]})),
        "w_v_big": variant("wvbig.npz", lambda a: a.update({"block1.head0.W_V": np.zeros((80, 80))})),
        "header_list": variant("hlist.npz", lambda a: a.update({"__header__": np.array("[1, 2]")})),
        "npy": str(d / "w.npy"),
        "text": str(d / "junk.json"),
        "list_json": str(d / "list.json"),
        "object_json": str(d / "object.json"),
        "machine_bad": str(d / "machine.json"),
        "machine_loop": str(d / "loop.json"),
    }
    np.save(out["npy"], np.zeros(3))
    (d / "junk.json").write_text("not json at all")
    (d / "list.json").write_text("[1, 2, 3]")
    (d / "object.json").write_text('{"verified": true}')
    (d / "machine.json").write_text('{"name": "m"}')
    (d / "loop.json").write_text(json.dumps({
        "name": "loop", "alphabet": ["0"], "blank": "_", "states": ["s", "yes", "no"], "start": "s",
        "accept": "yes", "reject": "no", "delta": [["s", "0", "s", "0", "R"], ["s", "_", "s", "_", "L"]]}))
    # certificates that are not shard certificates
    istree.main(["--n", "4", "--graph", "1-2,2-3,3-4", "--json", str(d / "graph_cert.json")])
    istree.main(["--n", "4", "--min-precision", "--json", str(d / "minp_cert.json"), "--no-progress"])
    return out


CASES = [
    ("istree", [], "--n is required"),
    ("istree", ["--n", "abc"], "invalid int value"),
    ("istree", ["--n", "1000000000"], "--n must lie in"),
    ("istree", ["--n", "11"], "exhaustive limit"),
    ("istree", ["--n", "20", "--samples", "1000000000000"], "--samples must lie in"),
    ("istree", ["--n", "1000000000", "--graph", "1-2"], "--n must lie in"),
    ("istree", ["--n", "5", "--graph", "1-9"], "out of range"),
    ("istree", ["--n", "5", "--graph", "1-2,x"], "malformed edge"),
    ("istree", ["--n", "5", "--edges", "99"], "--edges must lie in"),
    ("istree", ["--n", "5", "--mode", "rp"], "needs --p"),
    ("istree", ["--n", "5", "--mode", "rp", "--p", "32"], "odd"),
    ("istree", ["--n", "5", "--mode", "rp", "--p", "999"], "exceeds"),
    ("istree", ["--n", "5", "--json", "{missing_dir_json}"], "does not exist"),
    ("istree", ["--n", "5", "--json", "{dir}"], "is a directory"),
    ("istree", ["--n", "4", "--shard", "5/6"], "is empty"),
    ("istree", ["--n", "4", "--shard", "5/6", "--min-precision"], "is empty"),
    ("istree", ["--n", "4", "--shard", "2/2"], "0 <= I < K"),
    ("istree", ["--n", "4", "--weights", "{w_q_1d}"], "W_Q has shape"),
    ("istree", ["--n", "4", "--weights", "{w_v_big}"], "W_V has shape (80, 80)"),
    ("istree", ["--n", "4", "--weights", "{header_list}"], "JSON list"),
    ("istree", ["--n", "4", "--weights", "{npy}"], "single array"),
    ("istree", ["--n", "4", "--weights", "{dir}/missing.npz"], "not found"),
    ("istree", ["--n", "5", "--weights", "{good}"], "different layout"),
    ("istree", ["--merge", "{text}"], "cannot read certificate"),
    ("istree", ["--merge", "{list_json}"], "not a shard certificate"),
    ("istree", ["--merge", "{object_json}"], "not a shard certificate"),
    ("istree", ["--merge", "{dir}/graph_cert.json"], "not a shard certificate"),
    ("istree", ["--merge", "{dir}/minp_cert.json"], "not a shard certificate"),
    ("retrieval", ["--task", "index", "--n", "1000000000"], "--n must lie in"),
    ("retrieval", ["--task", "index", "--n", "10000", "--samples", "5"], "--n must lie in"),
    ("retrieval", ["--task", "cgram", "--n", "1000000000", "--c", "1000000000"], "--n must lie in"),
    ("retrieval", ["--task", "index", "--n", "7", "--alphabet", "full"], "full-alphabet instances"),
    ("retrieval", ["--task", "index", "--n", "5", "--json", "{missing_dir_json}"], "does not exist"),
    ("retrieval", ["--task", "index", "--n", "5", "--weights", "{good}"], "different layout"),
    ("retrieval", ["--task", "index", "--n", "5", "--model", "nope"], "invalid choice"),
    ("turing", ["--machine", "nope", "--max-len", "2"], "nope"),
    ("turing", ["--machine", "{machine_bad}", "--max-len", "2"], "machine"),
    ("turing", ["--machine", "parity", "--max-len", "99"], "--max-len must lie in"),
    ("turing", ["--machine", "parity", "--trace", "01x"], "x"),
    ("turing", ["--machine", "{machine_loop}", "--max-len", "2", "--max-steps", "50"], "did not halt within 50"),
    ("turing", ["--machine", "parity", "--max-len", "2", "--json", "{dir}"], "is a directory"),
    ("compare", ["--n", "3"], "--n must lie in"),
    ("compare", ["--n", "4", "--json", "{missing_dir_json}"], "does not exist"),
    ("compare", ["--n", "4", "--plot", "{missing_dir_json}"], "does not exist"),
    ("compare", ["--n", "4", "--weights", "index/transformer={npy}"], "single array"),
    ("smt", ["--gadget", "copy", "--n", "1000000000"], "--n must lie in"),
    ("smt", ["--gadget", "copy", "--n", "4", "--json", "{missing_dir_json}"], "does not exist"),
    ("smt", ["--construction", "index", "--n", "4", "--weights", "{w_q_1d}"], "W_Q has shape"),
]


@pytest.mark.parametrize("cmd,args,message", CASES, ids=[f"{c}:{' '.join(a)[:40]}" for c, a, _ in CASES])
def test_bad_input_is_one_line_exit_2(files, cmd, args, message, capsys):
    argv = [a.format(**files) for a in args]
    started = time.time()
    assert MAINS[cmd](argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0] and err[0].startswith("verify.") and message in err[0], err
    assert time.time() - started < 20
    for a in argv:
        if a.endswith("c.json"):
            assert not __import__("os").path.exists(a)


def test_broken_pipe_is_quiet():
    r = subprocess.run(f"{sys.executable} -m verify.istree --n 5 --no-progress --json - | head -c 10",
                       shell=True, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


def test_json_to_stdout_is_parseable():
    r = subprocess.run([sys.executable, "-m", "verify.retrieval", "--task", "index", "--n", "4", "--json", "-",
                        "--no-progress"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and json.loads(r.stdout)["verified"] and r.stderr.startswith("verified:")


def test_min_precision_on_a_shard_records_the_shard(tmp_path):
    cert = tmp_path / "c.json"
    assert istree.main(["--n", "4", "--shard", "1/3", "--min-precision", "--no-progress", "--json", str(cert)]) == 0
    c = json.loads(cert.read_text())
    assert c["shard"] == {"index": 1, "count": 3} and 0 < c["instances_checked"] < c["domain"]["instances"]
    assert c["min_precision"] and {"p": c["min_precision"] - 2, "pass": False} in c["tried"]


def test_nothing_is_certified_on_zero_instances():
    from verify import cli

    cert = cli.certificate(command=["x"], domain={}, checked=0, failures=[], verified=True, started=time.time())
    assert cert["verified"] is False


def test_a_rag_model_writing_a_bad_pattern_is_a_counterexample(tmp_path, capsys):
    """A corrupted RAG model emits a pattern the retriever cannot run: exit 1 (counterexample), not 2."""
    from constructions.rag.istree import build_rag_istree

    model = build_rag_istree(4)
    path = tmp_path / "w.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    # the last FFN always pushes <EndSearch>: the first search has no <StartSearch>, which the
    # retriever cannot run (a bad pattern of the model's own making)
    arrays["rnn.block3.ffn.b_3"][model.layout["tok:<EndSearch>"]] += 100.0
    np.savez(path, **arrays)
    code = istree.main(["--n", "4", "--model", "rag", "--graph", "1-2,2-3,3-4", "--weights", str(path)])
    assert code == 1, capsys.readouterr()


def test_wrong_weights_for_index_are_a_counterexample(tmp_path, capsys):
    model = build_index_transformer(5)
    model.blocks[1].heads[0].W_V *= 1.2  # caught only off the {1,2} alphabet (the audit's example)
    path = tmp_path / "w.npz"
    model_io.save(model, str(path))
    assert retrieval.main(["--task", "index", "--n", "5", "--weights", str(path), "--no-progress"]) == 1
