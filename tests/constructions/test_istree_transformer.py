"""The IsTree Transformer (Thm 4.7): constant size, and its CoT equals the reference on random graphs."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions import registry
from constructions.runtime.arithmetic import HARD, Rp
from constructions.runtime.decode import greedy
from constructions.transformer.istree import build_istree_transformer
from theory.tasks import istree as task
from theory.tokens import NO, YES
from theory.tasks.istree import IstreeTask
from verify import core

KIND = registry.get("istree", "transformer")
_MODELS: dict[int, object] = {}


def model(n):
    if n not in _MODELS:
        _MODELS[n] = build_istree_transformer(n)
    return _MODELS[n]


def passes(n, graphs, mode=None):
    kwargs = {} if mode is None else {"mode": mode}
    return core.check(KIND, IstreeTask(n), model(n), graphs, **kwargs).failed == 0


def test_size_is_independent_of_n_and_matches_registry():
    claim = KIND.claim(IstreeTask(4))
    sizes = [build_istree_transformer(n).shape() for n in (4, 8, 16, 64, 256)]
    for s in sizes:
        assert (s["depth"], s["heads"], s["width"]) == (claim["depth"], claim["heads"], claim["width"])
        assert s["heads_total"] == sizes[0]["heads_total"] and s["ffn_width"] == sizes[0]["ffn_width"]
    # parameters grow polynomially in magnitude (the largest is 2 beta n^4), not in number
    assert sizes[-1]["nonzero_parameters"] == sizes[0]["nonzero_parameters"]
    assert sizes[-1]["max_abs_parameter"] == 8 * 64 * 256**4  # NEXT2: 4 lam_c, lam_c = 2 beta n^4


@settings(max_examples=60, deadline=None)
@given(st.integers(4, 32), st.sampled_from(task.FAMILIES), st.integers(0, 2**32 - 1))
def test_random_graphs_up_to_32_vertices(n, family, seed):
    assert passes(n, [task.sample_graph(n, family, np.random.default_rng(seed))])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 12), st.data())
def test_any_edge_count(n, data):
    pairs = [tuple(p) for p in task.all_pairs(n).tolist()]
    edges = data.draw(st.lists(st.sampled_from(pairs), unique=True, max_size=len(pairs)))
    assert passes(n, [edges])


def test_spec_hard_cases():
    # equidistant records made the paper's 9-layer schedule emit a vertex "12" (docs/istree.md)
    tie = [(5, 8), (3, 5), (2, 5), (1, 5), (5, 9), (4, 8), (6, 8), (7, 9)]
    # a position-only YES test is fooled by m = n + 3, a path on 1..n-6 plus 10 edges on the rest
    n = 12
    path = [(i, i + 1) for i in range(1, n - 6)]
    rest = [(a, b) for a in range(n - 5, n + 1) for b in range(a + 1, n + 1)][:10]
    assert passes(9, [tie]) and passes(n, [path + rest])
    assert task.reference_trace(n, path + rest)[-1] == NO


def test_greedy_generation_reproduces_reference():
    n = 7
    rng = np.random.default_rng(5)
    m = model(n)
    v = m.vocab
    for family in task.FAMILIES:
        edges = task.sample_graph(n, family, rng)
        out, stopped = greedy(m, list(v.ids(task.prompt_tokens(edges))), {v.id(YES), v.id(NO)}, 2 * n + 1)
        assert stopped and v.tokens(out) == [str(t) for t in task.reference_trace(n, edges)]


def test_hard_mode_and_rp_mode():
    graphs = [task.sample_graph(5, f, np.random.default_rng(i)) for i, f in enumerate(task.FAMILIES * 3)]
    assert passes(5, graphs, HARD)
    every_tree_candidate = IstreeTask(4).domain().chunk(0)[1].instances  # all 20 graphs with 3 edges
    assert len(every_tree_candidate) == 20 and passes(4, every_tree_candidate, Rp(39))
    assert not passes(4, [[(1, 2), (2, 3), (3, 4)]], Rp(21))  # too few bits: the scores saturate


@pytest.mark.parametrize("block,head", [(4, "NEXT"), (3, "EDGE"), (1, "COUNT")])
def test_zeroing_a_head_value_map_breaks_it(block, head):
    m = build_istree_transformer(6)
    h = next(h for h in m.blocks[block].heads if h.name == head)
    h.W_V[:] = 0
    graphs = [task.sample_graph(6, "uniform", np.random.default_rng(s)) for s in range(20)]
    assert core.check(KIND, IstreeTask(6), m, graphs).failed > 0
