"""Exact one-way complexity by brute force vs closed forms; Z3 machine search at the tiniest sizes."""

from itertools import combinations, permutations, product

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, strategies as st

from theory import bounds as B
from theory import comm as C
from theory.hard_families import istree_family, parse_istree


def nx_tree(n, edges):
    g = nx.Graph()
    g.add_nodes_from(range(1, n + 1))
    g.add_edges_from(edges)
    return len(edges) == n - 1 and g.number_of_edges() == n - 1 and nx.is_tree(g)


@given(st.integers(2, 7).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.sampled_from(list(combinations(range(1, n + 1), 2))), max_size=n + 1))))
def test_union_find_is_tree_matches_networkx(case):
    n, edges = case
    assert C.is_tree_edges(n, edges) == nx_tree(n, edges)


@pytest.mark.parametrize("n", range(2, 7))
def test_tree_masks_are_exactly_the_spanning_trees(n):
    edges = C.edge_list(n)
    expect = sorted(sum(1 << edges.index(e) for e in combo)
                    for combo in combinations(edges, n - 1) if nx_tree(n, list(combo)))
    assert C.tree_masks(n).tolist() == expect
    assert len(expect) == n ** (n - 2)  # Cayley


def brute_istree_states_upper(n, j):
    """Independent of theory.comm: rows keyed by networkx components; check each key is one row."""
    edges = C.edge_list(n)
    rows = {}
    for alice in combinations(edges, n - 1 - j):
        g = nx.Graph(alice)
        g.add_nodes_from(range(1, n + 1))
        key = "cycle" if not nx.is_forest(g) else frozenset(frozenset(c) for c in nx.connected_components(g))
        for bob in combinations([e for e in edges if e not in alice], j):
            ans = nx_tree(n, list(alice) + list(bob))
            assert rows.setdefault((key, bob), ans) == ans
        rows.setdefault(("keys",), set()).add(key)
    return len(rows[("keys",)])


@pytest.mark.parametrize("n", range(2, 7))
def test_istree_all_splits_vs_closed_form(n):
    for split in C.istree_all_splits(n):
        closed = B.istree_split_rows(n, split.j)
        assert split.colouring_ok and split.classes == closed
        if n <= 5:
            assert split.classes == brute_istree_states_upper(n, split.j)
        if n >= 5:
            assert split.states == closed
        else:
            assert split.states is not None and split.states <= closed
    if n == 4:
        assert [s.states for s in C.istree_all_splits(4)] == [2, 5, 6, 1]
    if n == 3:
        assert [s.states for s in C.istree_all_splits(3)] == [1, 1, 1]  # every 2-edge graph is a path


def nx_class(n, mask, edges):
    g = nx.Graph([edges[e] for e in range(len(edges)) if mask >> e & 1])
    g.add_nodes_from(range(1, n + 1))
    if not nx.is_forest(g):
        return "cycle"
    return frozenset(frozenset(c) for c in nx.connected_components(g))


@pytest.mark.parametrize("n", [4, 5, 6])
def test_every_pair_of_classes_conflicts_for_j_at_least_2(n):
    """The key lemma of the IsTree class count, by brute force over every suffix (no construction used):
    for j >= 2, any two of Alice's edge sets in different classes get different answers on a common
    valid suffix, so the S(n, j+1) + [n-1-j >= 3] classes are a clique and the count is exact."""
    edges = C.edge_list(n)
    for j in range(2, n):
        alice, _, yes, no = C.istree_answers(n, j)
        conflict = C.conflict_matrix(yes, no)
        keys = [nx_class(n, int(m), edges) for m in alice]
        different = np.array([[a != b for b in keys] for a in keys])
        assert (conflict | ~different).all()
        assert len(set(keys)) == B.istree_split_rows(n, j)


def test_lemma_fails_at_j_1_for_n_4():
    # at j = 1 some pairs in different classes never conflict: the count there is 5, not 7
    n, edges = 4, C.edge_list(4)
    alice, _, yes, no = C.istree_answers(n, 1)
    keys = [nx_class(n, int(m), edges) for m in alice]
    conflict = C.conflict_matrix(yes, no)
    assert any(not conflict[a, b] for a in range(len(keys)) for b in range(len(keys)) if keys[a] != keys[b])


