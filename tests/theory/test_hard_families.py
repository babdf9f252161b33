"""Every hard-family instance is valid, answered as claimed, and Bob's answers recover Alice's input."""

from itertools import product

import networkx as nx
import pytest

from theory import hard_families as H
from theory.tokens import NO, YES


@pytest.mark.parametrize("family,n,sigma,c", [
    ("index", 6, 2, 2), ("index", 4, 3, 2), ("ar", 8, 2, 2), ("ar", 9, 3, 2), ("cgram", 9, 2, 3),
    ("cgram", 12, 3, 3), ("counting", 6, 2, 2), ("counting", 4, 3, 2), ("istree", 7, 2, 2),
    ("parity", 7, 2, 2), ("prop51", 7, 2, 2), ("prop51", 7, 3, 2),
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
    # spec §3.3: n = 6, x = 0101, k = 2 gives edges 1~5, 2~6, 3~5, 4~6, 2~3 and a tree
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
