"""Thm 5.4: a Linear RNN with in-context regex RAG that simulates a user-given Turing machine.

The generated sequence is :func:`theory.rag.turing.tm_rag_trace` (phase 1: copy the input into
records ``c_i, x_i, c_i`` with the O(1)-token Index query ``(?x)^(?:\\S+\\s) {i} (\\S+)`` of Thm 5.2, 9
tokens per cell; phase 2: per step a newest-record lookup of the head cell, then the record
``p, w, p, q', m``; finally YES/NO). The tape lives in the context; the
state holds O(1) numbers (docs/rag.md):

====================  =======================================================================
state coordinate      meaning (block)
====================  =======================================================================
``c_ss``              number of ``<StartSearch>`` so far = phase-1 counter i, then n + t (U1)
``moves``             sum of the moves so far, so POINTER = 1 + moves (U1)
``st0 .. st12``       state index of the last 13 tokens (start = 0, non-state tokens = 0) (U1)
``sy0 .. sy4``        symbol index of the last 5 tokens (FAILED = the blank) (U1)
``n_in``              number of input symbols, n (U2)
====================  =======================================================================

so Lambda = 21 numbers whatever the machine and n. The largest of them is c_ss <= n + T and
moves/pointers <= T + n, i.e. O(A log n) bits per number for T in TIME(n^A).

Where am I in the template? Positions are part of every model's input (the ``pos`` coordinate),
and every template has a fixed length, so the offset from the last ``<StartSearch>`` is an integer
affine function of (pos, c_ss, n): phase-1 block i has 9 tokens and its ``<StartSearch>`` sits at
``n + 2 + 9 (i - 1)``; phase-2 blocks have 12 tokens starting at ``P0 = 10 n + 2``. Block 2 finds the
phase, block 3 turns the offsets into exact 0/1 template flags, block 4 emits. (With the unary Index
query of a vocabulary without quantifier tokens, phase-1 block i had i + 7 tokens and the offsets
were quadratic in c_ss and n; docs/rag.md compares the lengths.)

Emission (block 4) cancels the current token's embedding and writes the next token's logits:
a special token gets logit 1 (all others 0), a number v gets ``num = 2 v, num_sq = 2`` (margin 1,
:func:`theory.tokens.number_logit_target`), the quantifier ``{i}`` gets ``qnt = 2 i, qnt_sq = 2``
(margin 1, :mod:`theory.rag.quantifiers`). delta is three Lemma C.4 lookup tables keyed by
``kappa = G * state + symbol`` (G = tape alphabet size): the write at offset 7 (state 9 tokens
back, read symbol 1 back), the new state at offset 9 (11 and 3 back), the move at offset 10 (12 and
4 back). The state 9/11/12 tokens back is the previous record's state token, or, at the first step,
a non-state token whose index 0 is the start state.
"""

from __future__ import annotations

from constructions.gadgets.rnn import running_sum
from constructions.gadgets.gates import cancel_embedding, emit_number_gated, hat, table
from constructions.runtime.builder import FFNSpec, LinearUnitSpec
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import LinearRNN, RNNBlock
from theory.rag import turing as rt
from theory.tasks.turing import tm_domain
from theory.tokens import END_SEARCH, FAILED, NO, START_SEARCH, YES, tok
from theory.turing import DEFAULT_MAX_STEPS, MOVES, Machine, load_machine, move_token, state_token, symbol_token

ST_LAGS, SY_LAGS = 13, 5
P2_FLAGS = (0, 2, 4, 7, 9, 10, 11)  # phase-2 offsets with their own flag; pointer offsets share one


def state_index(machine: Machine) -> dict[str, int]:
    """start -> 0, the other states 1.. in file order (0 doubles as 'no state token')."""
    others = [q for q in machine.states if q != machine.start]
    return {machine.start: 0, **{q: i + 1 for i, q in enumerate(others)}}


def symbol_index(machine: Machine) -> dict[str, int]:
    return {s: i for i, s in enumerate(machine.tape_alphabet)}


def scratch_names() -> list[str]:
    regs = [f"st{k}" for k in range(ST_LAGS)] + [f"sy{k}" for k in range(SY_LAGS)]
    flags = (["f1_open", "f1_quant", "f1_capture", "f1_end", "f1_cell", "f1_copy", "f1_search", "f2_ptr"]
             + [f"f2_{k}" for k in P2_FLAGS])
    return ["c_ss", "moves", *regs, "inp", "n_in", "ph2", *flags]


