"""Circuit RNNs (App. C.7): one RNN step as a Boolean circuit, a JSON format and its interpreter.

An RNN with state ``s in R_p^Lambda`` (Def 3.3) reads one token per step. Here a step is a circuit
of C gates over {constant, input bit, state bit, AND, XOR}; gate ``g`` (1-based) is one of::

    ["const", v]            the constant bit v (0 or 1)
    ["input", coord, i]     bit i of the current token's embedding coordinate ``coord`` (a name of
                            theory.tokens.Vocab.coordinates: "num", "num_sq", "tok:<name>")
    ["state", j, i]         bit i of state number j (0-based) before this step
    ["and", l, r]           AND of gates l and r (l, r < g)
    ["xor", l, r]           XOR of gates l and r (l, r < g)

A number of R_p is p bits ``b_1 .. b_p`` in the paper's order (App. A.2):
``value = (2 b_p - 1) * sum_{i=1}^{p-1} b_i 2^{(p-1)/2 - i}``: b_1 is the most significant magnitude
bit, b_{p-1} the least (weight 2^-q, q = (p-1)/2) and b_p the sign, **1 for "+"**. We write zero
with b_p = 1. ``next_state[j]`` and ``output[coord]`` list, for each of the p bits of that number,
the gate that computes it (several bits may name the same gate, e.g. one constant-0 gate).

After the step the RNN's output vector ``o`` (one R_p number per embedding coordinate; coordinates
absent from ``output`` are 0) is read out by the tied embedding: ``logits = W_E o`` and the next
token is the arg-max (theory.tokens). The embedding is the RNN's own (the vocabulary ``vocab``).

JSON file (docs/rnn.md has a worked example)::

    {"format": "circuit-rnn/1", "name": "parity", "description": "...", "p": 7,
     "vocab": {"n": 1, "extra": ["sym:0", "sym:1"]},
     "state": [{"name": "count", "init": 0}],
     "gates": [["const", 0], ["input", "tok:sym:1", 3], ...],
     "next_state": [[g_1, ..., g_p], ...],
     "output": {"tok:YES": [g_1, ..., g_p], ...},
     "input_tokens": ["<s>", "sym:0", "sym:1"]}

``input_tokens`` (optional) is the set of tokens the circuit is meant to read; a compiled circuit
agrees with its RNN on those tokens only. The interpreter runs every token.

Chain of thought of the Thm 4.8 Transformer (:func:`gate_trace`): for each RNN step a, the C gate
bits of that step (tokens ``gate:0``/``gate:1``) followed by the RNN's input for step a + 1: the
next prompt token while the prompt lasts, then the RNN's own output. It ends with the RNN's answer
(YES/NO, which stops decoding), so a run over a prompt of length l that answers after T CoT tokens
has (l + T - 1)(C + 1) tokens.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from theory.tokens import NO, YES, Vocab

FORMAT = "circuit-rnn/1"
GATE_KINDS = ("const", "input", "state", "and", "xor")
GATE0, GATE1 = "gate:0", "gate:1"
GATE_TOKENS = (GATE0, GATE1)
ANSWERS = (YES, NO)


# -- R_p bits (App. A.2) --------------------------------------------------------------------------
def _q(p: int) -> int:
    if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 3 or p % 2 == 0:
        raise ValueError(f"p must be an odd integer >= 3, got {p!r}")
    return (int(p) - 1) // 2


def rp_bits(value: float, p: int) -> tuple[int, ...]:
    """The p bits ``(b_1, .., b_p)`` of ``value``, which must be an element of R_p (zero has b_p = 1)."""
    q = _q(p)
    scaled = abs(float(value)) * 2.0**q
    mag = int(round(scaled))
    if mag != scaled or mag >= 2 ** (p - 1):
        raise ValueError(f"{value!r} is not an element of R_{p}")
    bits = tuple((mag >> (p - 1 - i)) & 1 for i in range(1, p))
    return bits + (0 if value < 0 else 1,)


def rp_value(bits, p: int) -> float:
    """The number ``(2 b_p - 1) sum_i b_i 2^{q-i}`` of the p bits ``(b_1, .., b_p)``."""
    q = _q(p)
    if len(bits) != p:
        raise ValueError(f"expected {p} bits, got {len(bits)}")
    mag = 0
    for b in bits[:-1]:
        mag = 2 * mag + int(b)
    return (1.0 if bits[-1] else -1.0) * mag / 2.0**q


# -- the format -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Circuit:
    """A circuit RNN. ``gates[g - 1]`` is gate g (a tuple, see the module docstring)."""

    name: str
    p: int
    vocab: Vocab
    state_names: tuple[str, ...]
    init: tuple[float, ...]
    gates: tuple[tuple, ...]
    next_state: tuple[tuple[int, ...], ...]
    output: dict[str, tuple[int, ...]]
    input_tokens: tuple[str, ...] | None = None
    description: str = ""
    meta: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _q(self.p)
        lam, p, c = len(self.state_names), self.p, len(self.gates)
        if len(self.init) != lam or len(self.next_state) != lam:
            raise ValueError(f"state: {lam} names but {len(self.init)} initial values and "
                             f"{len(self.next_state)} next-state numbers")
        for j, v in enumerate(self.init):
            try:
                rp_bits(v, p)
            except ValueError:
                raise ValueError(f"state[{j}] ({self.state_names[j]}): initial value {v!r} is not in R_{p}") from None
        coords = set(self.vocab.coordinates)
        for g, gate in enumerate(self.gates, start=1):
            where = f"gates[{g - 1}] (gate {g})"
            if not gate or gate[0] not in GATE_KINDS:
                raise ValueError(f"{where}: kind must be one of {GATE_KINDS}, got {gate!r}")
            kind = gate[0]
            if kind == "const":
                if len(gate) != 2 or gate[1] not in (0, 1):
                    raise ValueError(f"{where}: a constant is [\"const\", 0 or 1], got {list(gate)}")
            elif kind == "input":
                if len(gate) != 3 or gate[1] not in coords or not _is_bit_index(gate[2], p):
                    raise ValueError(f"{where}: an input bit is [\"input\", coordinate, 1..{p}] with a "
                                     f"coordinate of the vocabulary, got {list(gate)}")
            elif kind == "state":
                if len(gate) != 3 or not _is_int(gate[1]) or not 0 <= gate[1] < lam or not _is_bit_index(gate[2], p):
                    raise ValueError(f"{where}: a state bit is [\"state\", 0..{lam - 1}, 1..{p}], got {list(gate)}")
            else:
                if len(gate) != 3 or not all(_is_int(a) and 1 <= a < g for a in gate[1:]):
                    raise ValueError(f"{where}: {kind} takes two earlier gates (ids 1..{g - 1}), got {list(gate)}")
        for label, rows in (("next_state", dict(enumerate(self.next_state))), ("output", self.output)):
            for key, row in rows.items():
                if label == "output" and key not in coords:
                    raise ValueError(f"output: {key!r} is not an embedding coordinate of the vocabulary")
                if len(row) != p or not all(_is_int(g) and 1 <= g <= c for g in row):
                    raise ValueError(f"{label}[{key!r}]: needs {p} gate ids in 1..{c}, got {list(row)}")
        if self.input_tokens is not None:
            for tok in self.input_tokens:
                self.vocab.id(tok)

    @property
    def size(self) -> int:
        """C: the number of gates of one step."""
        return len(self.gates)

    @property
    def state_dim(self) -> int:
        return len(self.state_names)

    def counts(self) -> dict[str, int]:
        out = {k: 0 for k in GATE_KINDS}
        for gate in self.gates:
            out[gate[0]] += 1
        return out

    # -- JSON -----------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        data = {"format": FORMAT, "name": self.name, "description": self.description, "p": self.p,
                "vocab": {"n": self.vocab.n, "extra": list(self.vocab.extra)},
                "state": [{"name": n, "init": v} for n, v in zip(self.state_names, self.init)],
                "gates": [list(g) for g in self.gates],
                "next_state": [list(r) for r in self.next_state],
                "output": {k: list(v) for k, v in self.output.items()}}
        if self.input_tokens is not None:
            data["input_tokens"] = list(self.input_tokens)
        return data

    @classmethod
    def from_dict(cls, data: object) -> Circuit:
        if not isinstance(data, dict):
            raise ValueError("circuit: expected a JSON object")
        if data.get("format") != FORMAT:
            raise ValueError(f"format: expected {FORMAT!r}, got {data.get('format')!r}")
        for key in ("name", "p", "vocab", "state", "gates", "next_state", "output"):
            if key not in data:
                raise ValueError(f"missing field {key!r}")
        known = {"format", "name", "description", "p", "vocab", "state", "gates", "next_state", "output",
                 "input_tokens"}
        for key in data:
            if key not in known:
                raise ValueError(f"unknown field {key!r}")
        try:
            vocab = Vocab(int(data["vocab"]["n"]), tuple(data["vocab"].get("extra", ())))
            state = list(data["state"])
            gates = tuple(tuple(g) for g in data["gates"])
        except (TypeError, KeyError, ValueError) as exc:
            raise ValueError(f"vocab/state/gates: {exc}") from None
        tokens = data.get("input_tokens")
        return cls(name=str(data["name"]), p=data["p"], vocab=vocab,
                   state_names=tuple(str(s["name"]) for s in state),
                   init=tuple(float(s.get("init", 0.0)) for s in state), gates=gates,
                   next_state=tuple(tuple(r) for r in data["next_state"]),
                   output={str(k): tuple(v) for k, v in dict(data["output"]).items()},
                   input_tokens=None if tokens is None else tuple(tokens),
                   description=str(data.get("description", "")))


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_bit_index(x, p: int) -> bool:
    return _is_int(x) and 1 <= x <= p


def save_circuit(circuit: Circuit, path: str | Path) -> None:
    Path(path).write_text(json.dumps(circuit.to_dict(), indent=1) + "\n", encoding="utf-8")


def load_circuit(path: str | Path) -> Circuit:
    """A circuit file; errors are a one-line ValueError starting with the file name."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such circuit file")
    try:
        return Circuit.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path.name}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except ValueError as err:
        raise ValueError(f"{path.name}: {err}") from None


