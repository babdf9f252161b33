"""Thm 5.8: a hybrid Linear RNN (+ one attention layer) that simulates a Turing machine.

Sequence (Thm 5.4's without the regex and phase 1; theory.turing.record_trace, docs/turing.md):

    <s>, sym:x_1, ..., sym:x_n,  P_1, W_1, P_1, S_2, D_2,  P_2, W_2, P_2, S_3, D_3,  ...,  YES/NO

record t (positions r .. r+4) = head cell before step t (as the number token cell + offset), the
symbol written there, the cell again, the new state, the move. The model's greedy output is the
whole record trace (theory.hybrid_trace.tm_hybrid_trace); the last record ends in the accept or
reject state, and the move token after it emits YES or NO (the answer that stops decoding).

What the model emits at each position (the phase is read off the token types, see below):

    <s> or an input symbol     the first pointer 1 + offset (only the last one is checked)
    P_t   (first, r)           W_t = delta(State[t], TAPE[t, P_t]).write     -- needs retrieval
    W_t   (r+1)                P_t again (the previous token, from the shift register)
    P_t   (second, r+2)        S_{t+1} = delta(...).new_state               -- needs retrieval
    S_{t+1} (r+3)              D_{t+1} = delta(...).move                    -- needs retrieval
    D_{t+1} (r+4)              P_{t+1} = P_t + 1 (R) or - 1 (L), P_t two tokens back; or, if the
                               token before it is the accept (reject) state, YES (NO)

Retrieval (one MatchClose head, Lemma C.16). The RNN marks, for every position, a key (a cell token)
and a value (a symbol index, blank = 0):
  * an input symbol at position k holds cell k - 1: key k - 1 + offset, value its symbol;
  * the move token D_{t+1} (r+4) closes record t: key P_t (two back), value W_t (three back);
  * every other position has key 0 (<s> too, as the sink needs).
The query at r, r+2 (the number itself) and r+3 (the number one back) is P_t. MatchClose returns the
latest key equal to P_t at or before the query, i.e. the most recent record of cell P_t from an
earlier step (the current record's D comes later, at r+4) or, if there is none, the input symbol of
that cell; with neither (a blank cell outside the input) it falls back to <s>, value 0 = blank.
By Lemma C.31 (docs/turing.md) that is TAPE[t, P_t]. (The paper's proof of Thm 5.8 says "mark each record's value token"
is realised on the record's last token so that the current record never answers its own query.)

State[t] is the state token of the previous record: it sits exactly 2, 4 or 5 tokens back at r, r+2,
r+3 and no other state token is within 5 tokens, so the sum of a 5-slot shift register of state
indices is State[t]; with no state token in reach (t = 1) the sum is 0 = the start state's index.
delta is an FFN lookup table (Lemma C.4 as a piecewise-linear interpolation over the integer code
z = phase + 4 (state + |Q| read), one ReLU per code, exact on integers).

RNN (Linear RNN, Defs 3.4-3.5), 2 blocks:
  R1 unit   shift registers: number and its square (2 back), symbol index (3 back), state index
            (5 back), accept and reject indicators (1 back)
     FFN    one; cur_state = sum of the state register
  R2 unit   rpos = running sum of one (Lemma C.21); is_num register (2 back)
     FFN    rpos^2, query (ptr, ptr^2), key (key, key^2), value, phase, the number to emit
Top block: MatchClose(key = ptr) -> read;  FFN: delta lookup + read-out.

Claimed size: RNN depth 2, state dimension 24 (O(A log n) bits at p = O(log n)), one head, residual
width 38 + #specials (8 base + |Gamma| + |Q| + 2 moves); top FFN width <= 4 |Q| |Gamma| + 2 +
O(#specials) (the O(A B^2 log n) parameter bits of Thm 5.8). CoT length 5 T + 1 for a run of T steps.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

from constructions.gadgets.attention import coordinate, match_close_head
from constructions.gadgets.ffn import added, constant, linear, multiply_nonneg, scaled
from constructions.gadgets.rnn import running_sum
from constructions.runtime.builder import FFNSpec, Form, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import Hybrid, LinearRNN, RNNBlock
from constructions.runtime.transformer import Block
from theory.tokens import BOS, NO, YES, Vocab
from theory.tokens import tok as token_coordinate
from theory.turing import MOVES, Machine, move_token, run, state_token, symbol_token, trace_vocabulary

PHASES = 4          # 0 other, 1 first pointer, 2 second pointer, 3 new state
LOGIT = 2.0         # logit of the emitted special token (every other logit is 0)
NUM_SCALE = 2.0     # emitted number v: logit of i is NUM_SCALE (i v - i^2 / 2)


@dataclass(frozen=True)
class Encoding:
    """Integer codes the weights use: symbols (blank = 0) and states (start = 0)."""

    machine: Machine

    @property
    def symbols(self) -> list[str]:
        m = self.machine
        return [m.blank] + [s for s in m.tape_alphabet if s != m.blank]

    @property
    def states(self) -> list[str]:
        m = self.machine
        return [m.start] + [q for q in m.states if q != m.start]

    def sym(self, s: str) -> int:
        return self.symbols.index(s)

    def state(self, q: str) -> int:
        return self.states.index(q)


def scratch_names() -> list[str]:
    regs = [f"{base}@{j}" for base, lags in (("num", 2), ("nsq", 2), ("sym", 3), ("st", 5))
            for j in range(lags + 1)]
    return regs + ["acc@0", "acc@1", "rej@0", "rej@1", "one", "cur_state", "rpos", "isnum@0", "isnum@1",
                   "isnum@2", "rpos_sq",
                   "ptr", "ptr_sq", "key", "key_sq", "val", "phase", "emit_num", "read"]


def _register(unit: LinearUnitSpec, name: str, form: Form, lags: int) -> None:
    """Lemma C.20 with a linear form as input: ``name@j`` = the form's value j tokens back (j <= lags)."""
    for src, coef in form.items():
        unit.read(f"{name}@0", src, coef)
    for j in range(1, lags + 1):
        unit.keep(f"{name}@{j}", f"{name}@{j - 1}")


