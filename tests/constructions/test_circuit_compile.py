"""Linear RNN -> circuit RNN (constructions.rnn.compile): the circuit interpreter (theory.circuit)
agrees with the runtime in R_p, output vector and state, at every step of every input up to a
length; the builders' declared ranges hold on every reachable state; random RNNs; refusals."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.rnn import library
from constructions.rnn.compile import CompileError, compile_rnn
from constructions.rnn.logspace_turing import build_logspace_rnn
from constructions.rnn.small import build_mod_rnn, build_parity_rnn
from constructions.runtime.arithmetic import Rp
from constructions.runtime.builder import FFNSpec, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearRNN, RNNBlock
from theory import circuit as tc
from theory.tasks import logspace as task
from theory.tasks import modcount
from theory.tokens import Vocab
from theory.turing import load_machine

CUSTOM = Path(__file__).parent / "machines" / "first_equals_last.json"


def agree(rnn, circuit, prompts):
    """Run the circuit greedily; feed the same tokens to the runtime in R_p; compare every step's
    output vector and every state number. Returns the number of disagreeing prompts."""
    it = tc.Interpreter(circuit)
    mode = Rp(circuit.p)
    d = len(rnn.vocab.coordinates)
    state_cols = [rnn.layout[nm] for nm in circuit.state_names]
    bad = 0
    for prompt in prompts:
        r = tc.run(circuit, prompt, interpreter=it, max_new=200)
        x = rnn.forward(np.array([r.inputs]), mode)[0]
        state = [list(b) for b in it.init_bits]
        ok = r.stopped and r.ties == 0
        for a, tok in enumerate(r.inputs):
            vals, state = it.step(state, tok)
            ok &= np.array_equal(it.output_vector(vals), x[a, :d])
            ok &= [tc.rp_value(b, circuit.p) for b in state] == list(x[a, state_cols])
        bad += not ok
    return bad


@pytest.mark.parametrize("name", ["parity", "mod3"])
def test_small_rnns_agree_on_every_input_up_to_6(name):
    entry = library.get(name)
    rnn = entry.build(6)
    circuit = compile_rnn(rnn)
    prompts = [entry.prompt(w, 6) for w in entry.words(6)]
    assert agree(rnn, circuit, prompts) == 0
    for w in entry.words(6):  # and the circuit's answer is the Python reference's
        assert tc.answer(circuit, entry.prompt(w, 6)) == entry.reference(w)[-1]


@pytest.mark.parametrize("name, L", [("parity", 3), ("div3", 3), ("palindrome", 3), ("brackets", 3),
                                     ("unary_less", 2), pytest.param("binary_add", 2, marks=pytest.mark.slow),
                                     (str(CUSTOM), 3)])
def test_logspace_rnns_agree_on_every_input(name, L):
    machine = load_machine(name)
    rnn = build_logspace_rnn(machine, L)
    circuit = compile_rnn(rnn)
    words = list(task.words_up_to(machine, L))
    assert agree(rnn, circuit, [task.prompt(machine, w, task.n_for(L)) for w in words]) == 0
    for w in words:  # the circuit's CoT is the machine's own trace
        r = tc.run(circuit, task.prompt(machine, w, task.n_for(L)))
        assert circuit.vocab.tokens(r.generated) == task.trace(machine, w)


@pytest.mark.parametrize("build, words, prompt", [
    (lambda: build_parity_rnn(5), list(modcount.words_up_to(5)), modcount.prompt),
    (lambda: build_mod_rnn(3, 5), list(modcount.words_up_to(5)), modcount.prompt),
    (lambda: build_logspace_rnn(load_machine("brackets"), 3), list(task.words_up_to(load_machine("brackets"), 3)),
     lambda w: task.prompt(load_machine("brackets"), w, 8)),
])
def test_declared_ranges_hold_on_every_reachable_state(build, words, prompt):
    """The compiler treats values outside meta['ranges'] as don't-cares: check the invariants."""
    rnn = build()
    mode = Rp(rnn.meta["p"])
    for w in words:
        ids = list(rnn.vocab.ids(prompt(w)))
        x = rnn.forward(np.array([ids]), mode)[0]
        for name, (lo, hi) in rnn.meta["ranges"].items():
            col = x[:, rnn.layout[name]]
            assert np.all((col >= lo) & (col <= hi)), (w, name, col)


