"""Thm 4.8 (App. C.7): the Transformer writes a circuit RNN's gate-level trace (theory.circuit's
interpreter is the reference) for every input up to a length: compiled library RNNs, a hand-written
circuit, random circuits; greedy decoding; hard attention; constant depth and heads; corrupted weight."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.rnn import library
from constructions.rnn.compile import compile_rnn
from constructions.runtime.arithmetic import HARD
from constructions.runtime.decode import greedy, model_check_mask, teacher_force
from constructions.transformer.rnn_sim import build_rnn_transformer, claim
from tests.theory.test_circuit import xor_parity_circuit
from theory import circuit as tc
from theory.tokens import NO, YES, Vocab


def sequences(circuit, prompts):
    return [(list(p), tc.gate_trace(circuit, p)) for p in prompts]


SCORES = 2**24  # rows x length^2 per forward pass: bounds the (rows, L, L) attention arrays


def check(model, seqs, mode=None):
    """Teacher-force prompt + trace in padded batches of similar length; ok per sequence."""
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i][0]) + len(seqs[i][1]))
    ok = np.zeros(len(seqs), dtype=bool)
    i = 0
    while i < len(order):
        width = len(seqs[order[i]][0]) + len(seqs[order[i]][1])
        rows = order[i:i + max(1, SCORES // width**2)]
        ids_list = [model.vocab.ids(seqs[r][0] + seqs[r][1]) for r in rows]
        lengths = np.array([len(x) for x in ids_list])
        ids = np.zeros((len(rows), lengths.max()), dtype=np.int64)
        for j, x in enumerate(ids_list):
            ids[j, :len(x)] = x
        mask = model_check_mask(lengths, np.array([len(seqs[r][0]) - 1 for r in rows]))
        ok[rows] = teacher_force(model, ids, mask, *(() if mode is None else (mode,))).ok
        i += len(rows)
    return ok


def library_case(name, L):
    entry = library.get(name)
    circuit = compile_rnn(entry.build(L))
    seqs = sequences(circuit, [entry.prompt(w, L) for w in entry.words(L)])
    return entry, circuit, seqs, build_rnn_transformer(circuit, max(len(p) + len(t) for p, t in seqs))


@pytest.mark.parametrize("name, L", [("parity", 5), ("mod3", 4)])
def test_library_rnns_every_input(name, L):
    entry, circuit, seqs, model = library_case(name, L)
    assert check(model, seqs).all()
    for (p, t), w in zip(seqs, entry.words(L)):  # the trace's answer is the task's (plain Python)
        assert t[-1] == entry.reference(w)[-1]
        assert len(t) == tc.trace_length(circuit, len(p), len(entry.reference(w)))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["parity", "mod3"])
def test_library_rnns_every_input_up_to_8(name):
    """The length verify.rnn checks: 511 inputs; about 40 s for mod3 (traces up to 660 tokens)."""
    entry, circuit, seqs, model = library_case(name, 8)
    assert check(model, seqs).all()
    assert all(t[-1] == entry.reference(w)[-1] for (_, t), w in zip(seqs, entry.words(8)))


def test_hard_attention():
    _, _, seqs, model = library_case("parity", 4)
    assert check(model, seqs, HARD).all()


def test_hand_written_circuit():
    circuit = xor_parity_circuit()
    prompts = [["<s>"] + [f"sym:{b}" for b in w] for n in range(6) for w in itertools.product("01", repeat=n)]
    seqs = sequences(circuit, prompts)
    model = build_rnn_transformer(circuit, max(len(p) + len(t) for p, t in seqs))
    assert check(model, seqs).all()


def test_greedy_decoding_reproduces_the_gate_trace():
    _, circuit, _, model = library_case("mod3", 3)
    vocab = model.vocab
    for w in ["", "1", "0110", "111"]:
        prompt = ["<s>"] + [f"sym:{b}" for b in w]
        ref = tc.gate_trace(circuit, prompt)
        out, stopped = greedy(model, list(vocab.ids(prompt)), {vocab.id(YES), vocab.id(NO)}, len(ref) + 2)
        assert stopped and vocab.tokens(out) == ref


def test_depth_and_heads_do_not_grow_with_c():
    sizes = set()
    for name, L in [("parity", 2), ("parity", 8), ("mod3", 3), ("mod3", 8)]:
        circuit = library.circuit(name, L)
        model = build_rnn_transformer(circuit, 500)
        size = model.shape()
        assert {k: size[k] for k in claim(circuit)} == claim(circuit)
        ffn2 = model.blocks[1].ffn.width
        out_gates = {g for row in circuit.output.values() for g in row if circuit.gates[g - 1][0] != "const"}
        # the gate table (one unit per knot), 3 per gathered output gate, 11 for k0, first step, targets
        assert ffn2 <= (circuit.size + 3) + 3 * len(out_gates) + 11
        sizes.add((size["depth"], size["heads_total"], circuit.size))
    assert {(d, h) for d, h, _ in sizes} == {(3, 8)} and len({c for *_, c in sizes}) == 4


def test_a_corrupted_weight_is_caught():
    _, _, seqs, model = library_case("parity", 3)
    head = next(h for h in model.blocks[2].heads if h.name == "left argument")
    head.W_V[:] = 0.0  # AND/XOR gates no longer see their left argument
    ok = check(model, seqs)
    assert not ok.all()


@st.composite
def random_circuits(draw):
    """Random circuits over p = 3 (bits: units, half, sign): two state numbers with random initial
    values, random AND/XOR/const/input/state gates, random next-state bits; the output is YES = a
    random gate g and NO = not g (so the RNN answers right after the prompt)."""
    p = 3
    vocab = Vocab(1, extra=("sym:a", "sym:b"))
    gates = [("const", 0), ("const", 1)]
    for _ in range(draw(st.integers(3, 12))):
        kind = draw(st.sampled_from(["input", "state", "and", "xor", "const"]))
        g = len(gates) + 1
        if kind == "input":
            gates.append(("input", draw(st.sampled_from(["tok:sym:a", "tok:sym:b", "tok:<s>"])), 1))
        elif kind == "state":
            gates.append(("state", draw(st.integers(0, 1)), draw(st.integers(1, p))))
        elif kind == "const":
            gates.append(("const", draw(st.integers(0, 1))))
        else:
            gates.append((kind, draw(st.integers(1, g - 1)), draw(st.integers(1, g - 1))))
    c = len(gates)
    ids = st.integers(1, c)
    out = draw(ids)
    gates.append(("xor", out, 2))  # not(out)
    c += 1
    next_state = tuple(tuple(draw(ids) for _ in range(p)) for _ in range(2))
    init = tuple(draw(st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.5, -1.5])) for _ in range(2))
    output = {"tok:YES": (1, out, 2), "tok:NO": (1, c, 2)}
    return tc.Circuit("random", p, vocab, ("u", "v"), init, tuple(gates), next_state, output)


@settings(max_examples=20, deadline=None)
@given(random_circuits())
def test_random_circuits(circuit):
    prompts = [["<s>", *w] for n in range(4) for w in itertools.product(["sym:a", "sym:b"], repeat=n)]
    seqs = sequences(circuit, prompts)
    model = build_rnn_transformer(circuit, max(len(p) + len(t) for p, t in seqs))
    assert check(model, seqs).all()