def build_turing_hybrid(machine: Machine, *, offset: int, cells: int, length: int,
                        beta: float | None = None) -> Hybrid:
    """Thm 5.8: the hybrid that writes ``record_trace(machine, x, offset=offset)`` after ``<s> x``.

    ``cells`` is the largest number token (cell + offset) the domain needs, ``length`` the longest
    prompt + trace; both only size the vocabulary and the MatchClose constants.
    """
    if offset < 0 or cells < 1 + offset or length < 2:
        raise ValueError(f"need offset >= 0, cells >= 1 + offset and length >= 2; got {offset}, {cells}, {length}")
    enc = Encoding(machine)
    vocab = Vocab(cells, extra=trace_vocabulary(machine))
    layout = Layout.for_vocab(vocab, scratch_names())
    tok = {name: token_coordinate(name) for name in vocab.specials}
    sym_form = {tok[symbol_token(s)]: float(enc.sym(s)) for s in enc.symbols if enc.sym(s)}
    st_form = {tok[state_token(q)]: float(enc.state(q)) for q in enc.states if enc.state(q)}
    is_sym = {tok[symbol_token(s)]: 1.0 for s in enc.symbols}
    is_state = {tok[state_token(q)]: 1.0 for q in enc.states}
    is_move = {tok[move_token(d)]: 1.0 for d in MOVES}
    is_special = {t: 1.0 for t in tok.values()}
    M = float(length + offset + 1)  # big-M gate: exceeds every rpos - 1 + offset

    # R1: registers of the current token's number (and embedded square -i^2/2), symbol and state index.
    u1 = LinearUnitSpec(layout, "R1 registers")
    _register(u1, "num", {"num": 1.0}, 2)
    _register(u1, "nsq", {"num_sq": 1.0}, 2)
    _register(u1, "sym", sym_form, 3)
    _register(u1, "st", st_form, 5)
    _register(u1, "acc", {tok[state_token(machine.accept)]: 1.0}, 1)
    _register(u1, "rej", {tok[state_token(machine.reject)]: 1.0}, 1)
    f1 = FFNSpec(layout)
    constant(f1, "one", "one")
    # State[t]: the only state token within 5 tokens back at r, r+2, r+3 (module docstring).
    linear(f1, "cur_state", {"cur_state": {f"st@{j}": 1.0 for j in range(1, 6)}})

    # R2: position and the is-a-number register (is_num = 1 - sum of special indicators).
    u2 = LinearUnitSpec(layout, "R2 position, is_num")
    running_sum(u2, "one", "rpos")
    _register(u2, "isnum", {"one": 1.0, **{t: -1.0 for t in is_special}}, 2)
    f2 = FFNSpec(layout)
    multiply_nonneg(f2, "rpos^2", {"rpos": 1.0}, {"rpos": 1.0}, "rpos_sq")
    # Query: P_t = the current number at r and r+2, the number one back at the state token r+3
    # (0 elsewhere; those positions' retrievals are never used). Squares from the embedding: i^2 = -2 num_sq.
    linear(f2, "ptr", {"ptr": {"num": 1.0}, "ptr_sq": {"num_sq": -2.0}})
    f2.unit("ptr@state", is_state, {"num@1": 1.0}, {"ptr": 1.0})
    f2.unit("ptr_sq@state", is_state, {"nsq@1": -2.0}, {"ptr_sq": 1.0})
    # Key and value. in_gate = is_sym - is_num(one back) is 1 exactly at input symbols (their
    # predecessor is <s> or a symbol), 0 at W tokens (predecessor a number) and <= 0 elsewhere.
    in_gate = {**is_sym, "isnum@1": -1.0}
    cell = {"rpos": 1.0, "one": float(offset - 1)}                 # k - 1 + offset >= 0
    f2.unit("key@input", in_gate, cell, {"key": 1.0})
    # (k - 1 + offset)^2 gated without a product of three: ReLU(cell + M (in_gate - 1)) * cell is
    # cell^2 when in_gate = 1 and 0 when in_gate <= 0 (then the gate is <= cell - M < 0).
    f2.unit("key_sq@input", {**cell, **{c: M * v for c, v in in_gate.items()}, "bias": -M}, cell, {"key_sq": 1.0})
    f2.unit("key@move", is_move, {"num@2": 1.0}, {"key": 1.0})
    f2.unit("key_sq@move", is_move, {"nsq@2": -2.0}, {"key_sq": 1.0})
    f2.unit("val@input", in_gate, {"sym@0": 1.0}, {"val": 1.0})
    f2.unit("val@move", is_move, {"sym@3": 1.0}, {"val": 1.0})
    # phase = is_num + [is_num and the token two back is a number] + 3 [state token]: 1 at the first
    # pointer (two back is a state, an input symbol, <s> or nothing), 2 at the second (two back is
    # the first pointer), 3 at a state token, 0 elsewhere. All terms are 0/1 integers.
    is_num = {"one": 1.0, **{t: -1.0 for t in is_special}}
    linear(f2, "phase", {"phase": added(is_num, {t: 3.0 for t in is_state})})
    f2.unit("phase@P2", {**is_num, "isnum@2": 1.0, "bias": -1.0}, {"bias": 1.0}, {"phase": 1.0})
    # The number to emit: at a symbol its predecessor's number (W_t -> P_t) or, after <s>/an input
    # symbol (is_num one back = 0), 1 + offset; at <s> 1 + offset; at a move P_t +- 1.
    f2.unit("emit@sym", is_sym, {"num@1": 1.0, "isnum@1": -float(1 + offset), "bias": float(1 + offset)},
            {"emit_num": 1.0})
    f2.unit("emit@bos", {tok[BOS]: 1.0}, {"bias": float(1 + offset)}, {"emit_num": 1.0})
    # After a halting state the move token ends the trace: no number is due there (halted = 0 or 1).
    halted = {"acc@1": 1.0, "rej@1": 1.0}
    step = {"num@2": 1.0, tok[move_token("R")]: 1.0, tok[move_token("L")]: -1.0}
    f2.unit("emit@move", added(is_move, scaled(halted, -1.0)), step, {"emit_num": 1.0})
    rnn = LinearRNN(vocab, layout, [RNNBlock(u1.build(), f1.build(), "R1: registers, one, State[t]"),
                                    RNNBlock(u2.build(), f2.build(), "R2: position, query, key, value, phase")])

    # Top attention: MatchClose gap 1 (integer scores), default beta makes it one-hot in float64.
    head = match_close_head(layout, keys=[coordinate("key", "key_sq")], queries=[coordinate("ptr", "ptr_sq")],
                            values={"val": "read"}, length=length, beta=beta, pos="rpos", pos_sq="rpos_sq",
                            name="MatchClose cell")
    top = FFNSpec(layout)
    _delta_table(top, enc, tok)
    # Read-out. Every special indicator is cleared, so a special logit is LOGIT if the table wrote it
    # and 0 otherwise; num = NUM_SCALE emit_num and num_sq = NUM_SCALE [a number is due] make the
    # logit of number i NUM_SCALE (i v - i^2/2): the emitted v >= 1 scores NUM_SCALE v^2 / 2 >= 1,
    # v +- 1 score 1 less, specials 0. Where a special is due, num = num_sq = 0 and every number
    # scores 0 < LOGIT.
    # The move token after the accept (reject) state emits YES (NO), every other logit 0.
    emit_flag = added(is_sym, {tok[BOS]: 1.0}, is_move, scaled(halted, -1.0))
    linear(top, "verdict", {tok[YES]: {"acc@1": LOGIT}, tok[NO]: {"rej@1": LOGIT}})
    linear(top, "readout", {"num": {"num": -1.0, "emit_num": NUM_SCALE},
                            "num_sq": {"num_sq": -1.0, **{c: NUM_SCALE * v for c, v in emit_flag.items()}}})
    linear(top, "clear", {t: {t: -1.0} for t in tok.values()})
    meta = {"builder": "build_turing_hybrid", "task": "turing", "machine": machine.name, "offset": offset,
            "cells": cells, "length": length, "theorem": "Thm 5.8",
            "claim": claim(machine)}
    return Hybrid(rnn, Block([head], top.build(), "top: MatchClose cell, delta table, read-out"),
                  score_scale=1.0, meta=meta)