# -- interpreter ----------------------------------------------------------------------------------
class Interpreter:
    """Runs a circuit step by step (the independent reference of Thm 4.8)."""

    def __init__(self, circuit: Circuit):
        self.c = circuit
        p = circuit.p
        emb = circuit.vocab.embedding_matrix()
        coord_index = {name: j for j, name in enumerate(circuit.vocab.coordinates)}
        self._input_gates = [(g, coord_index[gate[1]], gate[2]) for g, gate in enumerate(circuit.gates)
                             if gate[0] == "input"]
        # the bits each token supplies to the input gates (computed once per token id)
        self._token_bits: dict[int, list[int]] = {}
        self._emb = emb
        self._readout = emb[1:]                                   # logits = E o over ids 1..|V|
        self._out_coords = [(coord_index[k], v) for k, v in circuit.output.items()]
        self.init_bits = [list(rp_bits(v, p)) for v in circuit.init]

    def token_bits(self, token_id: int) -> list[int]:
        bits = self._token_bits.get(token_id)
        if bits is None:
            row = self._emb[token_id]
            try:
                bits = [rp_bits(row[j], self.c.p)[i - 1] for _, j, i in self._input_gates]
            except ValueError:
                raise ValueError(f"token {self.c.vocab.token(token_id)!r}: its embedding is not in "
                                 f"R_{self.c.p}") from None
            self._token_bits[token_id] = bits
        return bits

    def step(self, state_bits: list[list[int]], token_id: int) -> tuple[list[int], list[list[int]]]:
        """Gate values (index g - 1 holds gate g) and the next state's bits."""
        vals: list[int] = []
        inputs = iter(self.token_bits(token_id))
        for gate in self.c.gates:
            kind = gate[0]
            if kind == "and":
                vals.append(vals[gate[1] - 1] & vals[gate[2] - 1])
            elif kind == "xor":
                vals.append(vals[gate[1] - 1] ^ vals[gate[2] - 1])
            elif kind == "input":
                vals.append(next(inputs))
            elif kind == "state":
                vals.append(state_bits[gate[1]][gate[2] - 1])
            else:
                vals.append(gate[1])
        nxt = [[vals[g - 1] for g in row] for row in self.c.next_state]
        return vals, nxt

    def output_vector(self, vals: list[int]) -> np.ndarray:
        o = np.zeros(self._emb.shape[1])
        for j, row in self._out_coords:
            o[j] = rp_value([vals[g - 1] for g in row], self.c.p)
        return o

    def next_token(self, vals: list[int]) -> tuple[int, bool]:
        """The arg-max token id after a step and whether it is unique."""
        logits = self._readout @ self.output_vector(vals)
        top = int(np.argmax(logits))
        unique = int(np.sum(logits == logits[top])) == 1
        return top + 1, unique


