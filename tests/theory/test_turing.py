"""Tests for theory/turing.py: library machines against independent predicates, the record trace and
Lemma C.31, the file-format rules, and the interpreter against a naive simulator."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import turing
from theory.tokens import Vocab
from theory.turing import (
    DEFAULT_MAX_STEPS,
    Machine,
    StepLimitExceeded,
    configurations,
    latest_cell_value,
    list_machines,
    load_machine,
    loads_machine,
    record_trace,
    required_offset,
    run,
)

# ---------------------------------------------------------------------------------------------
# Independent predicates for the library languages (plain Python, no TM involved).


def _odd_ones(s: str) -> bool:
    return s.count("1") % 2 == 1


def _palindrome(s: str) -> bool:
    return s == s[::-1]


def _anbn(s: str) -> bool:
    half = len(s) // 2
    return s == "a" * half + "b" * half


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += 1 if ch == "(" else -1
        if depth < 0:
            return False
    return depth == 0


def _sum_holds(s: str) -> bool:
    m = re.fullmatch(r"([01]+)\+([01]+)=([01]+)", s)
    return m is not None and int(m[1], 2) + int(m[2], 2) == int(m[3], 2)


def _unary_less(s: str) -> bool:
    m = re.fullmatch(r"(1*)<(1*)", s)
    return m is not None and len(m[1]) < len(m[2])


def _div3(s: str) -> bool:
    return s != "" and int(s, 2) % 3 == 0


PREDICATES = {
    "parity": _odd_ones,
    "palindrome": _palindrome,
    "anbn": _anbn,
    "brackets": _balanced,
    "binary_add": _sum_holds,
    "unary_less": _unary_less,
    "div3": _div3,
}


def _words(alphabet, max_len):
    for n in range(max_len + 1):
        yield from itertools.product(alphabet, repeat=n)


# ---------------------------------------------------------------------------------------------
# Library


def test_library_lists_at_least_six_machines_each_with_a_predicate():
    names = list_machines()
    assert len(names) >= 6
    assert set(names) == set(PREDICATES)


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_library_machine_matches_predicate_up_to_length_8(name):
    machine = load_machine(name)
    assert machine.name == name and machine.description
    accepted = rejected = 0
    for word in _words(machine.alphabet, 8):
        text = "".join(word)
        result = run(machine, word)
        assert result.accepted == PREDICATES[name](text), (name, text, result.verdict)
        accepted += result.accepted
        rejected += not result.accepted
    assert accepted and rejected  # both verdicts occur, so the comparison is not vacuous


def test_library_machine_round_trips_through_json():
    for name in list_machines():
        machine = load_machine(name)
        again = loads_machine(json.dumps(machine.to_dict()))
        assert again == machine
        assert again.tape_alphabet == machine.tape_alphabet


def test_worked_example_in_docs_loads_and_decides_odd_parity():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "turing.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)```", doc, re.S).group(1)
    machine = loads_machine(example, "docs example")
    assert not any(row.state == "even" and row.read == "_" for row in machine.delta)  # relies on the rule
    for word in _words(machine.alphabet, 6):
        assert run(machine, word).accepted == _odd_ones("".join(word))


def test_load_machine_by_path_and_errors(tmp_path):
    data = load_machine("parity").to_dict()
    data["name"] = "my_parity"
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    assert load_machine(str(path)).name == "my_parity"
    assert load_machine(path).name == "my_parity"
    with pytest.raises(ValueError, match=r"unknown machine 'nope'"):
        load_machine("nope")
    with pytest.raises(ValueError, match=r"missing\.json: no such machine file"):
        load_machine(tmp_path / "missing.json")
    del data["delta"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"^mine\.json: missing field 'delta'$"):
        load_machine(path)


# ---------------------------------------------------------------------------------------------
# Semantics: missing transitions, step limit, input checking


def _machine(delta, **changes):
    data = dict(name="t", alphabet=["a", "b"], blank="_", states=["q", "p", "acc", "rej"], start="q",
                accept="acc", reject="rej", delta=delta)
    data.update(changes)
    return Machine.from_dict(data)


def test_missing_transition_is_an_implicit_reject_step():
    machine = _machine([["q", "a", "p", "b", "R"]])
    result = run(machine, "ab")
    assert result.verdict == "reject" and result.steps == 2
    first, second = result.history
    assert (first.state, first.head, first.read, first.written, first.move, first.new_state, first.implicit) == (
        "q", 1, "a", "b", "R", "p", False)
    # p has no row for 'b': rewrite it, move right, enter reject
    assert (second.state, second.head, second.read, second.written, second.move, second.new_state,
            second.implicit) == ("p", 2, "b", "b", "R", "rej", True)
    assert machine.transition("p", "b") == turing.Transition("p", "b", "rej", "b", "R")
    assert result.head == 3 and result.tape == {1: "b", 2: "b"}


def test_step_limit_raises_instead_of_looping():
    loop = _machine([["q", "_", "q", "_", "R"], ["q", "a", "q", "a", "R"]])
    with pytest.raises(StepLimitExceeded, match=f"did not halt within {DEFAULT_MAX_STEPS} steps"):
        run(loop, "a")
    with pytest.raises(StepLimitExceeded, match="within 7 steps on input a a"):
        run(loop, "aa", max_steps=7)
    # exactly max_steps steps are allowed
    parity = load_machine("parity")
    assert run(parity, "0110", max_steps=5).steps == 5
    with pytest.raises(StepLimitExceeded):
        run(parity, "0110", max_steps=4)


def test_head_starts_on_cell_one_and_the_tape_is_two_way_infinite():
    # go left three cells past the input, write x there, then accept
    machine = _machine([["q", "a", "q", "a", "L"], ["q", "_", "p", "x", "L"], ["p", "_", "acc", "y", "L"]])
    result = run(machine, "a")
    assert [s.head for s in result.history] == [1, 0, -1]
    assert result.tape == {1: "a", 0: "x", -1: "y"} and result.head == -2
    assert machine.tape_alphabet == ("a", "b", "_", "x", "y")


def test_inputs_outside_the_alphabet_are_rejected_with_symbol_and_position():
    parity = load_machine("parity")
    with pytest.raises(ValueError, match=r"^input\[2\] \(cell 3\): symbol '2' is not in the alphabet"):
        run(parity, "012")
    with pytest.raises(ValueError, match=r"input\[0\] \(cell 1\): symbol '_'"):
        run(parity, ["_"])  # the blank is not an input symbol
    with pytest.raises(ValueError, match=r"input\[1\] \(cell 2\): symbol '10'"):
        run(parity, "1 10")
    wide = _machine([["q", "aa", "acc", "aa", "R"]], alphabet=["aa", "b"])
    with pytest.raises(ValueError, match="multi-character symbols"):
        run(wide, "aab")
    assert run(wide, ["aa", "b"]).accepted and run(wide, "aa b").accepted


# ---------------------------------------------------------------------------------------------
# File-format rules: every violation is a one-line ValueError naming the field


def _base():
    return load_machine("parity").to_dict()


def _with(**changes):
    data = _base()
    data.update(changes)
    return data


def _row(k, row):
    data = _base()
    data["delta"][k] = row
    return data


def _without(key):
    data = _base()
    del data[key]
    return data


BAD_FILES = [
    *[(_without(key), rf"missing field '{key}'") for key in
      ("name", "alphabet", "blank", "states", "start", "accept", "reject", "delta")],
    (_with(extra=1), r"unknown field 'extra'"),
    (_with(name=""), r"name: name must be non-empty"),
    (_with(alphabet="01"), r"alphabet: must be a list"),
    (_with(alphabet=[]), r"alphabet: must contain at least one input symbol"),
    (_with(alphabet=["0", "a b"]), r"alphabet: symbol 'a b' contains whitespace"),
    (_with(alphabet=["0", ""]), r"alphabet: symbol must be non-empty"),
    (_with(alphabet=["0", 1]), r"alphabet: symbol must be a string"),
    (_with(alphabet=["0", "1", "0"]), r"alphabet: symbol '0' appears twice"),
    (_with(blank="0"), r"blank: '0' is also an input symbol"),
    (_with(blank="\t"), r"blank: symbol '\\t' contains whitespace"),
    (_with(states=["even", "odd", "accept", "reject", "odd"]), r"states: state 'odd' appears twice"),
    (_with(start="q0"), r"start: unknown state 'q0'"),
    (_with(accept="q0"), r"accept: unknown state 'q0'"),
    (_with(reject="accept"), r"start/accept/reject: must be three different states"),
    (_with(start="accept"), r"start/accept/reject: must be three different states"),
    (_with(delta={}), r"delta: must be a list"),
    (_row(3, ["q9", "0", "odd", "0", "R"]), r"delta\[3\]: unknown state 'q9'"),
    (_row(3, ["odd", "0", "q9", "0", "R"]), r"delta\[3\]: unknown state 'q9'"),
    (_row(2, ["even", "0", "odd", "0"]), r"delta\[2\]: must have 5 entries"),
    (_row(2, "even 0 odd 0 R"), r"delta\[2\]: must be a list"),
    (_row(1, ["even", "1", "odd", "1", "S"]), r"delta\[1\]: move must be 'L' or 'R', got 'S'"),
    (_row(1, ["even", "1 1", "odd", "1", "R"]), r"delta\[1\]: symbol '1 1' contains whitespace"),
    (_row(1, ["even", "1", "odd", "", "R"]), r"delta\[1\]: symbol must be non-empty"),
    (_row(4, ["accept", "1", "even", "1", "R"]), r"delta\[4\]: transition out of halting state 'accept'"),
    (_row(4, ["reject", "1", "even", "1", "R"]), r"delta\[4\]: transition out of halting state 'reject'"),
    (_row(4, ["even", "0", "odd", "1", "R"]),
     r"delta\[4\]: duplicate transition for \('even', '0'\), first given in delta\[0\]"),
]


@pytest.mark.parametrize("data, message", BAD_FILES, ids=[m for _, m in BAD_FILES])
def test_bad_file_gives_one_line_error_naming_the_field(data, message):
    with pytest.raises(ValueError) as info:
        loads_machine(json.dumps(data), "bad.json")
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("bad.json: ")
    assert re.search(message, text), text


def test_unparseable_file_errors():
    with pytest.raises(ValueError, match=r"^bad\.json: invalid JSON at line 2 column"):
        loads_machine('{"name":\n ,}', "bad.json")
    with pytest.raises(ValueError, match=r"^bad\.json: machine: expected a JSON object, got list"):
        loads_machine("[]", "bad.json")


def test_base_of_the_bad_files_is_valid():
    # the mutations above start from a valid file, so each error comes from the one change made
    assert loads_machine(json.dumps(_base())).name == "parity"


# ---------------------------------------------------------------------------------------------
# Record trace


def test_record_trace_spelling_parity():
    # even --1--> odd (cell 1), then odd reads the blank on cell 2 and accepts
    assert record_trace(load_machine("parity"), "1") == [
        "1", "sym:1", "1", "state:odd", "move:R",
        "2", "sym:_", "2", "state:accept", "move:R",
    ]


def test_record_trace_offset_for_cells_left_of_the_input():
    brackets = load_machine("brackets")
    # ')' at cell 1 is marked X, the head moves to cell 0, finds no '(' there: implicit reject step
    with pytest.raises(ValueError, match=r"cell 0 with offset 0 gives token 0; .* offset >= 1"):
        record_trace(brackets, ")")
    assert record_trace(brackets, ")", offset=1) == [
        "2", "sym:X", "2", "state:find_open", "move:L",
        "1", "sym:_", "1", "state:reject", "move:R",
    ]
    assert required_offset(brackets, [")", "()"]) == 1
    assert required_offset(load_machine("parity"), ["0101"]) == 0


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_record_trace_shape_and_tokens(name):
    machine = load_machine(name)
    words = list(_words(machine.alphabet, 5))
    offset = required_offset(machine, words)
    vocab = Vocab(n=64, extra=turing.trace_vocabulary(machine))
    for word in words:
        result = run(machine, word)
        trace = record_trace(machine, word, offset=offset)
        assert len(trace) == 5 * result.steps
        assert trace[-2] == "state:" + (machine.accept if result.accepted else machine.reject)
        for step, k in zip(result.history, range(0, len(trace), 5)):
            assert tuple(trace[k:k + 5]) == (str(step.head + offset), "sym:" + step.written, str(step.head + offset),
                              "state:" + step.new_state, "move:" + step.move)
        # the a-priori bound: offset = T - 1 always gives positive cells for a T-step run
        record_trace(machine, word, offset=result.steps - 1)
        vocab.ids(trace)  # every token is a number or a declared special


def _check_lemma_c31(machine, word, offset):
    """Against the interpreter's own tape before every step t (and after halting), the latest
    record of each cell, else the cell's initial content, is the cell's content."""
    symbols = machine.parse_input(word)
    trace = record_trace(machine, word, offset=offset)
    configs = list(configurations(machine, word))
    assert len(trace) == 5 * (len(configs) - 1)
    lo = min(c.head for c in configs) - 1
    hi = max(max(c.head for c in configs), len(symbols)) + 1
    for config in configs:
        prefix = trace[: 5 * (config.t - 1)]
        for cell in range(lo, hi + 1):
            value = latest_cell_value(prefix, cell, offset=offset)
            if value is None:
                value = symbols[cell - 1] if 1 <= cell <= len(symbols) else machine.blank
            assert value == config.read(cell), (machine.name, word, config.t, cell)


@pytest.mark.parametrize("name", sorted(PREDICATES))
def test_lemma_c31_latest_record_is_the_current_cell_value(name):
    machine = load_machine(name)
    words = list(_words(machine.alphabet, 6))
    offset = required_offset(machine, words)
    for word in words:
        _check_lemma_c31(machine, word, offset)


def test_latest_cell_value_takes_the_last_record():
    trace = ["3", "sym:a", "3", "state:p", "move:R", "4", "sym:b", "4", "state:p", "move:L",
             "3", "sym:x", "3", "state:q", "move:L"]
    assert latest_cell_value(trace, 3) == "x"
    assert latest_cell_value(trace[:10], 3) == "a"
    assert latest_cell_value(trace, 4) == "b"
    assert latest_cell_value(trace, 2) is None
    assert latest_cell_value(trace, 1, offset=2) == "x"
    with pytest.raises(ValueError, match="not a record trace"):
        latest_cell_value(["5", "state:q", "5"], 5)


# ---------------------------------------------------------------------------------------------
# The interpreter against a deliberately naive simulator


def _naive(data, word, max_steps):
    """Dict tape, linear search through the delta rows; returns None when the limit is hit."""
    tape = {k + 1: s for k, s in enumerate(word)}
    state, head, steps = data["start"], 1, []
    while state != data["accept"] and state != data["reject"]:
        if len(steps) == max_steps:
            return None
        read = tape.get(head, data["blank"])
        match = [row for row in data["delta"] if row[0] == state and row[1] == read]
        new, write, move = (match[0][2], match[0][3], match[0][4]) if match else (data["reject"], read, "R")
        steps.append((state, head, read, write, move, new))
        tape[head] = write
        head = head + 1 if move == "R" else head - 1
        state = new
    cells = {k: v for k, v in tape.items() if v != data["blank"]}
    return state == data["accept"], steps, cells, head


@st.composite
def _random_machine(draw):
    work = draw(st.sampled_from([[], ["x"]]))
    symbols = ["a", "b", "_"] + work
    states = [f"q{k}" for k in range(draw(st.integers(1, 3)))]
    everything = states + ["acc", "rej"]
    delta = []
    for state, read in itertools.product(states, symbols):
        if draw(st.integers(0, 5)):  # about one in six rows missing
            delta.append([state, read, draw(st.sampled_from(everything)), draw(st.sampled_from(symbols)),
                          draw(st.sampled_from("LR"))])
    delta = draw(st.permutations(delta))
    data = dict(name="random", alphabet=["a", "b"], blank="_", states=everything, start="q0",
                accept="acc", reject="rej", delta=[list(r) for r in delta])
    word = draw(st.lists(st.sampled_from(["a", "b"]), max_size=5))
    return data, word


@settings(max_examples=300, deadline=None)
@given(_random_machine())
def test_interpreter_agrees_with_naive_simulator(case):
    data, word = case
    machine = Machine.from_dict(data)
    expected = _naive(data, word, 40)
    if expected is None:
        with pytest.raises(StepLimitExceeded):
            run(machine, word, max_steps=40)
        return
    accepted, steps, cells, head = expected
    result = run(machine, word, max_steps=40)
    assert result.accepted == accepted
    assert [(s.state, s.head, s.read, s.written, s.move, s.new_state) for s in result.history] == steps
    assert [s.t for s in result.history] == list(range(1, len(steps) + 1))
    assert result.tape == cells and result.head == head
    # Lemma C.31 on the final tape of arbitrary machines too
    offset = len(steps)
    trace = record_trace(machine, word, offset=offset)
    for cell in range(1 - len(steps), len(word) + len(steps) + 1):
        value = latest_cell_value(trace, cell, offset=offset)
        initial = word[cell - 1] if 1 <= cell <= len(word) else "_"
        assert (initial if value is None else value) == cells.get(cell, "_")
