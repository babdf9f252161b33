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


def test_greedy_decoding_every_input_up_to_length_2_every_library_machine():
    """Greedy decoding with the real retriever (not teacher forcing) on every input of length 0..2."""
    for name in list_machines():
        machine = load_machine(name)
        model = build_rag_turing(machine, 2)
        words = [w for k in range(3) for w in itertools.product(machine.alphabet, repeat=k)]
        assert len(words) == sum(len(machine.alphabet) ** k for k in range(3))
        for word in words:
            out, reference, _ = _greedy(model, machine, word)
            assert out == reference, (name, word)


def test_corrupted_quantifier_weight_is_caught(tmp_path, capsys):
    """Silence the unit that writes the phase-1 quantifier {i}: every non-empty input fails there."""
    import numpy as np

    from constructions.runtime import io as model_io
    from verify import turing as vt

    model = build_rag_turing(load_machine("parity"), 3)
    path, bad = tmp_path / "w.npz", tmp_path / "bad.npz"
    model_io.save(model, str(path))
    arrays = dict(np.load(path, allow_pickle=False))
    units = model.blocks[3].ffn.units
    for j, unit in enumerate(units):
        if unit.startswith("quantifier {i}"):
            arrays["rnn.block3.ffn.W_3"][:, j] = 0.0
    np.savez(bad, **arrays)
    args = ["--machine", "parity", "--max-len", "3", "--model", "rag", "--no-progress"]
    assert vt.main(args + ["--weights", str(path)]) == 0
    capsys.readouterr()
    assert vt.main(args + ["--weights", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "FAILED: 14 of 15" in out and "smallest counterexample: input 0 (length 1)" in out
    assert "expected {1}" in out


def test_phase1_is_nine_tokens_per_cell():
    machine = load_machine("palindrome")
    for word in ("", "a", "abba", "abbaabba"):
        reference = rt.tm_rag_trace(machine, word)
        assert reference.index(rt.LOOKUP_OPEN) - 1 == rt.phase1_length(len(word)) == 9 * len(word)
