"""Time the exhaustive IsTree check against a bare networkx sweep over the same graphs.

    python benchmarks/istree.py [--n 8] [--repeat 3] [--workers 2]

Both sides see the same graphs: every simple graph on n vertices with n - 1 edges, in the checker's
seeded edge orders. The baseline's graphs are built as networkx Graphs *before* its timer starts, so
it times ``nx.is_tree`` alone, on one core, as a user would write the sweep. The checker's time is
the whole check as a user runs it, ``python -m verify.istree --n N --workers W`` in a fresh process:
start-up, the Dask cluster, the domain, the reference DFS traces, the Transformer over prompt +
trace (teacher forcing, every position compared), and ``networkx.is_tree`` of every graph.
The two sides alternate; the script prints every time, both medians over --repeat runs, the worker
and core counts, the load average before and after (the machine may be shared), and
``ratio: X`` = checker / baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an installed copy

import networkx as nx  # noqa: E402

from theory.tasks.istree import IstreeTask  # noqa: E402


def graphs_of(task: IstreeTask, domain) -> list[nx.Graph]:
    out = []
    for c in range(domain.n_chunks):
        for edges in domain.chunk(c)[1].instances:
            g = nx.Graph()
            g.add_nodes_from(range(1, task.n + 1))
            g.add_edges_from(edges)
            out.append(g)
    return out


def networkx_sweep(graphs: list[nx.Graph]) -> tuple[float, int]:
    start = time.perf_counter()
    trees = sum(1 for g in graphs if nx.is_tree(g))
    return time.perf_counter() - start, trees


def checker(n: int, workers: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        cert = Path(tmp) / "cert.json"
        command = [sys.executable, "-m", "verify.istree", "--n", str(n), "--workers", str(workers),
                   "--no-progress", "--json", str(cert)]
        start = time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"the check failed (exit {done.returncode}): {done.stdout}{done.stderr}")
        return seconds, json.loads(cert.read_text())


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--repeat", type=int, default=1, help="runs of each side; medians are reported")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    print(f"load average (1, 5, 15 min) before: {load()}", flush=True)
    task = IstreeTask(a.n)
    domain = task.domain()
    graphs = graphs_of(task, domain)
    base, check = [], []
    for i in range(a.repeat):
        t, trees_nx = networkx_sweep(graphs)
        base.append(t)
        t, cert = checker(a.n, a.workers)
        check.append(t)
        trees_cert = sum(part["answers"].get("YES", 0) for part in cert["parts"].values())
        assert cert["verified"] and trees_cert == trees_nx and cert["instances_checked"] == len(graphs), \
            f"the certificate disagrees with networkx: {trees_cert} trees vs {trees_nx}"
        print(f"  run {i + 1}: networkx {base[-1]:.1f} s, check {check[-1]:.1f} s", flush=True)
    b, c = statistics.median(base), statistics.median(check)
    print(f"graphs: {len(graphs):,} (n = {a.n}, {a.n - 1} edges; {trees_nx:,} trees); "
          f"machine: {os.cpu_count()} cores; load average after: {load()}")
    print(f"networkx is_tree sweep over pre-built graphs (1 core): {b:.1f} s (median of {a.repeat})")
    print(f"python -m verify.istree --n {a.n} ({a.workers} workers): {c:.1f} s (median of {a.repeat})")
    print(f"ratio: {c / b:.2f}")


if __name__ == "__main__":
    main()
