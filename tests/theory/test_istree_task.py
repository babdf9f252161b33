"""IsTree task: the reference DFS trace and answer against networkx, formats and generators."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory.tasks import istree as task
from theory.tokens import NO, YES


def nx_graph(n, edges):
    g = nx.Graph()
    g.add_nodes_from(range(1, n + 1))
    g.add_edges_from(edges)  # adjacency order = input order, so networkx's DFS scans like ours
    return g


def check_trace_against_networkx(n, edges):
    trace = task.reference_trace(n, edges)
    g = nx_graph(n, edges)
    tour, answer = trace[:-1], trace[-1]
    assert answer == (YES if nx.is_tree(g) else NO)
    assert task.is_tree(n, edges) == nx.is_tree(g)
    assert tour[0] == 1 and all(g.has_edge(a, b) for a, b in zip(tour, tour[1:]))
    comp = nx.node_connected_component(g, 1)
    if not any(nx.cycle_basis(g.subgraph(comp))):
        # no cycle reachable: the tour is the full Euler tour of the DFS tree of 1's component,
        # visiting vertices in networkx's DFS preorder
        assert len(tour) == 2 * len(comp) - 1 and tour[-1] == 1
        first_visits = list(dict.fromkeys(tour))
        assert first_visits == list(nx.dfs_preorder_nodes(g, 1))
    else:
        # a cycle is reachable: the trace stops with NO before completing, at a vertex that has an
        # edge to an already visited vertex other than its DFS parent
        assert answer == NO and len(tour) <= 2 * len(comp) - 1


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_every_graph_every_edge_count(n):
    pairs = list(itertools.combinations(range(1, n + 1), 2))
    rng = np.random.default_rng(n)
    for m in range(len(pairs) + 1):
        for combo in itertools.combinations(pairs, m):
            edges = [combo[i] for i in rng.permutation(m)]
            check_trace_against_networkx(n, edges)


@settings(max_examples=200, deadline=None)
@given(st.integers(4, 14), st.sampled_from(task.FAMILIES), st.integers(0, 2**32 - 1))
def test_random_families(n, family, seed):
    edges = task.sample_graph(n, family, np.random.default_rng(seed))
    assert task.check_edges(n, edges) == edges
    check_trace_against_networkx(n, edges)


def test_figure_3_example():
    edges = task.check_edges(6, [(2, 6), (1, 5), (3, 5), (4, 6), (2, 3)])
    assert task.reference_trace(6, edges) == [1, 5, 3, 2, 6, 4, 6, 2, 3, 5, 1, YES]


@pytest.mark.parametrize("n", [4, 5, 6, 7])
def test_hard_family_is_tree_iff_bits_differ(n):
    for x in itertools.product((0, 1), repeat=n - 2):
        for k in range(1, n - 2):
            edges = task.hard_instance(n, x, k)
            assert nx.is_tree(nx_graph(n, edges)) == (x[k - 1] != x[k])


def test_binary_family_is_balanced():
    rng = np.random.default_rng(0)
    trees = sum(task.is_tree(10, task.sample_graph(10, "binary", rng)) for _ in range(2000))
    assert 850 < trees < 1150  # exactly 1/2 in expectation (App. B)


def test_enumeration_counts_and_order():
    for n, m in [(4, 3), (5, 4), (6, 5)]:
        g = task.enumerate_graphs(n, m)
        assert len(g) == task.count_graphs(n, m) == len({tuple(r) for r in g.tolist()})
    part = task.enumerate_graphs(6, 5, 100, 110)
    assert np.array_equal(part, task.enumerate_graphs(6, 5)[100:110])


def test_prompt_format():
    assert task.prompt_tokens([(1, 2), (2, 5)]) == ["<s>", 1, "~", 2, 2, "~", 5, "<sep>"]


@pytest.mark.parametrize("text,msg", [
    ("1-2,2", "malformed"), ("1-2,,3-4", "malformed"), ("1--2", "malformed"), ("a-b", "malformed"),
    ("1-1", "self-loop"), ("1-9", "out of range"), ("0-2", "out of range"), ("1-2,2-1", "repeated"),
])
def test_bad_graphs_are_rejected(text, msg):
    with pytest.raises(ValueError, match=msg):
        task.parse_graph(text, 5)


def test_bad_n_and_families():
    with pytest.raises(ValueError, match="n >= 2"):
        task.check_n(1)
    with pytest.raises(ValueError, match="unknown graph family"):
        task.sample_graph(6, "nope", np.random.default_rng(0))
    assert task.parse_graph(" 2-1 , 3-2 ", 3) == [(1, 2), (2, 3)]


def test_position_only_yes_test_is_fooled():
    """Lemma C.27 (docs/istree.md, problem 6): the paper's YES test looks only at position 5n - 3.

    In the paper's format (no separator) the tour ends at position 3m + 1 + (2c - 1), c = the size of
    vertex 1's component. A path on 1..n-6 plus 10 edges among the last 6 vertices has m = n + 3 and
    c = n - 6, which lands exactly on 5n - 3 although the graph is not a tree.
    """
    for n in range(12, 20):
        path = [(i, i + 1) for i in range(1, n - 6)]
        rest = [(a, b) for a in range(n - 5, n + 1) for b in range(a + 1, n + 1)][:10]
        edges = path + rest
        tour = task.reference_trace(n, edges)[:-1]
        assert 3 * len(edges) + 1 + len(tour) == 5 * n - 3
        assert not nx.is_tree(nx_graph(n, edges)) and task.reference_trace(n, edges)[-1] == NO


@pytest.mark.parametrize("n, m", [(5, 4), (5, 0), (6, 7)])
def test_chunk_prompts_and_answers_equal_the_per_instance_ones(n, m):
    """The checker's array-built prompts and reused-graph networkx answers are the generic
    per-instance ones (Task.prompt_ids / Task.answer_ids), on every graph of the domain."""
    from theory.tasks.base import Task

    t = task.IstreeTask(n)
    vocab = t.vocab()
    domain = t.domain(edges=m)
    for c in range(domain.n_chunks):
        chunk = domain.chunk(c)[1]
        ids, lengths = t.prompt_ids(chunk, vocab)
        ref_ids, ref_lengths = Task.prompt_ids(t, chunk, vocab)
        assert np.array_equal(ids, ref_ids) and np.array_equal(lengths, ref_lengths)
        assert np.array_equal(t.answer_ids(chunk, vocab), Task.answer_ids(t, chunk, vocab))


def test_chunk_prompts_of_mixed_sizes_fall_back_to_the_per_instance_path():
    from theory.tasks.base import Chunk, Task

    t = task.IstreeTask(6)
    vocab = t.vocab()
    chunk = Chunk(np.arange(3), [[(1, 2)], [(1, 2), (2, 3), (3, 4), (4, 5), (5, 6)], []])
    ids, lengths = t.prompt_ids(chunk, vocab)
    ref_ids, ref_lengths = Task.prompt_ids(t, chunk, vocab)
    assert np.array_equal(ids, ref_ids) and np.array_equal(lengths, ref_lengths)
    assert t.answer_ids(chunk, vocab).tolist() == [vocab.id(NO), vocab.id(YES), vocab.id(NO)]


def test_graphs_are_found_from_their_rank_as_itertools_lists_them():
    """enumerate_graphs unranks (no enumeration before start): the same rows as itertools, at every
    edge count up to n = 6 and at chunk boundaries anywhere in the order."""
    from math import comb

    for n in range(2, 7):
        for m in range(comb(n, 2) + 1):
            listed = np.array(list(itertools.combinations(range(comb(n, 2)), m)), dtype=np.int64)
            listed = listed.reshape(len(listed), m)
            assert np.array_equal(task.enumerate_graphs(n, m), listed)
            total = len(listed)
            for a, b in [(0, 1), (total // 3, total // 2 + 1), (total - 1, total), (total, total)]:
                assert np.array_equal(task.enumerate_graphs(n, m, a, b), listed[a:b])
