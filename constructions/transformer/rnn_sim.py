"""Thm 4.8 (App. C.7): a Transformer whose CoT is the gate-level trace of any circuit RNN.

The chain of thought (theory.circuit.gate_trace) after a prompt ``x_1 .. x_l``: for each RNN step
a = 1, 2, .. the C gate outputs of step a as tokens ``gate:0``/``gate:1``, then the RNN's input of
step a + 1 (``x_{a+1}`` while a < l, else the RNN's output after step a); the RNN's answer ends it.
So step a's block starts after the position k0 of its input token (k0 = l for a = 1, whose input is
x_1 at position 1) and gate b sits at k0 + b.

Three blocks (the paper's five layers, merged where nothing depends on an earlier FFN):

    L1  FFN      one, pos^2, bitpos = pos [the token is a gate bit]
    L2  attn     k0, k0^2 <- the latest non-bit token (MatchClose on "is a bit" = 0, Lemma C.16)
                 fb       <- the first bit token's position (Match, Lemma C.15; 0 if none yet)
        FFN      b = pos - k0 is the gate just written (0: none yet); a lookup on b (Lemma C.4, one
                 ReLU per knot, second differences) gives the next gate s = b + 1: its type, its
                 arguments' positions k0 + l, k0 + r (AND/XOR), k0 - (C + 1) + g (state bit j, i:
                 the previous step's gate g = next_state[j][i]), the input bit it selects, its
                 constant; first-step flag [a = 1]; the input token's position (k0, or 1 if a = 1);
                 at b = C, whether the next token is a prompt copy and from where; ob[g] = the bit
                 of the current token if it is gate g of an output number
    L3  attn     Match on position (4 heads): the two arguments, the state bit, the input token's
                 coordinates; Match on position: the prompt token to copy; one mean head over the
                 block (positions with the same k0) sums (C + 1) * place * ob[g] into each output
                 number (the paper's p - 1 reassembly heads and d + 1 gather heads, in one)
        FFN      the next gate's bit (AND, XOR, copy, constant, initial state bit) as the logit of
                 gate:1 / gate:0; at b = C the RNN's output vector o (sign applied) in the tied
                 embedding coordinates, so the read-out is the RNN's own W_E o, or the prompt copy

Claimed size: depth 3 (constant); heads 2 + 6 (constant: 2 in L2, 6 in L3, whatever C, d, p; one
fewer each if the circuit reads no varying input bit or has a constant output); residual width
d + 2 + 23 + 2 (input coordinates read) + (output gates) + 2 (output coordinates) + d + 1 = O(C + d),
d = the RNN's embedding width; FFN widths O(1), C + 3 + 3 (output gates) + 11, O(d + inputs);
nonzero parameters O(C + d p), each of O(log(length)) bits (``size()``). CoT length
(l + T - 1)(C + 1) for a prompt of l tokens and an RNN CoT of T tokens (answer included).
Exact in float64 and hard attention; not meant for R_p (scores reach beta * length^2).
"""

from __future__ import annotations

import numpy as np

from constructions.gadgets.attention import (Quantity, default_beta, earliest_head, latest_head, mean_head,
                                             position_head)
from constructions.gadgets.ffn import linear, positions, shifted
from constructions.gadgets.gates import hat
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from theory.circuit import GATE0, GATE1, Circuit, rp_bits, transformer_vocab

LOGIT = 1.0
IS_BIT = {f"tok:{GATE0}": 1.0, f"tok:{GATE1}": 1.0}
BIT = f"tok:{GATE1}"


def _input_sources(circuit: Circuit):
    """For each input gate: ('coord', name) when the bit is the coordinate's own 0/1 value,
    ('const', v) when every token gives v, ('lookup', table over number values) otherwise."""
    vocab, p, q = circuit.vocab, circuit.p, (circuit.p - 1) // 2
    emb = vocab.embedding_matrix()
    coords = vocab.coordinates
    out = {}
    for g, gate in enumerate(circuit.gates, start=1):
        if gate[0] != "input":
            continue
        coord, i = gate[1], gate[2]
        j = coords.index(coord)
        col = emb[1:, j]
        bits = np.array([rp_bits(v, p)[i - 1] for v in col])
        if np.all(bits == bits[0]):
            out[g] = ("const", int(bits[0]))
        elif coord.startswith("tok:") and i == q:
            out[g] = ("coord", coord)
        else:
            raise ValueError(f"gate {g} reads bit {i} of {coord!r}: only the 0/1 value of a special-token "
                             "coordinate is supported as a varying input bit (App. C.7's input gates on number "
                             "values would need an O(n)-width bit extraction)")
    return out