def _delta_table(ffn: FFNSpec, enc: Encoding, tok: dict[str, str]) -> None:
    """delta as a function of z = phase + 4 (state + |Q| read), exact at every integer z.

    f_d(z) = sum_c w_{c,d} ReLU(z - c) with w_c = v(c+1) - 2 v(c) + v(c-1) (second differences of the
    target values v(c) = LOGIT [entry c writes token d], zero outside the codes) equals v(z) at every
    integer z: for z <= c_min it is 0; each knot adds the change of slope. One hidden unit per knot
    c = -1 .. Z, shared by all output tokens. z is an integer at every position (phase, state and the
    retrieved value are integers; the retrieval is one-hot), and phase 0 (no output due) codes have
    v = 0. Entries exist for non-halting states only: the trace ends at a halting state.
    """
    m = enc.machine
    nq = len(enc.states)
    z_form = {"phase": 1.0, "cur_state": float(PHASES), "read": float(PHASES * nq)}
    values: dict[int, dict[str, float]] = {}
    for q in enc.states:
        if q in (m.accept, m.reject):
            continue
        for s in enc.symbols:
            row = m.transition(q, s)
            base = PHASES * (enc.state(q) + nq * enc.sym(s))
            values[base + 1] = {tok[symbol_token(row.write)]: LOGIT}
            values[base + 2] = {tok[state_token(row.new_state)]: LOGIT}
            values[base + 3] = {tok[move_token(row.move)]: LOGIT}
    top = PHASES * nq * len(enc.symbols)
    outs = sorted({d for v in values.values() for d in v})
    for c in range(-1, top + 1):
        w = {}
        for d in outs:
            second = (values.get(c + 1, {}).get(d, 0.0) - 2 * values.get(c, {}).get(d, 0.0)
                      + values.get(c - 1, {}).get(d, 0.0))
            if second:
                w[d] = second
        if w:
            ffn.unit(f"delta:knot{c}", {**z_form, "bias": -float(c)}, {"bias": 1.0}, w)


def claim(machine: Machine) -> dict:
    return {"depth": 3, "rnn_depth": 2, "heads": 1, "state_dim": 24,
            "width": 2 + len(trace_vocabulary(machine)) + 8 + len(scratch_names()) + 1}


@lru_cache(maxsize=32)
def _longest_run(machine: Machine, n_max: int) -> int:
    return max(run(machine, w).steps for k in range(n_max + 1) for w in itertools.product(machine.alphabet, repeat=k))


def build_hybrid_turing(machine: Machine, n_max: int, *, offset: int, n_vocab: int) -> Hybrid:
    """verify.turing's builder interface: the Thm 5.8 hybrid for every input of length <= ``n_max``.

    The sequence-length bound for MatchClose comes from running the interpreter on that domain:
    ``length = n_max + 1 + 5 T_max + 1``.
    """
    length = n_max + 2 + 5 * _longest_run(machine, n_max)
    return build_turing_hybrid(machine, offset=offset, cells=n_vocab, length=length)
