"""Every hard-family instance is valid, answered as claimed, and Bob's answers recover Alice's input."""

from itertools import combinations, product

import networkx as nx
import pytest
from hypothesis import given, strategies as st

from theory import bounds as B
from theory import hard_families as H
from theory.comm import edge_list
from theory.tokens import YES


@pytest.mark.parametrize("family,n,sigma,c", [
    ("index", 6, 2, 3), ("index", 4, 3, 3), ("ar", 8, 2, 3), ("ar", 9, 3, 3), ("cgram", 9, 2, 3),
    ("cgram", 12, 3, 3), ("cgram", 8, 2, 2), ("counting", 6, 2, 3), ("counting", 4, 3, 3), ("counting", 7, 4, 3),
    ("counting_list", 6, 2, 3), ("istree", 7, 2, 3), ("parity", 7, 2, 3), ("prop51", 7, 2, 3),
    ("prop51", 7, 3, 3),
])
def test_family_checks_pass(family, n, sigma, c):
    rep = H.check_family(family, n, sigma, c)
    assert rep.ok, rep
    assert rep.instances > 0


def test_istree_family_answers_agree_with_networkx():
    for inst in H.istree_family(7):
        _, edges = H.parse_istree(inst.tokens)
        graph = nx.Graph(edges)
        graph.add_nodes_from(range(1, 8))
        assert (inst.claimed == YES) == nx.is_tree(graph)


def test_fig3_example_is_a_tree():
    # Fig 3 of the paper: n = 6, x = 0101, k = 2 gives edges 1~5, 2~6, 3~5, 4~6, 2~3 and a tree
    inst = next(i for i in H.istree_family(6) if i.x == (0, 1, 0, 1) and i.query == (2,))
    assert sorted(H.parse_istree(inst.tokens)[1]) == [(1, 5), (2, 3), (2, 6), (3, 5), (4, 6)]
    assert inst.claimed == YES