def build_rag_turing(machine: Machine | str, n_max: int, *, offset: int | None = None,
                     n_vocab: int | None = None, max_steps: int = DEFAULT_MAX_STEPS) -> LinearRNN:
    """Thm 5.4 (corrected): Linear RNN + regex RAG simulating ``machine`` on inputs of
    length <= ``n_max``.

    Claimed size: depth 4 (blocks: registers/counters, input count, template flags, emission);
    state Lambda = 21 numbers for every machine and n (:data:`ST_LAGS` + :data:`SY_LAGS` + 3);
    FFN width O(|states| * |tape alphabet|) (three delta tables, one unit per key) plus O(|tape
    alphabet|); CoT length 9 n + 12 T + 1 (phase 1 is O(n) with the quantifier tokens {1}..{n_max}).
    Number tokens: ``n_vocab`` must cover every cell token ``cell + offset`` of the domain; by
    default both are computed by running the machine on every input of length <= n_max
    (:func:`theory.tasks.turing.tm_domain`).
    """
    if isinstance(machine, str):
        machine = load_machine(machine)
    if offset is None or n_vocab is None:
        import itertools

        words = (w for n in range(n_max + 1) for w in itertools.product(machine.alphabet, repeat=n))
        dom = tm_domain(machine, words, n_max, max_steps=max_steps)
        offset = dom.offset if offset is None else offset
        n_vocab = dom.n_vocab if n_vocab is None else n_vocab
    vocab = rt.tm_vocabulary(machine, max(int(n_vocab), n_max + offset, 1), n_max)
    lay = Layout.for_vocab(vocab, scratch_names())
    sidx, yidx = state_index(machine), symbol_index(machine)
    G, B = len(yidx), len(sidx)

    # -- block 1: counters and shift registers (Lemmas C.20, C.21) -------------------------------
    # c_ss counts <StartSearch> (current token included), moves sums +1 (R) / -1 (L); st_k / sy_k
    # hold the state / symbol index of the token k back (index 0 when that token is neither).
    u1 = LinearUnitSpec(lay, "counters+registers")
    running_sum(u1, tok(START_SEARCH), "c_ss")
    running_sum(u1, tok(move_token("R")), "moves", MOVES["R"])
    u1.read("moves", tok(move_token("L")), MOVES["L"])
    for k in range(1, ST_LAGS):
        u1.keep(f"st{k}", f"st{k - 1}")
    for k in range(1, SY_LAGS):
        u1.keep(f"sy{k}", f"sy{k - 1}")
    for q, i in sidx.items():
        if i:  # the start state is index 0, like every non-state token
            u1.read("st0", tok(state_token(q)), i)
    for s, i in yidx.items():
        if i:
            u1.read("sy0", tok(symbol_token(s)), i)
    if yidx[machine.blank]:
        u1.read("sy0", tok(FAILED), yidx[machine.blank])  # a failed lookup reads the blank
    # inp = 1[token is an input symbol] = 1[symbol] * 1[no <StartSearch> yet] = is_sym * R(1 - c_ss)
    f1 = FFNSpec(lay)
    is_sym = {tok(symbol_token(s)): 1.0 for s in yidx}
    f1.unit("input symbol", {"c_ss": -1.0, "bias": 1.0}, is_sym, {"inp": 1.0})

    # -- block 2: n, phase -----------------------------------------------------------------------
    u2 = LinearUnitSpec(lay, "input length")
    running_sum(u2, "inp", "n_in")
    f2 = FFNSpec(lay)
    # ph2 = 1[c_ss > n] = R(c_ss - n) - R(c_ss - n - 1) (integers): phase 2 from its first <StartSearch>.
    f2.unit("ph2:a", {"c_ss": 1.0, "n_in": -1.0}, {"bias": 1.0}, {"ph2": 1.0})
    f2.unit("ph2:b", {"c_ss": 1.0, "n_in": -1.0, "bias": -1.0}, {"bias": 1.0}, {"ph2": -1.0})

    # -- block 3: template flags --------------------------------------------------------------------
    # o1 = pos - (position of the current phase-1 <StartSearch>) = pos - n - 9 c + 7, in 0..8 during
    # phase 1. In the prompt (c = 0, n = n_so_far = pos - 1) o1 = 8, the "emit <StartSearch>" offset:
    # every prompt position proposes to start.
    # o2 = pos - P0 - 12 (c - n - 1) = pos + 2 n - 12 c + 10, in 0..11 during phase 2.
    # All are integers; each flag multiplies an exact indicator by ph1 = 1 - ph2 or by ph2.
    o1 = {"pos": 1.0, "n_in": -1.0, "c_ss": -9.0, "bias": 7.0}
    o2 = {"pos": 1.0, "n_in": 2.0, "c_ss": -12.0, "bias": 10.0}
    ph1, ph2 = {"ph2": -1.0, "bias": 1.0}, {"ph2": 1.0}
    f3 = FFNSpec(lay)
    for k, name in ((0, "f1_open"), (1, "f1_quant"), (2, "f1_capture"), (3, "f1_end"), (5, "f1_cell"),
                    (6, "f1_copy"), (7, "f1_cell"), (8, "f1_search")):
        hat(f3, f"o1={k}", {**o1, "bias": o1["bias"] - k}, ph1, {name: 1.0})
    for k in P2_FLAGS:
        hat(f3, f"o2={k}", {**o2, "bias": o2["bias"] - k}, ph2, {f"f2_{k}": 1.0})
    for k in (1, 3, 6, 8):
        hat(f3, f"o2={k}", {**o2, "bias": o2["bias"] - k}, ph2, {"f2_ptr": 1.0})

    # -- block 4: emission ------------------------------------------------------------------------
    # After cancelling the embedding every logit is 0; exactly one flag is 1 at a checked position
    # (the template offsets are disjoint), and it raises one special token to 1 or makes one number
    # v the peak (logit v^2 against 0 for specials and v^2 - 1 for v +- 1): margin 1 everywhere.
    f4 = FFNSpec(lay)
    cancel_embedding(f4, vocab.coordinates)
    for flag, target in (("f1_open", rt.IDXQ_OPEN), ("f1_capture", rt.IDX_CAPTURE),
                         ("f1_end", END_SEARCH), ("f1_search", START_SEARCH), ("f2_0", rt.LOOKUP_OPEN),
                         ("f2_2", rt.LOOKUP_CAPTURE), ("f2_4", END_SEARCH), ("f2_11", START_SEARCH)):
        f4.linear(f"{flag}->{target}", {flag: 1.0}, {tok(target): 1.0})
    # phase 1, offset 1: the quantifier {i}, i = c_ss (qnt = 2 i, qnt_sq = 2 where f1_quant = 1)
    f4.unit("quantifier {i}:qnt", {"f1_quant": 1.0}, {"c_ss": 2.0}, {"qnt": 1.0})
    f4.unit("quantifier {i}:qsq", {"f1_quant": 1.0}, {"bias": 2.0}, {"qnt_sq": 1.0})
    emit_number_gated(f4, "cell c_i", {"c_ss": 1.0, "bias": float(offset)}, {"f1_cell": 1.0})
    emit_number_gated(f4, "pointer", {"moves": 1.0, "bias": 1.0 + offset}, {"f2_ptr": 1.0})
    for s, i in yidx.items():  # phase 1, offset 6: repeat the retrieved symbol (1 token back)
        hat(f4, f"copy {s}", {"sy1": 1.0, "bias": -float(i)}, {"f1_copy": 1.0}, {tok(symbol_token(s)): 1.0})
    # At offset 11 (the move token) the previous token is the new state: halt with YES/NO instead of
    # starting the next search.
    for q, answer in ((machine.accept, YES), (machine.reject, NO)):
        hat(f4, f"halt {q}", {"st1": 1.0, "bias": -float(sidx[q])}, {"f2_11": 1.0},
            {tok(answer): 1.0, tok(START_SEARCH): -1.0})
    writes, states, moves = {}, {}, {}
    for q in machine.states:
        if q in (machine.accept, machine.reject):
            continue
        for s in machine.tape_alphabet:
            row = machine.table.get((q, s))
            new_q, w, m = (row.new_state, row.write, row.move) if row else (machine.reject, s, "R")
            key = G * sidx[q] + yidx[s]
            writes[key] = {tok(symbol_token(w)): 1.0}
            states[key] = {tok(state_token(new_q)): 1.0}
            moves[key] = {tok(move_token(m)): 1.0}
    table(f4, "delta write", {"st9": float(G), "sy1": 1.0}, G * B, writes, {"f2_7": 1.0})
    table(f4, "delta state", {"st11": float(G), "sy3": 1.0}, G * B, states, {"f2_9": 1.0})
    table(f4, "delta move", {"st12": float(G), "sy4": 1.0}, G * B, moves, {"f2_10": 1.0})

    blocks = [RNNBlock(u1.build(), f1.build(), "counters+registers"),
              RNNBlock(u2.build(), f2.build(), "input length, squares, phase"),
              RNNBlock(LinearUnitSpec(lay, "none").build(), f3.build(), "template flags"),
              RNNBlock(LinearUnitSpec(lay, "none").build(), f4.build(), "emission + delta tables")]
    meta = {"builder": "constructions.rag.turing:build_rag_turing", "theorem": "Thm 5.4 (corrected)",
            "machine": machine.name, "machine_json": machine.to_dict(), "n_max": int(n_max),
            "offset": int(offset)}
    return LinearRNN(vocab, lay, blocks, meta=meta)



def build_rag_palindrome(n: int) -> LinearRNN:
    """Registry form (builder(n)): Thm 5.4 for the library machine ``palindrome`` on inputs of
    length <= n; same claimed size as :func:`build_rag_turing`."""
    return build_rag_turing("palindrome", n)