@dataclass
class CircuitRun:
    """A greedy run: ``generated`` token ids after the prompt (answer last if ``stopped``),
    ``gates[a]`` the gate values of step a + 1, ``inputs[a]`` the token step a + 1 read."""

    prompt: list[int]
    generated: list[int]
    gates: list[list[int]]
    inputs: list[int]
    stopped: bool
    ties: int = 0  # steps whose arg-max was not unique (greedy takes the smallest id)


def run(circuit: Circuit, prompt, *, max_new: int = 10_000, interpreter: Interpreter | None = None) -> CircuitRun:
    """Greedy decoding (spec of App. A.4): read the prompt, then feed back each output token until
    the output is YES or NO (included) or ``max_new`` tokens were generated. ``prompt`` holds token
    strings or ids and must be non-empty."""
    it = interpreter or Interpreter(circuit)
    vocab = circuit.vocab
    ids = [t if _is_int(t) else vocab.id(t) for t in prompt]
    if not ids:
        raise ValueError("the prompt must hold at least one token (the RNN answers after a step)")
    stop = {vocab.id(YES), vocab.id(NO)}
    state = [list(b) for b in it.init_bits]
    gates, inputs, generated, ties = [], [], [], 0
    queue = list(ids)
    while True:
        tok = queue.pop(0)
        vals, state = it.step(state, tok)
        gates.append(vals)
        inputs.append(tok)
        if queue:
            continue
        nxt, unique = it.next_token(vals)
        ties += not unique
        generated.append(nxt)
        if nxt in stop:
            return CircuitRun(ids, generated, gates, inputs, True, ties)
        if len(generated) >= max_new:
            return CircuitRun(ids, generated, gates, inputs, False, ties)
        queue.append(nxt)