@pytest.mark.slow
def test_istree_n7_every_split():
    assert [s.states for s in C.istree_all_splits(7)] == [B.istree_split_rows(7, j) for j in range(7)]


def test_istree_max_over_splits_exceeds_paper():
    best = max(s.states for s in C.istree_all_splits(6))
    assert best == 91 and B.log2_ceil(best) == 7 > 6 - 3


@pytest.mark.parametrize("n", [1, 5, 11, 16])
def test_index_whole_domain(n):
    assert C.sequence_rows_by_split("index", n, 2) == [2 ** i for i in range(n + 1)]


@pytest.mark.parametrize("n,sigma", [(4, 2), (6, 2), (4, 3), (5, 3), (4, 4)])
def test_counting_whole_domain(n, sigma):
    assert C.sequence_rows_by_split("counting", n, sigma) == [B.counting_rows_split(i, sigma) for i in range(n + 1)]


def brute_rows(answer, n, sigma, queries, i):
    """Distinct rows straight from the definition: a dict per prefix, no reshaping."""
    rows = set()
    for pre in product(range(1, sigma + 1), repeat=i):
        rows.add(tuple(answer(pre + suf, *q) for suf in product(range(1, sigma + 1), repeat=n - i)
                       for q in queries))
    return len(rows)


@pytest.mark.parametrize("n,sigma", [(4, 2), (4, 3), (5, 2)])
def test_sequence_tasks_vs_plain_definitions(n, sigma):
    ar = [brute_rows(C.ar_answer, n, sigma, [(q,) for q in range(1, sigma + 1)], i) for i in range(n + 1)]
    assert C.sequence_rows_by_split("ar", n, sigma) == ar
    cnt = [brute_rows(C.counting_answer, n, sigma, [(q, t) for q in range(1, sigma + 1) for t in range(n + 1)], i)
           for i in range(n + 1)]
    assert C.sequence_rows_by_split("counting", n, sigma) == cnt


def test_ar_table_matches_scalar_definition():
    xs = C.all_sequences(4, 3)
    table = C.answer_table("ar", 4, 3)
    for x, row in zip(xs.tolist(), table.tolist()):
        assert row == [C.ar_answer(x, q) for q in range(1, 4)]


def test_unknown_sequence_task():
    with pytest.raises(ValueError):
        C.answer_table("istree", 3, 2)


# ---- Z3: a streaming machine exists at the bound and not one state below, at every split
def index_words(n):
    words = [x + (k,) for x in product("ab", repeat=n) for k in range(1, n + 1)]
    return words, [w[w[-1] - 1] for w in words]


@pytest.mark.parametrize("n", [2, 3])
def test_z3_index(n):
    words, answers = index_words(n)
    widths = [1] + [2 ** t for t in range(1, n + 1)] + [2]
    assert C.streaming_machine_exists(words, answers, widths)
    for t in range(1, n + 1):
        low = list(widths)
        low[t] -= 1
        assert not C.streaming_machine_exists(words, answers, low)


def test_z3_istree_whole_domain_n4():
    n = 4
    words = list(permutations(C.edge_list(n), n - 1))
    answers = [nx_tree(n, list(w)) for w in words]
    widths = [1] + [s.states for s in C.istree_all_splits(n)][::-1][1:]
    assert widths == [1, 6, 5, 2]
    assert C.streaming_machine_exists(words, answers, widths)
    for t in range(1, n):
        low = list(widths)
        low[t] -= 1
        assert not C.streaming_machine_exists(words, answers, low)


def test_z3_istree_two_hub_family_n5():
    insts = list(istree_family(5))
    words = [tuple(parse_istree(i.tokens)[1]) for i in insts]
    answers = [i.claimed for i in insts]
    widths = [1, 2, 4, 4, 2]  # after the 3 hub edges only 2^(n-3) = 4 classes remain
    assert C.streaming_machine_exists(words, answers, widths)
    assert not C.streaming_machine_exists(words, answers, [1, 2, 4, 3, 2])
