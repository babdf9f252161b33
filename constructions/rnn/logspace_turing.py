"""Thm 4.1 (constructive side): a Linear RNN with CoT that runs a log-space Turing machine.

Task (theory.tasks.logspace): the prompt ``0^{n-|x|} sym:x_1 .. sym:x_|x|`` with ``|x| <= log2 n``;
the chain of thought is one step token ``step:q'/w/d/r`` per machine step (new state, written
symbol, move, read symbol), then YES or NO.

The state holds the machine's whole tape, one state number per tape bit, and the head:

* symbols are coded in B = ceil(log2 |Gamma|) bits (blank = 0); the window of cells ``lo..hi``
  (W = hi - lo + 1 cells, W = O(log n) for a machine that stays within a multiple of its input)
  is the tape the model holds;
* ``head`` = (head cell) - 1, a running sum of the moves (Lemma C.21), and ``count`` = the number
  of input symbols read (Lemma C.21), which says which cell an input symbol belongs in;
* the machine's current state is not stored: it is the new state named by the current token (the
  start state on pad and input tokens), i.e. the context holds it and the current input reads it.

One position (blocks R1..R4; every unit is a ReGLU unit with integer weights):

    R1 unit  head += move(token); count += [token is an input symbol]
       FFN   ind[i] = [head = i - 1] (the cell under the head), cind[i] = [count = i] (hats, width 3)
    R2 unit  h0[i] = ind[i], h1[i] = h0[i] one step back (Lemma C.20): the head cell before the move
       FFN   delta[i, j] = h1[i] * (w_j - r_j)(token) + cind[i] * bit_j(input symbol)
    R3 unit  tape[i, j] += delta[i, j]            (the step token's write, or the input's symbol)
       FFN   read[j] = sum_i ind[i] * tape[i, j]  (the symbol under the head after the move)
    R4 FFN   next token: for each row (q, r) of delta, logit[token(q, r)] = [state = q][read = r];
             YES = [state = accept], NO = [state = reject]; the current token's embedding is cleared

Why it is right, by induction over positions: after the token of step t, ``head`` is the head cell
after step t minus 1, the tape holds the tape after step t (the token carries w - r bit by bit, and
h1 marks the cell the head was on when it wrote), and the token names the state after step t; so
R4 reads the right (state, symbol) pair and emits step t + 1's token. On the prompt the pads change
nothing, input symbol k lands in cell k, and the start state holds. Every value is an integer in a
range fixed by the window (``meta["ranges"]``), so R_p with p = ``meta["p"]`` is exact.

Claimed size (depends only on the machine, the window and L = max_len, not on n): depth 4 blocks;
state Lambda = 2 + 2W + W B numbers (head, count, the two head-indicator registers, the tape), of
which all but head and count hold one bit: O(W B + log W) = O(log n) bits; residual width
(10 + |task tokens|) + (2 + 3W + L + 2WB + B) + 1; no attention; CoT T + 1 tokens for a run of T steps.
The paper puts the tape in O(1) numbers of O(log n) bits; reading one digit of such a
number at a moving position is not an O(1)-width ReGLU operation, so we spend one number per tape
bit (docs/rnn.md). Valid while the head stays in the window (``tape_window`` of the domain).
"""

from __future__ import annotations

import numpy as np

from constructions.gadgets.ffn import linear, multiply_nonneg
from constructions.gadgets.gates import hat
from constructions.gadgets.rnn import recent_inputs, running_sum
from constructions.runtime.builder import FFNSpec, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearRNN, LinearUnit, RNNBlock
from theory.tasks import logspace as task
from theory.tokens import NO, YES, Vocab
from theory.turing import MOVES, Machine

LOGIT = 1.0  # the emitted token's logit; every other logit is 0


class Coding:
    """Symbol codes (blank = 0) and their bits."""

    def __init__(self, machine: Machine):
        self.machine = machine
        self.symbols = [machine.blank] + [s for s in machine.tape_alphabet if s != machine.blank]
        self.bits = max(1, (len(self.symbols) - 1).bit_length())

    def bit(self, symbol: str, j: int) -> int:
        return (self.symbols.index(symbol) >> j) & 1


def _tok(name: str) -> str:
    return f"tok:{name}"


def _cells(window) -> list[int]:
    lo, hi = window
    return list(range(lo, hi + 1))


def scratch_names(machine: Machine, window, max_len: int) -> list[str]:
    cells, bits = _cells(window), Coding(machine).bits
    return (["head", "count"] + [f"ind[{i}]" for i in cells] + [f"cind[{i}]" for i in range(1, max_len + 1)]
            + [f"h0[{i}]" for i in cells] + [f"h1[{i}]" for i in cells]
            + [f"delta[{i}.{j}]" for i in cells for j in range(bits)]
            + [f"tape[{i}.{j}]" for i in cells for j in range(bits)] + [f"read[{j}]" for j in range(bits)])


