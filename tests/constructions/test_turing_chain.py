"""The chain of Thms 4.1 and 4.8 end to end: Turing machine -> Linear RNN with CoT -> circuit ->
Transformer. For every input up to a length: the Transformer reproduces the gate-level trace (one
forward pass, teacher forcing); the trace's RNN-level tokens are the machine's step tokens and its
answer is the machine's verdict (theory.turing.run, independent of every weight)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from constructions.runtime.decode import teacher_force
from constructions.transformer.rnn_turing import (build_transformer_turing, build_turing_transformer, longest_sequence,
                                                  transformer_reference)
from theory.tasks import logspace as task
from theory.tokens import NO, YES
from theory.turing import load_machine, run

CUSTOM = str(Path(__file__).parent / "machines" / "first_equals_last.json")


def verify_chain(name: str, L: int) -> dict:
    machine = load_machine(name)
    chain = build_turing_transformer(machine, L)
    model, C = chain.transformer, chain.circuit.size
    longest = 0
    for word in task.words_up_to(machine, L):
        prompt, trace = chain.prompt(word), chain.trace(word)
        result = run(machine, word)
        assert trace[-1] == (YES if result.accepted else NO)
        rnn_tokens = trace[C::C + 1]  # the token after each step's C gate bits
        assert rnn_tokens[len(prompt) - 1:] == task.trace(machine, word)
        assert rnn_tokens[:len(prompt) - 1] == prompt[1:]
        ids = model.vocab.ids(prompt + trace)[None]
        check = np.zeros(ids.shape, dtype=bool)
        check[0, len(prompt) - 1:-1] = True
        assert teacher_force(model, ids, check).ok[0], (name, word)
        longest = max(longest, ids.shape[1])
    assert longest <= longest_sequence(chain.circuit, machine, L) == model.meta["max_len"]
    return {"C": C, "longest": longest}


def test_parity_up_to_length_2():
    verify_chain("parity", 2)


def test_machine_file_written_from_the_docs_length_1():
    verify_chain(CUSTOM, 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["parity", "div3", "anbn", "palindrome", CUSTOM])
def test_machines_up_to_length_3(name):
    verify_chain(name, 3)


# Every input up to length 4 (parity, div3, anbn and the machine file) is checked through the checker
# core: tests/verify/test_turing_cli.py::test_chain_transformer_passes_at_length_4 (slow).


def test_checker_interface():
    """The functions a checker calls: builder(machine, n_max, offset=, n_vocab=) and the reference."""
    machine = load_machine("div3")
    model = build_transformer_turing(machine, 1, offset=0, n_vocab=1)
    for word in task.words_up_to(machine, 1):
        prompt = task.prompt(machine, word, task.n_for(1))
        trace = transformer_reference(machine, word, max_len=1)
        assert trace[-1] == (YES if run(machine, word).accepted else NO)
        ids = model.vocab.ids(prompt + trace)[None]
        check = np.zeros(ids.shape, dtype=bool)
        check[0, len(prompt) - 1:-1] = True
        assert teacher_force(model, ids, check).ok[0]
