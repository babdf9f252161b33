"""Thm 5.3 RAG Linear RNN for IsTree: the retrieval-DFS reference against networkx and the real
retriever, the model by teacher forcing on random graphs and exhaustively at small n, a corrupted
weight caught by the checker, the printed Algorithm 2 patterns failing, O(n) CoT and a state whose
size does not depend on n."""

from __future__ import annotations

import re

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions import registry
from constructions.rag.istree import build_rag_istree
from constructions.runtime import io as model_io
from constructions.runtime.decode import retrieval_positions
from constructions.runtime.retrieve import Retriever
from theory.rag import istree as rt
from theory.tasks import istree as task
from theory.tokens import YES
from tests import strategies as S
from theory.tasks.istree import IstreeTask
from verify import core
from verify import istree as vi

KIND = registry.get("istree", "rag")
graphs = st.one_of(S.trees(max_n=12), S.simple_graphs(max_n=9), S.cycle_plus_path_graphs(max_n=12))


def _nx_tree(n, edges):
    g = nx.Graph()
    g.add_nodes_from(range(1, n + 1))
    g.add_edges_from(edges)
    return nx.is_tree(g)


@settings(max_examples=80, deadline=None)
@given(graphs)
def test_reference_agrees_with_networkx_and_the_retriever(case):
    n, edges = case
    ref = rt.istree_rag_trace(n, edges)
    assert (ref[-1] == YES) == _nx_tree(n, edges)
    vocab = build_rag_istree(n).vocab
    _, problems = retrieval_positions(list(vocab.ids(task.prompt_tokens(edges) + ref)), Retriever(vocab))
    assert problems == []


@settings(max_examples=12, deadline=None)
@given(st.one_of(S.trees(max_n=10), S.simple_graphs(max_n=8), S.cycle_plus_path_graphs(max_n=10)))
def test_model_reproduces_the_reference_on_random_graphs(case):
    n, edges = case
    assert core.check(KIND, IstreeTask(n), build_rag_istree(n), [edges]).failed == 0


def test_checker_cli_exhaustive_small_n(capsys):
    assert vi.main(["--n", "4", "--model", "rag", "--no-progress", "--workers", "1"]) == 0
    assert capsys.readouterr().out.startswith("verified:")


def test_corrupted_weight_is_caught(tmp_path, capsys):
    model = build_rag_istree(4)
    path, bad = tmp_path / "w.npz", tmp_path / "bad.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    # the emission unit of the "skip the parent edge" rule: the DFS re-descends into its parent
    units = model.blocks[3].ffn.units
    arrays["rnn.block3.ffn.W_3"][:, [i for i, u in enumerate(units) if u.startswith("g10->")]] = 0.0
    np.savez(bad, **arrays)
    args = ["--n", "4", "--model", "rag", "--no-progress", "--workers", "1"]
    assert vi.main(args + ["--weights", str(path)]) == 0
    capsys.readouterr()
    assert vi.main(args + ["--weights", str(bad)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("FAILED") and "smallest counterexample" in out


def test_cot_is_linear_and_state_constant():
    rng = np.random.default_rng(0)
    for n in (8, 16, 32, 64):
        model = build_rag_istree(n)
        assert model.state_dim == 39
        edges = task.sample_graph(n, "uniform", rng)
        ref = rt.istree_rag_trace(n, edges)
        # one DFS step (<= 41 tokens) per descent, return and skipped parent edge: at most 3n steps
        assert len(ref) <= 41 * 3 * n + 4
    # the state holds token indices and vertex numbers: bounded by max(n, #specials), n = 64
    prompt = task.prompt_tokens(edges)
    x = model.forward(model.vocab.ids(prompt + ref)[None])[0]
    rows = sorted({int(r) for b in model.blocks for r in b.unit.state_rows()})
    assert np.abs(x[:, rows]).max() <= max(64, len(model.vocab.specials))


def test_printed_algorithm_2_patterns_fail():
    text = "<s> 3 ~ 5 1 ~ 3 <sep>"
    # r1 = \b(\S+)\b ~ \bv\b | \bv\b ~ \b(\S+)\b: when the second alternative matches, group(1) is None
    m = re.search(r"\b(\S+)\b ~ \b3\b|\b3\b ~ \b(\S+)\b", text)
    assert m.group(0) == "3 ~ 5" and m.group(1) is None
    # ours: the whole edge, one group
    assert re.search(" ".join(map(str, rt.istree_scan_query(3, None))), text).group(1) == "3 ~ 5"
    # without the <se[p]> guard an edge copied into the CoT by an earlier retrieval is found again
    cot = text + " 1 par <s> step 1 new <StartSearch> x <EndSearch> 1 ~ 3 step 3 1"
    after = r"(?=(?: 1 ~ 3 | 3 ~ 1 )) \S+ ~ \S+.*?(?=(?: \d+ ~ 1 | 1 ~ \d+ )) (\d+ ~ \d+)"
    assert re.search(after, cot).group(1) == "1 ~ 3"                      # a CoT copy: wrong
    assert re.search(" ".join(map(str, rt.istree_scan_query(1, 3))), cot) is None   # ours: none left