def precision(head_cells, max_len: int, bits: int) -> int:
    """An odd p whose integer range holds every value and partial sum the model computes: a hat's
    middle unit contributes -2 ReLU(x - B) with x - B up to the head's span (or max_len), and the
    head register moves one beyond its range before the window check matters."""
    lo, hi = head_cells
    biggest = max(2 * (hi - lo + 2), 2 * (max_len + 2), abs(lo) + 2, abs(hi) + 2, bits + 1)
    return 2 * biggest.bit_length() + 1


def build_logspace_rnn(machine: Machine, max_len: int, *, window: tuple[int, int] | None = None,
                       n_vocab: int = 1) -> LinearRNN:
    """Thm 4.1: the Linear RNN that writes ``theory.tasks.logspace.trace(machine, x)`` after the prompt
    ``0^{n-|x|} x``, for every input of length <= ``max_len`` whose run reads only cells of ``window``.

    Default window: :func:`theory.tasks.logspace.tape_window` over all such inputs (and the head
    register's range from :func:`~theory.tasks.logspace.head_range`); an explicit window lets the
    head go one cell beyond it on either side (a halting move). Size: module docstring.
    """
    if max_len < 0:
        raise ValueError(f"max_len must be >= 0, got {max_len}")
    if window is None:
        words = list(task.words_up_to(machine, max_len))
        window = task.tape_window(machine, words)
        head_cells = task.head_range(machine, words)
    else:
        head_cells = (window[0] - 1, window[1] + 1)
    lo, hi = window
    if not (lo <= 1 and hi >= max(1, max_len)):
        raise ValueError(f"window {window} must contain cell 1 and the input cells 1..{max_len}")
    code = Coding(machine)
    B, cells = code.bits, _cells(window)
    vocab = Vocab(n_vocab, extra=task.vocabulary(machine))
    layout = Layout.for_vocab(vocab, scratch_names(machine, window, max_len))

    # Token features: linear forms over the one-hot embedding of the current token.
    info = {}  # step token -> (new_state, write, move, read)
    for q, r in task.rows(machine):
        t = machine.transition(q, r)
        info[task.row_token(machine, q, r)] = (t.new_state, t.write, t.move, r)
    inputs = [task.symbol_token(a) for a in machine.alphabet]
    move = {_tok(k): float(MOVES[v[2]]) for k, v in info.items()}
    is_input = {_tok(s): 1.0 for s in inputs}
    diff = [{_tok(k): float(code.bit(v[1], j) - code.bit(v[3], j)) for k, v in info.items()
             if code.bit(v[1], j) != code.bit(v[3], j)} for j in range(B)]
    in_bit = [{_tok(task.symbol_token(a)): 1.0 for a in machine.alphabet if code.bit(a, j)} for j in range(B)]

    def in_state(q: str) -> dict:
        form = {_tok(k): 1.0 for k, v in info.items() if v[0] == q}
        if q == machine.start:
            form.update({_tok(task.PAD): 1.0, **is_input})
        return form

    # R1: head and input counter (Lemma C.21); head-cell and input-cell indicators.
    u1 = LinearUnitSpec(layout, "R1 head, count")
    for src, coef in move.items():
        u1.read("head", src, coef)
    u1.keep("head")
    for src in is_input:
        u1.read("count", src)
    u1.keep("count")
    f1 = FFNSpec(layout)
    for i in cells:
        hat(f1, f"ind[{i}]", {"head": 1.0, "bias": -float(i - 1)}, {"bias": 1.0}, {f"ind[{i}]": 1.0})
    for i in range(1, max_len + 1):
        hat(f1, f"cind[{i}]", {"count": 1.0, "bias": -float(i)}, {"bias": 1.0}, {f"cind[{i}]": 1.0})

    # R2: the head indicator one step back (Lemma C.20): the cell the current step token wrote.
    u2 = LinearUnitSpec(layout, "R2 head-cell register")
    recent_inputs(u2, [f"ind[{i}]" for i in cells], [[f"h0[{i}]" for i in cells], [f"h1[{i}]" for i in cells]])
    f2 = FFNSpec(layout)
    for i in cells:
        for j in range(B):
            if diff[j]:
                multiply_nonneg(f2, f"delta[{i}.{j}]:write", {f"h1[{i}]": 1.0}, diff[j], f"delta[{i}.{j}]")
            if 1 <= i <= max_len and in_bit[j]:
                multiply_nonneg(f2, f"delta[{i}.{j}]:input", {f"cind[{i}]": 1.0}, in_bit[j], f"delta[{i}.{j}]")

    # R3: the tape, one number per bit (Lemma C.21 on the deltas); the symbol under the head.
    u3 = LinearUnitSpec(layout, "R3 tape")
    for i in cells:
        for j in range(B):
            running_sum(u3, f"delta[{i}.{j}]", f"tape[{i}.{j}]")
    f3 = FFNSpec(layout)
    for i in cells:
        for j in range(B):
            multiply_nonneg(f3, f"read[{j}]:{i}", {f"ind[{i}]": 1.0}, {f"tape[{i}.{j}]": 1.0}, f"read[{j}]")

    # R4: delta as a lookup (Lemma C.4). For each output token k and symbol r, one unit is 1 exactly
    # when read = r and the state is one of the states q with token(q, r) = k (the state indicators
    # of distinct states are exclusive, so their sum is the indicator of the set).
    f4 = FFNSpec(layout)
    halting = (machine.accept, machine.reject)
    groups: dict[tuple[str, str], list[str]] = {}
    for q in machine.states:
        if q not in halting:
            for r in code.symbols:
                groups.setdefault((task.row_token(machine, q, r), r), []).append(q)
    for (k, r), states in groups.items():
        gate = {"bias": -float(B)}
        for q in states:
            for c, v in in_state(q).items():
                gate[c] = gate.get(c, 0.0) + v
        for j in range(B):
            if code.bit(r, j):
                gate[f"read[{j}]"] = 1.0
            else:
                gate[f"read[{j}]"] = -1.0
                gate["bias"] += 1.0
        f4.unit(f"delta({'|'.join(states)},{r})", gate, {"bias": 1.0}, {_tok(k): LOGIT})
    linear(f4, "verdict", {_tok(YES): {c: LOGIT for c in in_state(machine.accept)},
                           _tok(NO): {c: LOGIT for c in in_state(machine.reject)}})
    readable = [task.PAD] + inputs + list(info)
    linear(f4, "clear", {_tok(t): {_tok(t): -1.0} for t in readable})

    blocks = [RNNBlock(u1.build(), f1.build(), "R1: head, count; cell indicators"),
              RNNBlock(u2.build(), f2.build(), "R2: head-cell register; tape deltas"),
              RNNBlock(u3.build(), f3.build(), "R3: tape; symbol under the head"),
              RNNBlock(LinearUnit(np.zeros((len(layout),) * 2), np.zeros((len(layout),) * 2), "R4 (no unit)"),
                       f4.build(), "R4: delta lookup, read-out")]
    ranges = {"head": (head_cells[0] - 1, head_cells[1] - 1), "count": (0, max_len)}
    for i in cells:
        ranges.update({f"ind[{i}]": (0, 1), f"h0[{i}]": (0, 1), f"h1[{i}]": (0, 1)})
        ranges.update({f"tape[{i}.{j}]": (0, 1) for j in range(B)})
    ranges.update({f"read[{j}]": (0, 1) for j in range(B)})
    outputs = [_tok(t) for t in task.step_tokens(machine)] + [_tok(YES), _tok(NO)]
    ranges.update({c: (0, 1) for c in outputs})
    meta = {"builder": "build_logspace_rnn", "theorem": "Thm 4.1", "task": "logspace", "machine": machine.name,
            "max_len": max_len, "window": [lo, hi], "p": precision(head_cells, max_len, B),
            "ranges": {k: list(v) for k, v in ranges.items()},
            "materialize": [f"ind[{i}]" for i in cells] + [f"read[{j}]" for j in range(B)],
            "input_tokens": readable, "claim": claim(machine, window, max_len)}
    return LinearRNN(vocab, layout, blocks, meta=meta)


def claim(machine: Machine, window, max_len: int) -> dict:
    """Depth, state dimension and residual width promised by the module docstring."""
    w = window[1] - window[0] + 1
    b = Coding(machine).bits
    embedding = 2 + 8 + len(task.vocabulary(machine))          # num, num_sq, base specials, task tokens
    scratch = 2 + 3 * w + max_len + 2 * w * b + b              # head, count, ind, h0, h1, cind, delta, tape, read
    return {"depth": 4, "state_dim": 2 + 2 * w + w * b, "width": embedding + scratch + 1}


def build_logspace_turing(machine: Machine, n_max: int, *, offset: int = 0, n_vocab: int = 1) -> LinearRNN:
    """``verify.turing``'s builder interface: the Thm 4.1 RNN for every input of length <= ``n_max``
    (prompts of n = 2^n_max tokens). ``offset`` is unused (no cell numbers appear in this CoT) and
    the weights do not depend on n (the pads change nothing)."""
    del offset
    return build_logspace_rnn(machine, n_max, n_vocab=n_vocab)
