"""The Dask engine (verify/engine.py): the same certificate counts in-process, on a real cluster of
separate ``dask scheduler`` / ``dask worker`` processes, and when a worker is killed mid-run; a lost
or unreachable scheduler ends the run with one line and exit code 2."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from verify import engine, istree

ROOT = Path(__file__).resolve().parents[2]
TREES = {6: 1296, 7: 16807}   # n^(n-2), Cayley
GRAPHS = {6: 3003, 7: 54264}  # C(C(n,2), n-1)


def _env():
    """Workers import this checkout (not an installed copy), with one BLAS thread."""
    return {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}


class Cluster:
    """A scheduler and workers as separate processes, as a user starts them by hand."""

    def __init__(self, tmp_path: Path, workers: int = 1, nanny: bool = True):
        self.file = tmp_path / "scheduler.json"
        self.procs = []
        self.scheduler = self._start(["scheduler", "--scheduler-file", str(self.file), "--port", "0",
                                      "--no-dashboard"])
        deadline = time.monotonic() + 60
        while not self.file.exists() or not self.file.read_text().strip():
            if time.monotonic() > deadline:
                raise RuntimeError("the Dask scheduler did not start")
            time.sleep(0.2)
        self.address = json.loads(self.file.read_text())["address"]
        for _ in range(workers):
            self._start(["worker", self.address, "--nthreads", "1", "--no-dashboard", "--memory-limit", "0"]
                        + ([] if nanny else ["--no-nanny"]))
        from distributed import Client

        self.client = Client(self.address, timeout=30)
        self.client.wait_for_workers(workers, timeout=60)

    def _start(self, args):
        proc = subprocess.Popen([sys.executable, "-m", "dask", *args], cwd=ROOT, env=_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def worker_pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def close(self):
        try:
            self.client.close()
        finally:
            for proc in reversed(self.procs):
                if proc.poll() is None:
                    proc.kill()
                proc.wait(timeout=30)


@pytest.fixture
def cluster(tmp_path):
    made = []

    def make(**kwargs):
        made.append(Cluster(tmp_path, **kwargs))
        return made[-1]

    yield make
    for c in made:
        c.close()


def _counts(path: Path) -> tuple:
    """(graphs in the exhaustive part, trees among them, failures, ...) of a certificate; the
    default domain also holds seeded samples, counted in ``instances_checked``."""
    cert = json.loads(path.read_text())
    exhaustive = next(iter(cert["parts"].values()))["instances"]
    return (exhaustive, cert["trees"], cert["failure_count"], cert["answers"],
            cert["instances_checked"], cert["tokens_checked"], cert["verified"])


def test_a_run_on_an_existing_cluster_certifies_what_the_default_run_does(cluster, tmp_path):
    c = cluster(workers=1)
    assert istree.main(["--n", "6", "--json", str(tmp_path / "default.json"), "--no-progress"]) == 0
    assert istree.main(["--n", "6", "--scheduler", c.address, "--json", str(tmp_path / "dask.json"),
                        "--no-progress"]) == 0
    assert _counts(tmp_path / "dask.json") == _counts(tmp_path / "default.json")
    assert _counts(tmp_path / "dask.json")[:3] == (GRAPHS[6], TREES[6], 0)
    # several chunks: every graph with 6 edges (5,005 graphs in 2 chunks), in-process vs the cluster
    args = ["--n", "6", "--edges", "6", "--no-progress", "--json"]
    assert istree.main(args + [str(tmp_path / "a.json"), "--workers", "1"]) == 0
    assert istree.main(args + [str(tmp_path / "b.json"), "--scheduler", c.address]) == 0
    assert _counts(tmp_path / "a.json") == _counts(tmp_path / "b.json")


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(cluster, tmp_path):
    """Two workers without nannies; one is killed (SIGKILL) while it holds chunks. The scheduler
    runs them again on the other, and the certificate counts every graph exactly once."""
    c = cluster(workers=2, nanny=False)
    pids = c.worker_pids()
    out = tmp_path / "killed.json"
    result = {}
    run = threading.Thread(target=lambda: result.setdefault("code", istree.main(
        ["--n", "7", "--scheduler", c.address, "--json", str(out), "--no-progress"])))
    run.start()
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and run.is_alive():
        busy = [w for w, tasks in c.client.processing().items() if tasks]
        if len(busy) == 2:  # both workers hold chunks
            time.sleep(1.0)  # and some chunks are done
            victim = busy[0]
        time.sleep(0.05)
    assert victim is not None, "the run ended before a worker could be killed"
    os.kill(pids[victim], signal.SIGKILL)
    run.join(timeout=600)
    assert result.get("code") == 0
    assert _counts(out)[:3] == (GRAPHS[7], TREES[7], 0)
    assert len(c.client.scheduler_info()["workers"]) == 1  # the victim stayed dead


def test_a_lost_scheduler_ends_the_run_with_one_line(cluster, tmp_path, capsys):
    c = cluster(workers=1)
    result = {}
    run = threading.Thread(target=lambda: result.setdefault("code", istree.main(
        ["--n", "7", "--scheduler", c.address, "--no-progress"])))
    run.start()
    deadline = time.monotonic() + 120
    while not any(c.client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    c.scheduler.kill()
    run.join(timeout=engine.SCHEDULER_TIMEOUT + 60)
    assert not run.is_alive(), "the checker hangs after losing its scheduler"
    assert result["code"] == 2
    err = capsys.readouterr().err
    assert "lost the connection to the Dask scheduler" in err and "Traceback" not in err


def test_an_unreachable_scheduler_is_bad_usage(monkeypatch, capsys):
    monkeypatch.setattr(engine, "CONNECT_TIMEOUT", 1.0)
    assert istree.main(["--n", "6", "--scheduler", "tcp://127.0.0.1:9", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err and "Traceback" not in err


def test_small_runs_and_one_worker_stay_in_process(monkeypatch):
    monkeypatch.setattr(engine, "_import_distributed", lambda: pytest.fail("a cluster was started"))
    seen = []
    assert engine.run_chunks(lambda ctx, c: c * ctx, 10, [0, 1, 2], workers=1,
                             on_result=lambda c, r: seen.append((c, r))) == "in-process"
    assert engine.run_chunks(lambda ctx, c: c, None, [3, 4], workers=2, instances=100,
                             on_result=lambda c, r: seen.append((c, r))) == "in-process"
    assert seen == [(0, 0), (1, 10), (2, 20), (3, 3), (4, 4)]


@pytest.mark.slow
def test_ctrl_c_stops_the_local_cluster(tmp_path):
    """SIGINT to the checker's process group (a terminal's Ctrl-C): exit 130, no process left."""
    import psutil

    proc = subprocess.Popen([sys.executable, "-m", "verify.istree", "--n", "8", "--no-progress"], cwd=ROOT,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        kids = psutil.Process(proc.pid).children(recursive=True)
        if len([k for k in kids if "python" in k.name()]) >= 2:
            break
        time.sleep(0.2)
    time.sleep(3)  # the workers are checking chunks
    kids = psutil.Process(proc.pid).children(recursive=True)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()[-2000:]
    gone, alive = psutil.wait_procs(kids, timeout=30)
    assert not alive


@pytest.mark.slow
def test_every_graph_on_9_vertices(tmp_path):
    """The documented n = 9 run (docs/scaling.md): 30,260,340 graphs, 9^7 = 4,782,969 of them trees
    (Cayley), on a local cluster; about an hour on a shared 2-core machine."""
    from math import comb

    out = tmp_path / "istree-n9.json"
    assert istree.main(["--n", "9", "--json", str(out), "--no-progress"]) == 0
    exhaustive, trees, failed, _, _, _, verified = _counts(out)
    assert (exhaustive, trees, failed, verified) == (comb(36, 8), 9 ** 7, 0, True)
    part = next(iter(json.loads(out.read_text())["parts"].values()))
    assert part["answers"] == {"YES": 9 ** 7, "NO": comb(36, 8) - 9 ** 7}


# -- the --min-precision probe that stops at its first failure ----------------------------------------
@pytest.mark.parametrize("task_name,kind,n,samples", [("istree", "transformer", 5, 20), ("istree", "rag", 4, 8),
                                                      ("counting", "hybrid", 8, 40), ("index", "rag", 6, 30)])
def test_early_exit_probe_agrees_with_the_full_check(task_name, kind, n, samples):
    """A probe in this process stops at the first failing batch; its verdict is the full check's at
    every p (passing and failing), and a passing probe has checked every instance."""
    from constructions import registry
    from constructions.runtime.arithmetic import Rp
    from verify import core

    construction = registry.get(task_name, kind)
    task = registry.task_of_size(construction.task, n)
    model = construction.build(task)
    domain = task.domain() if samples is None else task.domain(samples=samples, seed=3)
    chunks = list(range(domain.n_chunks))
    verdicts = set()
    for p in (9, 15, 23, 31, 41, 47):
        full = core.run(construction, task, model, domain, Rp(p), progress=False)
        ok, checked = core.passes_everywhere(construction, task, model, domain, Rp(p), chunks)
        assert ok == (full.failed == 0), p
        if ok:
            assert checked == full.checked == domain.size
        verdicts.add(ok)
    assert verdicts == {True, False}  # both kinds of probe were compared


def test_min_precision_search_finds_every_threshold_with_few_passing_probes():
    """Against every monotone pass/fail threshold t (odd 3..255, and none): the search returns t,
    ran t (pass) and t - 2 (fail), never probes twice, and needs at most 4 passing probes (the
    expensive kind) for t in 17..129."""
    from verify import core

    for t in list(range(3, 257, 2)) + [257]:
        p, tried = core.min_precision(lambda p: p >= t, report=lambda s: None)
        assert p == (t if t <= 255 else None)
        runs = {(d["p"], d["pass"]) for d in tried}
        assert len(runs) == len(tried)
        if p is not None:
            assert (p, True) in runs and (p == 3 or (p - 2, False) in runs)
        if 17 <= t <= 129:
            assert sum(d["pass"] for d in tried) <= 4, (t, tried)
