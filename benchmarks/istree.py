"""Time the exhaustive IsTree check against a bare networkx sweep over the same graphs.

    python benchmarks/istree.py [--n 8] [--repeat 3] [--workers 2]

Both sides see the same graphs: every simple graph on n vertices with n - 1 edges, in the checker's
seeded edge orders. The baseline's graphs are built as networkx Graphs *before* its timer starts, so
it times ``nx.is_tree`` alone, on one core, as a user would write the sweep. The checker's time is
the whole check as ``python -m verify.istree --n N`` runs it: the domain, the reference DFS traces,
the Transformer over prompt + trace (teacher forcing), and the networkx answer of every graph.
Prints both medians over --repeat runs, the worker and core counts, and ``ratio: X`` = checker /
baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import networkx as nx

from constructions import registry
from constructions.runtime.arithmetic import FLOAT64
from theory.tasks.istree import IstreeTask
from verify import core


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


def checker(task: IstreeTask, domain, workers: int) -> tuple[float, int, int]:
    construction = registry.get("istree", "transformer")
    start = time.perf_counter()
    model = construction.build(task)
    res = core.run(construction, task, model, domain, FLOAT64, workers=workers, progress=False)
    if res.failed:
        raise SystemExit(f"the check failed on {res.failed} graphs; fix that before timing it")
    return time.perf_counter() - start, res.checked, res.answers.get("YES", 0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--repeat", type=int, default=1, help="runs of each side; medians are reported")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    task = IstreeTask(a.n)
    domain = task.domain()
    graphs = graphs_of(task, domain)
    base, check = [], []
    for _ in range(a.repeat):
        t, trees_nx = networkx_sweep(graphs)
        base.append(t)
        t, checked, trees = checker(task, domain, a.workers)
        check.append(t)
        assert trees == trees_nx and checked == domain.size == len(graphs)
    b, c = statistics.median(base), statistics.median(check)
    print(f"graphs: {domain.size:,} (n = {a.n}, {a.n - 1} edges; {trees:,} trees); machine: {os.cpu_count()} cores")
    print(f"networkx is_tree sweep over pre-built graphs (1 core): {b:.1f} s (median of {a.repeat})")
    print(f"verify.istree check ({a.workers} workers): {c:.1f} s (median of {a.repeat})")
    print(f"ratio: {c / b:.2f}")


if __name__ == "__main__":
    main()
