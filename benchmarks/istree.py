"""Time the exhaustive IsTree check against a plain networkx sweep over the same graphs.

    python benchmarks/istree.py [--n 8] [--repeat 1] [--workers 2]

Both sides see the same list of graphs (every simple graph on n vertices with n - 1 edges, in the
checker's seeded edge orders). The baseline builds a networkx Graph and calls ``is_tree`` for each;
the checker builds the reference DFS trace, runs the Transformer over prompt + trace (teacher
forcing), and also compares every answer with networkx. Prints both times (median over --repeat)
and ``ratio: X`` = checker / baseline. The baseline runs on one core, as a user would write it.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import networkx as nx

from constructions.runtime.arithmetic import FLOAT64
from theory.tasks import istree as task
from verify.istree import CHUNK, MODEL_KINDS, Domain, run_domain


def networkx_sweep(domain: Domain) -> tuple[float, int]:
    start, trees = time.perf_counter(), 0
    for c in range(math.ceil(domain.size / CHUNK)):
        _, graphs = domain.chunk(c)
        for edges in graphs:
            g = nx.Graph()
            g.add_nodes_from(range(1, domain.n + 1))
            g.add_edges_from(edges)
            trees += nx.is_tree(g)
    return time.perf_counter() - start, trees


def checker(domain: Domain, workers: int) -> tuple[float, int, int]:
    kind = MODEL_KINDS["transformer"]
    start = time.perf_counter()
    model = kind.build(domain.n)
    checked, bad, _, trees = run_domain(model, kind, domain, FLOAT64, workers=workers, show_progress=False)
    if bad:
        raise SystemExit(f"the check failed on {bad} graphs; fix that before timing it")
    return time.perf_counter() - start, checked, trees


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--repeat", type=int, default=1, help="runs of each side; medians are reported")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    domain = Domain(a.n, a.n - 1, "one", None, 0)
    base, check = [], []
    for _ in range(a.repeat):
        t, trees_nx = networkx_sweep(domain)
        base.append(t)
        t, checked, trees = checker(domain, a.workers)
        check.append(t)
        assert trees == trees_nx and checked == domain.size
    b, c = statistics.median(base), statistics.median(check)
    print(f"graphs: {domain.size:,} (n = {a.n}, {a.n - 1} edges; {trees:,} trees)")
    print(f"networkx is_tree sweep (1 core): {b:.1f} s")
    print(f"verify.istree check ({a.workers} workers): {c:.1f} s")
    print(f"ratio: {c / b:.2f}")


if __name__ == "__main__":
    main()
