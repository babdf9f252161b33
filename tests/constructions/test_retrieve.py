"""In-context RAG (Def A.5): what is searched, what is returned, FAILED on no match."""

from __future__ import annotations

import re

import numpy as np
import pytest

from constructions.runtime.decode import model_check_mask, retrieval_positions
from constructions.runtime.retrieve import RetrievalError, Retriever
from theory.tokens import Vocab

V = Vocab(9, extra=(r"(?:^|", r")3", r"(\S+)", r"(\S)", "("))


def ids(*toks):
    return [V.id(t) for t in toks]


def test_match_returns_group_one_of_the_first_match():
    r = Retriever(V)
    # context "<s> 5 3 7 3 8", pattern "(?:^| )3 (\S+)": first match is "3 7"
    seq = ids("<s>", 5, 3, 7, 3, 8, "<StartSearch>", r"(?:^|", r")3", r"(\S+)", "<EndSearch>")
    assert r.query(seq) == (r"(?:^| )3 (\S+)", "<s> 5 3 7 3 8")
    assert r.retrieve(seq) == ids(7)
    assert re.search(*r.query(seq)).group(1) == "7"


def test_no_match_gives_failed():
    r = Retriever(V)
    seq = ids("<s>", 5, 4, "<StartSearch>", r"(?:^|", r")3", r"(\S+)", "<EndSearch>")
    assert r.retrieve(seq) == ids("FAILED")


def test_only_context_before_last_start_search_is_searched():
    r = Retriever(V)
    # the only "3 x" pair sits after the last <StartSearch>, inside the query itself: not searched
    seq = ids("<s>", 1, "<StartSearch>", "<EndSearch>", "FAILED", 2,
              "<StartSearch>", r"(?:^|", r")3", r"(\S+)", "<EndSearch>")
    pattern, context = r.query(seq)
    assert context == "<s> 1 <StartSearch> <EndSearch> FAILED 2"
    assert r.retrieve(seq) == ids("FAILED")


def test_bad_queries_raise():
    r = Retriever(V)
    with pytest.raises(RetrievalError, match="ending with <EndSearch>"):
        r.retrieve(ids("<s>", 1))
    with pytest.raises(RetrievalError, match="without a preceding"):
        r.retrieve(ids("<s>", 1, "<EndSearch>"))
    with pytest.raises(RetrievalError, match="not tokens"):  # captures "<", a piece of "<s>"
        r.retrieve(ids("<s>", 1, "<StartSearch>", r"(\S)", "<EndSearch>"))
    with pytest.raises(RetrievalError, match="bad regex"):
        r.retrieve(ids("<s>", 1, "<StartSearch>", "(", "<EndSearch>"))


def test_retrieval_positions_and_mask():
    r = Retriever(V)
    seq = ids("<s>", 5, 3, 7, "<StartSearch>", r"(?:^|", r")3", r"(\S+)", "<EndSearch>", 7, 2)
    supplied, problems = retrieval_positions(seq, r)
    assert problems == [] and supplied.tolist() == [False] * 9 + [True, False]
    wrong = seq[:9] + ids(8, 2)
    assert retrieval_positions(wrong, r)[1]
    mask = model_check_mask(np.array([len(seq)]), np.array([3]), supplied[None])
    # the model predicts from position 3 on, except the token the retriever supplies (index 9)
    assert mask[0].tolist() == [False] * 3 + [True] * 5 + [False, True, False]


def test_retrieval_positions_agrees_with_retrieve_on_every_prefix():
    """The one-pass scan must equal Retriever.retrieve on each prefix ending with <EndSearch>."""
    r = Retriever(V)
    rng = np.random.default_rng(0)
    pieces = [[5], [3], [7], ["<StartSearch>", r"(?:^|", r")3", r"(\S+)", "<EndSearch>"], ["FAILED"], [3, 9]]
    for _ in range(200):
        seq = ids("<s>") + [t for i in rng.integers(0, len(pieces), size=12) for t in ids(*pieces[i])]
        supplied, problems = retrieval_positions(seq, r)
        for k, tok in enumerate(seq):
            if tok == V.id("<EndSearch>"):
                found = r.retrieve(seq[: k + 1])
                ok = seq[k + 1: k + 1 + len(found)] == found
                assert ok == (not any(p.startswith(f"position {k + 1}:") for p in problems))