def answer(circuit: Circuit, prompt, **kw) -> str:
    """The circuit RNN's final token (YES/NO) after greedy decoding."""
    r = run(circuit, prompt, **kw)
    if not r.stopped:
        raise ValueError("the circuit did not answer within max_new tokens")
    return circuit.vocab.token(r.generated[-1])


def gate_trace(circuit: Circuit, prompt, **kw) -> list[str]:
    """The Thm 4.8 Transformer's chain of thought for ``prompt`` (module docstring), as token strings:
    per RNN step its C gate bits, then the RNN's next input token; the answer last."""
    r = run(circuit, prompt, **kw)
    if not r.stopped:
        raise ValueError("the circuit did not answer within max_new tokens")
    vocab = circuit.vocab
    following = r.prompt[1:] + r.generated  # the token after step a is the input of step a + 1
    out: list[str] = []
    for vals, nxt in zip(r.gates, following):
        out += [GATE1 if v else GATE0 for v in vals]
        out.append(vocab.token(nxt))
    return out


def trace_length(circuit: Circuit, prompt_length: int, cot_tokens: int) -> int:
    """(l + T - 1)(C + 1): the Transformer CoT for a prompt of length l and an RNN CoT of T tokens."""
    return (prompt_length + cot_tokens - 1) * (circuit.size + 1)


def transformer_vocab(circuit: Circuit) -> Vocab:
    """The circuit's vocabulary with the two gate-bit tokens appended (ids of its own tokens kept)."""
    return Vocab(circuit.vocab.n, circuit.vocab.extra + GATE_TOKENS)
