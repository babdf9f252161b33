"""theory.circuit: R_p bits, the JSON format, the interpreter against plain Python, the gate trace."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.strategies import rp_numbers
from theory import circuit as tc
from theory.precision import is_representable
from theory.tokens import NO, YES, Vocab

P = 5  # q = 2: units bit b_2, sign b_5


@given(rp_numbers())
def test_rp_bits_round_trip(px):
    p, x = px
    bits = tc.rp_bits(x, p)
    assert len(bits) == p and set(bits) <= {0, 1}
    assert tc.rp_value(bits, p) == x
    assert bits[-1] == (0 if x < 0 else 1)  # the paper's sign bit: 1 for "+"


def test_rp_bits_follow_the_paper_formula():
    # value = (2 b_p - 1) sum_{i=1}^{p-1} b_i 2^{(p-1)/2 - i}
    for bits in itertools.product((0, 1), repeat=P):
        expected = (2 * bits[-1] - 1) * sum(b * 2.0 ** ((P - 1) / 2 - i) for i, b in enumerate(bits[:-1], start=1))
        assert tc.rp_value(bits, P) == expected
        assert is_representable(expected, P)


def test_rp_bits_rejects_values_off_the_grid():
    with pytest.raises(ValueError):
        tc.rp_bits(0.3, P)
    with pytest.raises(ValueError):
        tc.rp_bits(4.0, P)  # R_5 stops at 3.75


def xor_parity_circuit() -> tc.Circuit:
    """A hand-written parity RNN: one state number whose units bit is the parity of the 1s read.

    Output YES (units bit of tok:YES) = new parity, NO = its negation; every other bit constant.
    """
    vocab = Vocab(1, extra=("sym:0", "sym:1"))
    gates = [("const", 0), ("const", 1), ("state", 0, 2), ("input", "tok:sym:1", 2),
             ("xor", 3, 4),            # 5: parity after this token
             ("xor", 5, 2)]            # 6: not parity
    zero = [1] * (P - 1)
    return tc.Circuit(name="xor-parity", p=P, vocab=vocab, state_names=("parity",), init=(0.0,),
                      gates=tuple(gates),
                      next_state=(tuple(zero[:1] + [5] + zero[2:] + [2]),),
                      output={"tok:YES": tuple(zero[:1] + [5] + zero[2:] + [2]),
                              "tok:NO": tuple(zero[:1] + [6] + zero[2:] + [2])},
                      input_tokens=("<s>", "sym:0", "sym:1"))


def words(max_len):
    for n in range(max_len + 1):
        yield from itertools.product("01", repeat=n)


def test_hand_written_parity_circuit_against_python():
    c = xor_parity_circuit()
    for w in words(6):
        prompt = ["<s>"] + [f"sym:{b}" for b in w]
        assert tc.answer(c, prompt) == (YES if w.count("1") % 2 else NO)


def test_json_round_trip(tmp_path):
    c = xor_parity_circuit()
    path = tmp_path / "parity.json"
    tc.save_circuit(c, path)
    back = tc.load_circuit(path)
    assert back == c
    assert json.loads(path.read_text())["format"] == tc.FORMAT


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["gates"].append(["and", 3, 9]), "two earlier gates"),
    (lambda d: d["gates"].__setitem__(0, ["const", 2]), "const"),
    (lambda d: d["gates"].__setitem__(3, ["input", "tok:nope", 2]), "input bit"),
    (lambda d: d["gates"].__setitem__(2, ["state", 1, 2]), "state bit"),
    (lambda d: d["next_state"][0].pop(), "needs 5 gate ids"),
    (lambda d: d["output"].__setitem__("tok:YES", [99] * P), "needs 5 gate ids"),
    (lambda d: d.__setitem__("p", 4), "odd"),
    (lambda d: d.pop("gates"), "missing field 'gates'"),
    (lambda d: d.__setitem__("extra", 1), "unknown field 'extra'"),
])
def test_malformed_files_give_one_line_errors(tmp_path, edit, message):
    data = xor_parity_circuit().to_dict()
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError) as err:
        tc.load_circuit(path)
    assert message in str(err.value) and "\n" not in str(err.value) and str(err.value).startswith("bad.json")


def test_gate_trace_layout_and_length():
    c = xor_parity_circuit()
    prompt = ["<s>", "sym:1", "sym:0", "sym:1"]
    trace = tc.gate_trace(c, prompt)
    C = c.size
    assert len(trace) == tc.trace_length(c, len(prompt), 1) == len(prompt) * (C + 1)
    # block a: C gate bits, then the next input (x_{a+1}, or the answer after the last prompt token)
    for a in range(len(prompt)):
        block = trace[a * (C + 1):(a + 1) * (C + 1)]
        assert all(t in tc.GATE_TOKENS for t in block[:-1])
        assert block[-1] == (prompt[a + 1] if a + 1 < len(prompt) else NO)
    # gate 5 of each step is the parity so far
    seen = 0
    for a, tok in enumerate(prompt):
        seen ^= tok == "sym:1"
        assert trace[a * (C + 1) + 4] == f"gate:{seen}"


def test_a_corrupted_gate_changes_the_answer():
    c = xor_parity_circuit()
    gates = list(c.gates)
    gates[4] = ("and", 3, 4)  # XOR -> AND: no longer parity
    bad = tc.Circuit(**{**c.__dict__, "gates": tuple(gates)})
    prompts = [["<s>"] + [f"sym:{b}" for b in w] for w in words(3)]
    assert any(tc.answer(bad, p) != tc.answer(c, p) for p in prompts)


@given(st.lists(st.sampled_from(["sym:0", "sym:1"]), max_size=12))
def test_interpreter_state_is_the_parity(tokens):
    c = xor_parity_circuit()
    run = tc.run(c, ["<s>"] + tokens)
    assert run.stopped and run.ties == 0 and len(run.gates) == len(tokens) + 1
    assert run.generated == [c.vocab.id(YES if tokens.count("sym:1") % 2 else NO)]