def test_printed_ar_offset_collides():
    # the paper's values x_i + n/2 with x_i = 0 equal the key n/2; a query can then hit a value
    n, m = 6, 3
    x = (0, 1, 1)
    tokens = ("<s>",) + tuple(t for i in range(m) for t in (i + 1, x[i] + n // 2)) + (m,)
    assert H.answer_ar(tokens) != x[m - 1] + n // 2


def test_printed_parity_step_is_wrong_and_corrected_one_right():
    ys = list(product(range(2), repeat=5))
    assert any(not H.printed_parity_step_holds(y, k) for y in ys for k in range(2, 6))
    for y in ys:
        xt = H.prefix_parity(y)
        assert all((y[k - 1] == 1) == (xt[k - 1] != xt[k - 2]) for k in range(2, 6))


def test_prop51_oracle_leaks_membership_and_tail_fixes_it():
    n, sigma, kappa = 5, 3, 4
    keys = range(1, kappa + 1)
    plain = {i.alice: H.ar_oracle_answers(i.alice, keys) for i in H.prop51_family(n, sigma)}
    # without the tail, two contexts agreeing on the third token get different oracle answers
    by_third = {}
    for ctx, ans in plain.items():
        by_third.setdefault(ctx[2], set()).add(ans)
    assert any(len(v) > 1 for v in by_third.values())
    # with the tail, every answer is κ except for κ itself, which returns the third token
    for inst in H.prop51_family(n, sigma, tail=True):
        ans = H.ar_oracle_answers(inst.alice, keys)
        assert ans == tuple(kappa if q != kappa else inst.alice[2] for q in keys)
        assert H.answer_index(inst.tokens) == inst.claimed


@pytest.mark.parametrize("n,k", [(5, 3), (6, 3), (6, 4), (7, 5)])
def test_star_fooling_set(n, k):
    pairs, bad = H.check_star_fooling_set(n, k)
    assert pairs == k ** (n - k) * (k ** (n - k) - 1) and bad == 0


def test_checker_catches_a_wrong_claim(monkeypatch):
    original = H.index_family

    def corrupted(n, sigma=2):
        for inst in original(n, sigma):
            yield H.Instance(inst.x, inst.query, inst.alice, inst.bob,
                             inst.claimed if inst.x != (1, 2, 1) else 99)

    monkeypatch.setattr(H, "index_family", corrupted)
    rep = H.check_family("index", 3)
    assert not rep.ok and rep.wrong_answers == 3 and "x=(1, 2, 1)" in rep.first_failure


def test_too_small_alphabet_room_raises():
    with pytest.raises(ValueError):
        list(H.ar_family(2, 2))
    with pytest.raises(ValueError):
        H.check_family("nope", 5)


def test_counting_family_has_fixed_length_and_the_list_family_does_not():
    assert {len(i.alice) for i in H.counting_family(7)} == {7}
    assert {len(i.alice) for i in H.counting_family(7, 3)} == {7}
    assert len({len(i.alice) for i in H.counting_list_family(6)}) == 7  # lengths 0..6


def test_counting_list_family_per_length_rows_are_binomial():
    rep = H.check_family("counting_list", 7)
    assert rep.ok and rep.rows == 35 and rep.expected_rows == B.counting_list_rows(7)


def test_prop51_oracle_depends_on_x2_alone():
    for n, sigma in ((7, 2), (7, 3), (9, 2)):
        classes = H.prop51_oracle_classes(n, sigma)
        assert len(classes) == sigma  # one class per value of x_2 (the third token)
        for members in classes.values():
            assert len({i.x[1] for i in members}) == 1
        assert H.check_family("prop51", n, sigma).rows == sigma ** ((n + 1) // 2 - 1)


def _has_cycle(n, edges):
    g = nx.Graph(list(edges))
    g.add_nodes_from(range(1, n + 1))
    return not nx.is_forest(g)


def _key(n, edges):
    if _has_cycle(n, edges):
        return "cycle"
    g = nx.Graph(list(edges))
    g.add_nodes_from(range(1, n + 1))
    return frozenset(frozenset(c) for c in nx.connected_components(g))


def _is_tree(n, edges):
    g = nx.Graph(list(edges))
    g.add_nodes_from(range(1, n + 1))
    return g.number_of_edges() == n - 1 == len(edges) and nx.is_tree(g)


def _separates(n, first, second):
    bob, first_yes = H.istree_separating_suffix(n, first, second)
    j = n - 1 - len(first)
    return (len(bob) == len(set(bob)) == j and not set(bob) & set(first) and not set(bob) & set(second)
            and all(u < v for u, v in bob)
            and _is_tree(n, list(first) + bob) == first_yes and _is_tree(n, list(second) + bob) != first_yes)


@pytest.mark.parametrize("n,j", [(4, 2), (5, 2), (5, 3), (6, 3), (6, 4)])
def test_separating_suffix_for_every_pair_of_classes(n, j):
    # the key lemma of the IsTree class count, checked pair by pair (networkx decides classes and trees)
    prefixes = list(combinations(edge_list(n), n - 1 - j))
    keys = [_key(n, a) for a in prefixes]
    pairs = [(a, b) for x, a in enumerate(prefixes) for y, b in enumerate(prefixes) if x < y and keys[x] != keys[y]]
    assert pairs and all(_separates(n, a, b) and _separates(n, b, a) for a, b in pairs)


@pytest.mark.slow
def test_separating_suffix_n6_j2_every_pair():
    test_separating_suffix_for_every_pair_of_classes(6, 2)


@st.composite
def two_prefixes(draw):
    n = draw(st.integers(6, 12))
    j = draw(st.integers(2, n - 2))
    edges = edge_list(n)
    first = draw(st.lists(st.sampled_from(edges), min_size=n - 1 - j, max_size=n - 1 - j, unique=True))
    second = draw(st.lists(st.sampled_from(edges), min_size=n - 1 - j, max_size=n - 1 - j, unique=True))
    return n, first, second


@given(two_prefixes())
def test_separating_suffix_random_pairs(case):
    n, first, second = case
    if _key(n, first) == _key(n, second):
        with pytest.raises(ValueError):
            H.istree_separating_suffix(n, first, second)
    else:
        assert _separates(n, first, second)


def test_separating_suffix_needs_two_bob_edges():
    with pytest.raises(ValueError):
        H.istree_separating_suffix(5, [(1, 2), (2, 3), (3, 4)], [(1, 2), (2, 3), (4, 5)])
