"""Thm 4.1 (constructive side): the Linear RNN with CoT that runs a log-space TM, checked by teacher
forcing against theory.turing.run on every input up to a length, by greedy decoding, in R_p, on
random machines and on a machine file written from docs/turing.md; plus the no-CoT observation."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from constructions.rnn.logspace_turing import Coding, build_logspace_rnn, claim
from constructions.runtime.arithmetic import Rp
from constructions.runtime.decode import greedy, model_check_mask, teacher_force
from theory.tasks import logspace as task
from theory.tokens import NO, YES
from theory.turing import Machine, StepLimitExceeded, list_machines, load_machine, run

CUSTOM = Path(__file__).parent / "machines" / "first_equals_last.json"


def check_all(model, machine, words, n, mode=None):
    """Teacher-force prompt + reference for every word in one padded batch; ok per word."""
    seqs = [model.vocab.ids(task.prompt(machine, w, n) + task.trace(machine, w)) for w in words]
    lengths = np.array([len(s) for s in seqs])
    ids = np.zeros((len(seqs), lengths.max()), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = s
    mask = model_check_mask(lengths, np.full(len(seqs), n - 1))
    args = () if mode is None else (mode,)
    return teacher_force(model, ids, mask, *args).ok


@pytest.mark.parametrize("name", [m for m in list_machines() if m != "binary_add"])
def test_library_machines_every_input_up_to_4(name):
    machine = load_machine(name)
    model = build_logspace_rnn(machine, 4)
    assert check_all(model, machine, list(task.words_up_to(machine, 4)), task.n_for(4)).all()


def test_binary_add_short_inputs():
    machine = load_machine("binary_add")
    model = build_logspace_rnn(machine, 2)
    assert check_all(model, machine, list(task.words_up_to(machine, 2)), 4).all()


def test_machine_file_written_from_the_docs():
    machine = load_machine(CUSTOM)
    model = build_logspace_rnn(machine, 4)
    words = list(task.words_up_to(machine, 4))
    assert check_all(model, machine, words, 16).all()
    assert sum(run(machine, w).accepted for w in words) == 16  # 0, 1, then 2^(k-1) per length k


@pytest.mark.parametrize("name", ["palindrome", "brackets", "unary_less"])
def test_exact_in_the_stated_precision(name):
    machine = load_machine(name)
    model = build_logspace_rnn(machine, 3)
    p = model.meta["p"]
    assert check_all(model, machine, list(task.words_up_to(machine, 3)), 8, Rp(p)).all()


def test_greedy_decoding_reproduces_the_trace():
    machine = load_machine("anbn")
    model = build_logspace_rnn(machine, 4)
    vocab = model.vocab
    for w in ["aabb", "ab", "aab", ""]:
        ref = task.trace(machine, w)
        out, stopped = greedy(model, list(vocab.ids(task.prompt(machine, w, 16))), {vocab.id(YES), vocab.id(NO)},
                              len(ref) + 2)
        assert stopped and vocab.tokens(out) == ref


def test_claimed_size_depth_and_state():
    for name in ["parity", "palindrome", "brackets"]:
        machine = load_machine(name)
        for L in (2, 3, 4, 5):
            model = build_logspace_rnn(machine, L)
            size = model.shape()
            want = claim(machine, tuple(model.meta["window"]), L)
            assert size["depth"] == want["depth"] == 4
            assert size["state_dim"] == want["state_dim"] and size["width"] == want["width"]
            w = model.meta["window"][1] - model.meta["window"][0] + 1
            assert w <= L + 2  # these machines stay within the input and one cell on either side


def test_state_numbers_and_bits_against_log_n():
    """State: Lambda numbers, of which every tape/register number holds one bit (O(log n) bits)."""
    machine = load_machine("palindrome")
    bits = Coding(machine).bits
    for L in (2, 4, 6):
        model = build_logspace_rnn(machine, L)
        lo, hi = model.meta["window"]
        w = hi - lo + 1
        ranges = model.meta["ranges"]
        one_bit = [k for k, (a, b) in ranges.items()
                   if (a, b) == (0, 1) and (k.startswith("tape") or k.startswith("h"))]
        assert len(one_bit) == w * bits + 2 * w
        assert w == L + 1  # palindrome: cells 1..L+1, i.e. m + 1 = log2 n + 1 cells


def test_without_cot_the_state_after_the_padding_is_one_fixed_vector():
    """Thm 4.1's lower-bound side cannot be run; what can be shown: after 0^{n-m} the state does not
    depend on x (for any RNN, by causality) and here not even on n: the pads change nothing."""
    machine = load_machine("palindrome")
    model = build_logspace_rnn(machine, 3)
    rows = sorted({int(r) for b in model.blocks for r in b.unit.state_rows()})
    states = []
    for n in (4, 8, 16, 64, 256):
        x = model.forward(model.vocab.ids(["0"] * n)[None])
        states.append(x[0, -1, rows])
    for s in states:
        assert np.array_equal(s, states[0])
    names = [model.layout.names[r] for r in rows]
    assert {nm for nm, v in zip(names, states[0]) if v} == {"h0[1]", "h1[1]"}  # head on cell 1, blank tape
    # and for a fixed n the state before x is the same for every x (it has only seen pads)
    n = 8
    seen = {model.forward(model.vocab.ids(task.prompt(machine, w, n))[None])[0, n - 4, rows].tobytes()
            for w in itertools.product("ab", repeat=3)}
    assert len(seen) == 1


def test_a_corrupted_weight_is_caught():
    machine = load_machine("palindrome")
    model = build_logspace_rnn(machine, 3)
    words = list(task.words_up_to(machine, 3))
    ffn = model.blocks[3].ffn
    unit = next(i for i, u in enumerate(ffn.units) if u.startswith("delta("))
    ffn.W_3[:, unit] = 0.0  # one row group of delta's lookup table goes missing
    ok = check_all(model, machine, words, 8)
    assert not ok.all() and ok.any()


@st.composite
def machines(draw):
    """Random small machines over {0, 1} with a work symbol: arbitrary rows, missing rows reject."""
    k = draw(st.integers(2, 3))
    states = [f"s{i}" for i in range(k)] + ["acc", "rej"]
    rows = []
    for q in states[:k]:
        for a in ["0", "1", "_", "X"]:
            if draw(st.booleans()):
                rows.append([q, a, draw(st.sampled_from(states)), draw(st.sampled_from(["0", "1", "_", "X"])),
                             draw(st.sampled_from(["L", "R"]))])
    return Machine("rand", ("0", "1"), "_", tuple(states), "s0", "acc", "rej", tuple(rows))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(machines())
def test_random_machines_against_the_interpreter(machine):
    words = []
    for w in task.words_up_to(machine, 3):
        try:
            run(machine, w, max_steps=30)
            words.append(w)
        except StepLimitExceeded:
            continue
    if not words:
        return
    lo, hi = task.tape_window(machine, words, max_steps=30)
    model = build_logspace_rnn(machine, 3, window=(min(lo, 1), max(hi, 3)))
    seqs_ok = []
    for w in words:
        if run(machine, w, max_steps=30).head not in range(lo - 1, hi + 2):
            continue  # the explicit window allows one halting move beyond it
        seqs_ok.append(w)
    assert check_all(model, machine, seqs_ok, 8).all()
