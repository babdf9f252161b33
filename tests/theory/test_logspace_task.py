"""theory.tasks.logspace (Thm 4.1's task): prompt format, reference CoT from the TM interpreter."""

from __future__ import annotations

import pytest

from tests.strategies import tm_inputs
from hypothesis import given
from theory.tasks import logspace as task
from theory.tokens import NO, YES
from theory.turing import list_machines, load_machine, run


def test_prompt_is_padding_then_the_word():
    m = load_machine("palindrome")
    assert task.prompt(m, "ab", 8) == ["0"] * 6 + ["sym:a", "sym:b"]
    assert task.prompt(m, "", 4) == ["0"] * 4
    assert task.m_for(8) == 3 and task.n_for(3) == 8
    with pytest.raises(ValueError, match="does not fit"):
        task.prompt(m, "abab", 8)  # |x| = 4 > log2 8


@given(tm_inputs(max_len=5))
def test_trace_is_one_step_token_per_step_then_the_verdict(inp):
    name, word = inp
    m = load_machine(name)
    r = run(m, word)
    trace = task.trace(m, word)
    assert task.reference(m, word, offset=3) == trace
    assert len(trace) == r.steps + 1
    assert trace[-1] == (YES if r.accepted else NO)
    vocab = set(task.vocabulary(m))
    for tok, step in zip(trace, r.history):
        assert tok == task.step_token(step.new_state, step.written, step.move, step.read) and tok in vocab


def test_step_tokens_cover_every_row_and_are_distinct():
    for name in list_machines():
        m = load_machine(name)
        toks = task.step_tokens(m)
        assert len(set(toks)) == len(toks)
        assert {task.row_token(m, q, r) for q, r in task.rows(m)} == set(toks)


def test_tape_window_and_head_range():
    m = load_machine("brackets")
    words = list(task.words_up_to(m, 3))
    lo, hi = task.tape_window(m, words)
    hlo, hhi = task.head_range(m, words)
    assert (lo, hi) == (0, 4) and hlo <= lo and hhi >= hi
    for w in words:
        for s in run(m, w).history:
            assert lo <= s.head <= hi
