"""Thm 5.4 construction: claimed size, greedy decoding with the real retriever, precision."""

from __future__ import annotations

import itertools

import pytest

from constructions.rag.turing import build_rag_turing
from constructions.runtime.arithmetic import Rp
from constructions.runtime.decode import greedy
from constructions.runtime.retrieve import Retriever
from theory.rag import turing as rt
from theory.tasks.turing import tm_prompt
from theory.turing import list_machines, load_machine


@pytest.mark.parametrize("name", list_machines())
def test_claimed_size_is_independent_of_n(name):
    machine = load_machine(name)
    sizes = {(m.shape()["depth"], m.state_dim) for m in
             (build_rag_turing(machine, n, offset=n, n_vocab=4 * n) for n in (2, 5, 9, 33))}
    assert sizes == {(4, 21)}


def _greedy(model, machine, word, mode=None):
    vocab = model.vocab
    reference = rt.tm_rag_trace(machine, word, offset=model.meta["offset"])
    kwargs = {} if mode is None else {"mode": mode}
    out, stopped = greedy(model, list(vocab.ids(tm_prompt(machine, word))), {vocab.id("YES"), vocab.id("NO")},
                          len(reference) + 5, retriever=Retriever(vocab), **kwargs)
    return vocab.tokens(out), reference, stopped


@pytest.mark.parametrize("name, words", [
    ("brackets", ["()", ")(", ""]),
    pytest.param("unary_less", ["1<11", "11<1"], marks=pytest.mark.slow),
    pytest.param("binary_add", ["1+1=10", "1+0=0"], marks=pytest.mark.slow),
])
def test_greedy_decoding_reproduces_the_reference(name, words):
    machine = load_machine(name)
    model = build_rag_turing(machine, 6)
    for word in words:
        out, reference, stopped = _greedy(model, machine, word)
        assert stopped and out == reference


def test_paper_precision_suffices_short():
    """R_p fixed point: the integer quantities reach c_ss^2 ~ (n + T)^2, so p ~ 4 log2(n + T) + O(1)."""
    machine = load_machine("parity")
    model = build_rag_turing(machine, 2)
    for word in ("1", "10"):
        out, reference, _ = _greedy(model, machine, word, Rp(31))
        assert out == reference


@pytest.mark.slow
def test_paper_precision_suffices():
    machine = load_machine("palindrome")
    model = build_rag_turing(machine, 4)
    for word in ("abba", "ab", "b"):
        out, reference, _ = _greedy(model, machine, word, Rp(31))
        assert out == reference


def test_all_inputs_length_3_every_library_machine():
    for name in list_machines():
        machine = load_machine(name)
        model = build_rag_turing(machine, 2)
        for word in itertools.product(machine.alphabet, repeat=2):
            out, reference, _ = _greedy(model, machine, word)
            assert out == reference, (name, word)
