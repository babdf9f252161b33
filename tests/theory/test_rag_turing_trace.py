"""theory.rag.turing: the Thm 5.4 reference sequence against the interpreter and the real retriever."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.runtime.retrieve import Retriever
from theory.rag import turing as rt
from theory.rag.retrieval import IDX_CAPTURE, IDXQ_OPEN
from theory.tasks.turing import tm_prompt
from theory.tokens import END_SEARCH, FAILED, NO, START_SEARCH, YES
from theory.turing import configurations, list_machines, load_machine, symbol_token


def _check(machine, word, offset):
    prompt = tm_prompt(machine, word)
    seq = prompt + rt.tm_rag_trace(machine, word, offset=offset)
    vocab = rt.tm_vocabulary(machine, 64, max(len(word), 1))
    retriever = Retriever(vocab)
    ids = list(vocab.ids(seq))
    ends = [k for k, t in enumerate(seq) if t == END_SEARCH]
    n = len(word)
    assert len(ends) == n + len(list(configurations(machine, word))) - 1
    confs = list(configurations(machine, word))
    for j, k in enumerate(ends):
        found = vocab.tokens(retriever.retrieve(ids[: k + 1]))
        assert found == [seq[k + 1]]  # the real retriever reproduces the reference
        if j < n:  # phase 1: the j+1-th input symbol
            assert found == [symbol_token(word[j])]
        else:      # phase 2: the head cell's content before the step (interpreter), FAILED = blank
            conf = confs[j - n]
            truth = conf.read(conf.head)
            assert found == [symbol_token(truth)] or (found == [FAILED] and truth == machine.blank)
    assert seq.count(START_SEARCH) == len(ends)
    assert len(seq) - len(prompt) == rt.phase1_length(n) + rt.PHASE2_BLOCK * (len(confs) - 1) + 1
    # the stop rule: YES/NO (the answer set of a machine) only at the end
    assert YES not in seq[:-1] and NO not in seq[:-1] and seq[-1] in (YES, NO)


def test_library_machines_short_inputs():
    for name in list_machines():
        machine = load_machine(name)
        for n in range(4):
            for word in itertools.product(machine.alphabet, repeat=n):
                _check(machine, word, offset=6)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["brackets", "palindrome", "unary_less", "anbn"]), st.data())
def test_random_longer_inputs(name, data):
    machine = load_machine(name)
    word = data.draw(st.lists(st.sampled_from(machine.alphabet), max_size=9))
    _check(machine, word, offset=12)


def test_phase1_reads_cell_i_with_three_pattern_tokens():
    assert rt.index_query(1) == [IDXQ_OPEN, "{1}", IDX_CAPTURE]
    assert rt.index_query(12) == [IDXQ_OPEN, "{12}", IDX_CAPTURE]
    machine = load_machine("palindrome")
    word = "abbaab"
    seq = rt.tm_rag_trace(machine, word)
    assert seq.count("{6}") == 1 and rt.phase1_length(6) == 9 * 6 < rt.phase1_length_unary(6) == 63
    assert seq[:9] == [START_SEARCH, IDXQ_OPEN, "{1}", IDX_CAPTURE, END_SEARCH, "sym:a", "1", "sym:a", "1"]