def scratch_names(circuit: Circuit) -> list[str]:
    c = circuit
    inputs = sorted({src[1] for src in _input_sources(c).values() if src[0] == "coord"})
    out_gates = sorted({g for row in c.output.values() for g in row if c.gates[g - 1][0] != "const"})
    return (["one", "pos_sq", "bitpos", "k0", "k0_sq", "fb", "first", "tAND", "tXOR", "tST", "s0", "cval",
             "tL", "tR", "tS", "tIN", "atEnd", "notEnd", "inprompt", "tPC", "vL", "vR", "vS"]
            + [f"sel:{x}" for x in inputs] + [f"inb:{x}" for x in inputs]
            + [f"ob[{g}]" for g in out_gates] + [f"om:{x}" for x in c.output] + [f"os:{x}" for x in c.output]
            + [f"pc:{x}" for x in c.vocab.coordinates])


def build_rnn_transformer(circuit: Circuit, max_len: int, *, beta: float | None = None) -> Transformer:
    """Thm 4.8: the Transformer that writes ``theory.circuit.gate_trace(circuit, prompt)`` after any
    prompt whose whole sequence (prompt + trace) has at most ``max_len`` tokens. Size: module docstring."""
    C, p = circuit.size, circuit.p
    q = (p - 1) // 2
    vocab = transformer_vocab(circuit)
    layout = Layout.for_vocab(vocab, scratch_names(circuit))
    beta = default_beta(max_len, 1) if beta is None else float(beta)
    M = float(max_len + 2)                          # exceeds every position
    top = 2.0**q                                     # exceeds every |R_p number|
    G = float(max(M, top, circuit.vocab.n) + 2)      # gate for values up to G
    sources = _input_sources(circuit)
    inputs = sorted({s[1] for s in sources.values() if s[0] == "coord"})

    # -- L1: constants and the position of a bit token ---------------------------------------------
    f1 = FFNSpec(layout)
    positions(f1)
    f1.unit("bitpos", {"pos": 1.0, **{t: M for t in IS_BIT}, "bias": -M}, {"bias": 1.0}, {"bitpos": 1.0})

    # -- L2: block start k0, first bit, then the gate table keyed by b = pos - k0 -------------------
    h_k0 = latest_head(layout, flag=IS_BIT, values={"pos": "k0", "pos_sq": "k0_sq"}, length=max_len, beta=beta,
                       name="k0: latest non-bit")
    h_fb = earliest_head(layout, flag=IS_BIT, values={"bitpos": "fb"}, length=max_len, beta=beta,
                         name="fb: first bit")
    table = {b: {} for b in range(C + 1)}
    for b in range(C):
        gate = circuit.gates[b]                      # gate s = b + 1, computed at offset b
        kind = gate[0]
        row = table[b]
        row["notEnd"] = 1.0
        if kind in ("and", "xor"):
            row["tAND" if kind == "and" else "tXOR"] = 1.0
            row["tL"], row["tR"] = float(gate[1]), float(gate[2])
        elif kind == "const":
            row["cval"] = float(gate[1])
        elif kind == "state":
            j, i = gate[1], gate[2]
            row["tST"] = 1.0
            row["tS"] = float(circuit.next_state[j][i - 1] - (C + 1))
            row["s0"] = float(rp_bits(circuit.init[j], p)[i - 1])
        else:
            src = sources[b + 1]
            if src[0] == "const":
                row["cval"] = float(src[1])
            else:
                row[f"sel:{src[1]}"] = 1.0
    table[C]["atEnd"] = 1.0
    f2 = FFNSpec(layout)
    b_form = {"pos": 1.0, "k0": -1.0}
    cols = sorted({k for r in table.values() for k in r})
    for knot in range(-1, C + 2):
        w = {}
        for col in cols:
            d2 = (table.get(knot + 1, {}).get(col, 0.0) - 2 * table.get(knot, {}).get(col, 0.0)
                  + table.get(knot - 1, {}).get(col, 0.0))
            if d2:
                w[col] = d2
        if w:
            # sum_knot d2(knot) ReLU(b - knot) equals the table at every integer b (zero outside 0..C)
            f2.unit(f"table:knot{knot}", {**b_form, "bias": -float(knot)}, {"bias": 1.0}, w)
    linear(f2, "targets", {"tL": {"k0": 1.0}, "tR": {"k0": 1.0}, "tS": {"k0": 1.0}, "tIN": {"k0": 1.0}})
    # first = [a = 1] = R(1 - fb) + R(fb - k0): fb = 0 before any bit (the prompt), fb = k0 + 1 in
    # step 1's block, fb <= k0 - C afterwards. The input token sits at k0, or at 1 when a = 1.
    for nm, g in (("nobit", {"fb": -1.0, "bias": 1.0}), ("step1", {"fb": 1.0, "k0": -1.0})):
        f2.unit(f"first:{nm}", g, {"bias": 1.0}, {"first": 1.0})
        f2.unit(f"tIN:{nm}", g, {"k0": 1.0, "bias": -1.0}, {"tIN": -1.0})
    # At b = C of step a (k0 = l + (a - 1)(C + 1), l = fb - 1) the next token is x_{a+1} iff
    # F = (C + 1)(l - a - 1) = (fb - 1)(C + 2) - k0 - 2(C + 1) >= 0; F is a multiple of C + 1.
    F = {"fb": float(C + 2), "k0": -1.0, "bias": -float(C + 2) - 2.0 * (C + 1)}
    f2.unit("inprompt:+", {**F, "bias": F["bias"] + 1.0}, {"bias": 1.0}, {"inprompt": 1.0})
    f2.unit("inprompt:-", F, {"bias": 1.0}, {"inprompt": -1.0})
    linear(f2, "tPC", {"tPC": {"k0": 1.0 / (C + 1), "fb": -1.0 / (C + 1), "bias": 1.0 / (C + 1) + 2.0}})
    out_gates = sorted({g for row in circuit.output.values() for g in row if circuit.gates[g - 1][0] != "const"})
    for g in out_gates:
        hat(f2, f"ob[{g}]", shifted(b_form, -float(g)), {BIT: 1.0}, {f"ob[{g}]": 1.0})

    # -- L3: fetch arguments, input, prompt token; gather the output numbers; emit -----------------
    heads = [position_head(layout, target={"tL": 1.0}, values={BIT: "vL"}, beta=beta, name="left argument"),
             position_head(layout, target={"tR": 1.0}, values={BIT: "vR"}, beta=beta, name="right argument"),
             position_head(layout, target={"tS": 1.0}, values={BIT: "vS"}, beta=beta, name="state bit"),
             position_head(layout, target={"tIN": 1.0}, values={x: f"inb:{x}" for x in inputs},
                           beta=beta, name="input token") if inputs else None,
             position_head(layout, target={"tPC": 1.0}, values={x: f"pc:{x}" for x in circuit.vocab.coordinates},
                           beta=beta, name="prompt copy")]
    gathered, consts = [], {}
    for coord, row in circuit.output.items():
        for i, g in enumerate(row, start=1):
            gate = circuit.gates[g - 1]
            if i == p:
                if gate[0] != "const":
                    gathered.append((f"ob[{g}]", f"os:{coord}", float(C + 1)))
            elif gate[0] != "const":
                gathered.append((f"ob[{g}]", f"om:{coord}", float(C + 1) * 2.0 ** (q - i)))
            elif gate[1]:
                consts[coord] = consts.get(coord, 0.0) + 2.0 ** (q - i)
    if gathered:
        k0 = Quantity({"k0": 1.0}, {"k0_sq": 1.0})
        heads.append(mean_head(layout, key=k0, query=k0, values=gathered, beta=beta, name="gather outputs"))
    heads = [h for h in heads if h is not None]

    f3 = FFNSpec(layout)
    emit = {BIT: LOGIT, f"tok:{GATE0}": -LOGIT}
    f3.unit("AND", {"vL": 1.0, "vR": 1.0, "tAND": 1.0, "bias": -2.0}, {"bias": 1.0}, emit)
    f3.unit("XOR:lr", {"vL": 1.0, "vR": -1.0, "tXOR": 1.0, "bias": -1.0}, {"bias": 1.0}, emit)
    f3.unit("XOR:rl", {"vR": 1.0, "vL": -1.0, "tXOR": 1.0, "bias": -1.0}, {"bias": 1.0}, emit)
    f3.unit("state", {"vS": 1.0, "tST": 1.0, "first": -1.0, "bias": -1.0}, {"bias": 1.0}, emit)
    f3.unit("state:init", {"s0": 1.0, "first": 1.0, "bias": -1.0}, {"bias": 1.0}, emit)
    for x in inputs:
        f3.unit(f"input:{x}", {f"inb:{x}": 1.0, f"sel:{x}": 1.0, "bias": -1.0}, {"bias": 1.0}, emit)
    linear(f3, "const", {BIT: {"cval": LOGIT}, f"tok:{GATE0}": {"cval": -LOGIT, "notEnd": LOGIT}})
    # clear the current token's embedding everywhere
    linear(f3, "clear", {c: {c: -1.0} for c in vocab.coordinates})
    # at b = C: the RNN's output (not a prompt copy): o = (2 b_p - 1) * magnitude
    off = {"atEnd": G, "inprompt": -G, "bias": -G}       # 0 when emitting o, <= -G otherwise
    for coord in circuit.output:
        mag = {f"om:{coord}": 1.0, "bias": consts.get(coord, 0.0)}
        sign_gate = circuit.gates[circuit.output[coord][p - 1] - 1]
        if sign_gate[0] == "const":
            f3.unit(f"o:{coord}", {**mag, **off, "bias": off["bias"] + mag["bias"]}, {"bias": 1.0},
                    {coord: 1.0 if sign_gate[1] else -1.0})
        else:
            for s, sgn in ((1, 1.0), (0, -1.0)):
                sg = {f"os:{coord}": G if s else -G, "bias": -G if s else 0.0}
                f3.unit(f"o:{coord}:{'+' if s else '-'}", {**mag, **off, **sg,
                                                            "bias": off["bias"] + mag["bias"] + sg["bias"]},
                        {"bias": 1.0}, {coord: sgn})
    # at b = C inside the prompt: copy the prompt token (numbers as (2v, 2), specials as LOGIT)
    copy = {"atEnd": 1.0, "inprompt": 1.0, "bias": -2.0}
    specials = [c for c in circuit.vocab.coordinates if c.startswith("tok:")]
    for c in specials:
        f3.unit(f"copy:{c}", {**copy, f"pc:{c}": 1.0}, {"bias": 1.0}, {c: LOGIT})
    f3.unit("copy:num", {"pc:num": 1.0, "atEnd": G, "inprompt": G, "bias": -2.0 * G}, {"bias": 1.0}, {"num": 2.0})
    f3.unit("copy:num_sq", {**copy, **{f"pc:{c}": -1.0 for c in specials}, "bias": -1.0}, {"bias": 1.0},
            {"num_sq": 2.0})
    # at b = C no gate token may win: every RNN logit is at least -big
    big = top * (len(vocab.coordinates) + circuit.vocab.n**2) + 1.0
    linear(f3, "no bit at the end", {f"tok:{GATE0}": {"atEnd": -big}, BIT: {"atEnd": -big}})

    blocks = [Block([], f1.build(), "L1: one, pos^2, bit positions"),
              Block([h_k0, h_fb], f2.build(), "L2: block start, first bit; gate table"),
              Block(heads, f3.build(), "L3: arguments, state, input, prompt copy, outputs; next token")]
    meta = {"builder": "build_rnn_transformer", "theorem": "Thm 4.8 (App. C.7)", "circuit": circuit.name,
            "gates": C, "max_len": max_len, "beta": beta, "claim": claim(circuit)}
    return Transformer(vocab, layout, blocks, score_scale=1.0, meta=meta)


def claim(circuit: Circuit) -> dict:
    """Depth 3, 8 heads (one fewer for a circuit that reads no varying input bit, one fewer for a
    constant output) and the residual width of the module docstring; the width grows with the
    output gates and d, the heads do not."""
    inputs = {s[1] for s in _input_sources(circuit).values() if s[0] == "coord"}
    out_gates = {g for row in circuit.output.values() for g in row if circuit.gates[g - 1][0] != "const"}
    d = len(circuit.vocab.coordinates)
    width = (d + 2) + 23 + 2 * len(inputs) + len(out_gates) + 2 * len(circuit.output) + d + 1
    return {"depth": 3, "heads_total": 6 + bool(inputs) + bool(out_gates), "width": width}
