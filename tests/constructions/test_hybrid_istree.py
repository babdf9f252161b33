"""Thm 5.7 hybrid IsTree: the reference CoT against networkx, the O(n log n) length, the model on all
graphs of a size and on random graphs, greedy decoding, corrupted weights caught, bad input rejected."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import networkx as nx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constructions import registry
from constructions.hybrid.istree import build_istree_hybrid, claim, max_cot_length
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64
from constructions.runtime.decode import greedy
from theory.hybrid_trace import istree_hybrid_trace
from theory.tasks import istree as task
from theory.tokens import NO, YES
from theory.tasks.istree import IstreeTask
from verify import core

KIND = registry.get("istree", "hybrid")


def random_tree(n, rng):
    return task.sample_graph(n, "tree", rng)


def _nx_tree(n, edges):
    g = nx.Graph()
    g.add_nodes_from(range(1, n + 1))
    g.add_edges_from(edges)
    return nx.is_tree(g)


def test_reference_answers_agree_with_networkx():
    rng = np.random.default_rng(0)
    for n in range(2, 7):
        pairs = list(itertools.combinations(range(1, n + 1), 2))
        for m in range(0, min(len(pairs), n + 1) + 1):
            for edges in itertools.combinations(pairs, m):
                edges = [edges[i] for i in rng.permutation(m)]
                trace = istree_hybrid_trace(n, edges)
                assert (trace[-1] == YES) == _nx_tree(n, edges), edges
                assert len(trace) - 1 <= max_cot_length(n)


def test_cot_length_grows_like_n_log_n():
    ratios_nlogn, ratios_n = [], []
    for n in (8, 16, 32, 64, 128):
        rng = np.random.default_rng(n)
        length = max(len(istree_hybrid_trace(n, random_tree(n, rng))) - 1 for _ in range(4))
        ratios_nlogn.append(length / (n * math.log2(n)))
        ratios_n.append(length / n)
    assert max(ratios_nlogn) / min(ratios_nlogn) < 1.5          # bounded ratio to n log n
    assert ratios_n[-1] > 1.8 * ratios_n[0]                     # but not O(n)


def test_size_is_constant():
    for n in (4, 9, 40):
        s = build_istree_hybrid(n).shape()
        assert {k: s[k] for k in claim()} == claim() and s["width"] == 77


def test_all_graphs_n5():
    model = build_istree_hybrid(5)
    graphs = [list(e) for m in (3, 4, 5) for e in itertools.combinations(itertools.combinations(range(1, 6), 2), m)]
    res = core.check(KIND, IstreeTask(5), model, graphs, FLOAT64)
    assert res.checked == len(graphs) and res.failed == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(4, 10), st.integers(0, 2**31 - 1), st.sampled_from(task.FAMILIES))
def test_random_graphs(n, seed, family):
    edges = task.sample_graph(n, family, np.random.default_rng(seed))
    assert core.check(KIND, IstreeTask(n), build_istree_hybrid(n), [edges], FLOAT64).failed == 0


def test_greedy_decoding_reproduces_the_trace():
    n, edges = 6, [(2, 5), (1, 2), (3, 5), (4, 5), (1, 6)]
    model = build_istree_hybrid(n)
    vocab = model.vocab
    ref = istree_hybrid_trace(n, edges)
    out, stopped = greedy(model, list(vocab.ids(task.prompt_tokens(edges))), {vocab.id(YES), vocab.id(NO)},
                          len(ref) + 2)
    assert stopped and vocab.tokens(out) == [str(t) for t in ref] and ref[-1] == YES


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "verify.istree", *args], capture_output=True, text=True)


def test_corrupted_weights_are_caught(tmp_path):
    model = build_istree_hybrid(4)
    near = next(h for h in model.top.heads if h.name == "NEAREST")
    near.W_V[:] = 0.0  # every neighbour query answers "none"
    path = tmp_path / "bad.npz"
    model_io.save(model, str(path))
    r = _cli("--n", "4", "--model", "hybrid", "--weights", str(path), "--no-progress")
    assert r.returncode == 1, r.stderr
    assert "FAILED" in r.stdout and "smallest counterexample" in r.stdout


def test_cli_passes_and_rejects_bad_input(tmp_path):
    r = _cli("--n", "4", "--model", "hybrid", "--no-progress")
    assert r.returncode == 0 and r.stdout.startswith("verified:")
    r = _cli("--n", "4", "--model", "hybrid", "--graph", "1-2,2-9")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    path = tmp_path / "w5.npz"
    model_io.save(build_istree_hybrid(5), str(path))
    r = _cli("--n", "4", "--model", "hybrid", "--weights", str(path))
    assert r.returncode == 2 and "different layout or vocabulary" in r.stderr


def test_one_nearest_query_is_not_a_successor_search():
    # Thm 5.7 (docs/errata.md): a quadratic nearest-match score is symmetric, so one query at the
    # target w + 1 returns the current neighbour w whenever the successor is farther than w: with
    # neighbours {1, 3} of vertex 2 and w = 1, target 2 answers 1 (tie, smaller wins), not 3. The
    # doubling search asks target 3 next and finds it.
    edges = [(1, 2), (2, 3)]
    trace = istree_hybrid_trace(3, edges)
    records = [trace[i + 1:i + 5] for i, t in enumerate(trace) if t == "dfs:q"]
    assert [2, 1, 2, 1] in records and [2, 1, 3, 3] in records
    # the model's own nearest-match head gives these answers: teacher forcing passes on this graph, so
    # at the record (v, w, t) = (2, 1, 2) its NEAREST head returned 1 (the current neighbour), and only
    # the doubled target 3 reached the successor
    assert core.check(KIND, IstreeTask(3), build_istree_hybrid(3), [edges]).failed == 0
    # and the definition: neighbours of 2 are {1, 3}; both are 1 from the target 2, the smaller wins
    assert min(({1, 3}), key=lambda u: (abs(2 - u), u)) == 1