def test_a_corrupted_gate_is_caught():
    rnn = build_parity_rnn(4)
    circuit = compile_rnn(rnn)
    entry = library.get("parity")
    q = (circuit.p - 1) // 2
    g = circuit.output["tok:YES"][q - 1]  # the units bit of YES's logit
    gates = list(circuit.gates)
    gates[g - 1] = ("const", 0)
    bad = tc.Circuit(**{**circuit.__dict__, "gates": tuple(gates)})
    prompts = [entry.prompt(w, 4) for w in entry.words(4)]
    assert agree(rnn, bad, prompts) > 0
    assert any(tc.answer(bad, p) != tc.answer(circuit, p) for p in prompts)


def test_compiled_circuit_survives_json(tmp_path):
    circuit = compile_rnn(build_logspace_rnn(load_machine("anbn"), 2))
    path = tmp_path / "anbn.json"
    tc.save_circuit(circuit, path)
    back = tc.load_circuit(path)
    assert back.gates == circuit.gates and back.next_state == circuit.next_state and back.output == circuit.output
    m = load_machine("anbn")
    for w in task.words_up_to(m, 2):
        p = task.prompt(m, w, 4)
        assert tc.gate_trace(back, p) == tc.gate_trace(circuit, p)


def _tiny(vocab, scratch):
    layout = Layout.for_vocab(vocab, scratch)
    return layout, LinearUnitSpec(layout), FFNSpec(layout)


def test_refusals_say_why():
    vocab = Vocab(3, extra=("sym:a",))
    layout, unit, ffn = _tiny(vocab, ["c"])
    unit.read("c", "pos")
    rnn = LinearRNN(vocab, layout, [RNNBlock(unit.build(), None)], meta={"p": 9, "ranges": {"c": [0, 9]}})
    with pytest.raises(CompileError, match="position"):
        compile_rnn(rnn)
    layout, unit, ffn = _tiny(vocab, ["c"])
    unit.read("c", "num")
    rnn = LinearRNN(vocab, layout, [RNNBlock(unit.build(), None)], meta={"p": 9, "ranges": {"c": [0, 3]}})
    with pytest.raises(CompileError, match="number token"):
        compile_rnn(rnn)
    rnn.meta["ranges"] = {}
    with pytest.raises(CompileError, match="declared integer range"):
        compile_rnn(rnn)
    rnn = build_parity_rnn(6)
    with pytest.raises(CompileError, match="raise p"):
        compile_rnn(rnn, p=5)


@st.composite
def random_rnns(draw):
    """One block: a two-slot register of 'a' (Lemma C.20), then an FFN of random small-integer units
    over the registers and the token indicators, writing random integer combinations into YES/NO."""
    vocab = Vocab(1, extra=("sym:a", "sym:b"))
    layout, unit, ffn = _tiny(vocab, ["r0", "r1"])
    unit.read("r0", "tok:sym:a")
    unit.keep("r1", "r0")
    srcs = ["r0", "r1", "tok:sym:a", "tok:sym:b"]
    small = st.integers(-2, 2)
    for u in range(draw(st.integers(1, 5))):
        gate = {s: float(draw(small)) for s in srcs}
        gate["bias"] = float(draw(small))
        lin = {s: float(draw(small)) for s in srcs}
        lin["bias"] = float(draw(small))
        ffn.unit(f"u{u}", gate, lin, {"tok:YES": float(draw(small)), "tok:NO": float(draw(small))})
    meta = {"p": 15, "ranges": {"r0": [0, 1], "r1": [0, 1]}, "input_tokens": ["<s>", "sym:a", "sym:b"]}
    return LinearRNN(vocab, layout, [RNNBlock(unit.build(), ffn.build())], meta=meta)


@settings(max_examples=15, deadline=None)
@given(random_rnns())
def test_random_rnns_compile_exactly(rnn):
    circuit = compile_rnn(rnn)
    it = tc.Interpreter(circuit)
    mode = Rp(circuit.p)
    d = len(rnn.vocab.coordinates)
    for n in range(4):
        for w in itertools.product(["sym:a", "sym:b"], repeat=n):
            ids = list(rnn.vocab.ids(["<s>", *w]))
            x = rnn.forward(np.array([ids]), mode)[0]
            state = [list(b) for b in it.init_bits]
            for a, tok in enumerate(ids):
                vals, state = it.step(state, tok)
                assert np.array_equal(it.output_vector(vals), x[a, :d])
