"""Exact gated indicators for the RAG constructions (ReGLU units on integer-valued forms).

Every RAG RNN decides what to emit from integer quantities (offsets inside a query template,
token indices held in a shift register) and binary flags. A ReGLU unit computes
``ReLU(gate . x) * (lin . x)``; with ``lin`` a binary flag g the unit is ``ReLU(z) * g``, so

* ``hat(z) g = (R(z + 1) - 2 R(z) + R(z - 1)) g = 1[z = 0] g``         (3 units, z integer)
* ``ge1(z) g = (R(z) - R(z - 1)) g = 1[z >= 1] g``                       (2 units, z integer)
* ``emit_value``: the integer y behind a big-M gate, as the tied read-out's number target

are exact in float64 and in R_p (all breakpoints and coefficients are small integers). A table
``F(kappa)`` over the integers ``0 .. K-1`` is the piecewise-linear interpolant
``sum_j s_j R(kappa - j + 1) g`` with ``s_j`` the second differences of F (F(-1) = 0): one unit per
key (:func:`table`).
"""

from __future__ import annotations

from constructions.gadgets.ffn import added, scaled, shifted
from constructions.runtime.builder import FFNSpec, Form


def gated(ffn: FFNSpec, name: str, gate: Form, value: Form, out: dict[str, float]) -> FFNSpec:
    """``out += ReLU(gate) * value``: the value where the 0/1 form ``gate`` is 1, nothing where it is
    <= 0 (Lemma C.1 with a nonnegative first factor, one unit)."""
    return ffn.unit(name, gate, value, out)


def hat(ffn: FFNSpec, name: str, z: Form, gate: Form, out: dict[str, float]) -> FFNSpec:
    """``out += 1[z = 0] * g`` for integer z and binary g (``gate``)."""
    for k, coef in ((1.0, 1.0), (0.0, -2.0), (-1.0, 1.0)):
        ffn.unit(f"{name}:R(z{k:+g})", shifted(z, k), gate, {d: coef * v for d, v in out.items()})
    return ffn


def ge1(ffn: FFNSpec, name: str, z: Form, gate: Form, out: dict[str, float]) -> FFNSpec:
    """``out += 1[z >= 1] * g`` for integer z and binary g."""
    ffn.unit(f"{name}:R(z)", z, gate, dict(out))
    ffn.unit(f"{name}:R(z-1)", shifted(z, -1.0), gate, {d: -v for d, v in out.items()})
    return ffn


def table(ffn: FFNSpec, name: str, key: Form, size: int, values: dict[int, dict[str, float]],
          gate: Form) -> FFNSpec:
    """``out += F(key) * g`` for integer keys ``0 .. size-1`` (F(k) = ``values.get(k, {})``, a sparse
    vector over output coordinates) and binary g: Lemma C.4 as a piecewise-linear interpolant."""
    def f(k: int) -> dict[str, float]:
        return values.get(k, {}) if 0 <= k < size else {}

    def diff(a: dict, b: dict) -> dict:
        out = dict(a)
        for d, v in b.items():
            out[d] = out.get(d, 0.0) - v
        return {d: v for d, v in out.items() if v != 0}

    slope_prev: dict[str, float] = {}
    for j in range(size):
        slope = diff(f(j), f(j - 1))          # F(j) - F(j-1), the slope on [j-1, j]
        second = diff(slope, slope_prev)      # change of slope at the breakpoint j - 1
        slope_prev = slope
        if second:
            ffn.unit(f"{name}[{j}]", shifted(key, 1.0 - j), gate, second)
    return ffn


def emit_value(ffn: FFNSpec, name: str, gate: Form, y: Form, M: float, num: str, sq: str, zero: str,
                scale: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> FFNSpec:
    """Emit the integer y in 0..n where ``gate`` (a form equal to 1 there, <= 0 elsewhere) is open:
    num += a gate*y, sq += b gate*[y >= 1], zero += c gate*[y = 0] ((a, b, c) = ``scale``), with
    big-M gating (M > n + 1): ReLU(y - M(1 - gate)) - ReLU(y - 1 - M(1 - gate)) is min(y, 1) when
    open and 0 when closed; ReLU(1 - y - M(1 - gate)) is [y = 0] when open and 0 when closed."""
    a, b, c = scale
    shut = added(scaled(gate, M), {"bias": -M})           # M (gate - 1)
    ffn.unit(f"{name}:num", gate, y, {num: a})
    ffn.unit(f"{name}:ge1a", added(y, shut), {"bias": 1.0}, {sq: b})
    ffn.unit(f"{name}:ge1b", added(y, shut, {"bias": -1.0}), {"bias": 1.0}, {sq: -b})
    ffn.unit(f"{name}:zero", added(scaled(y, -1.0), shut, {"bias": 1.0}), {"bias": 1.0}, {zero: c})
    return ffn


def cancel_embedding(ffn: FFNSpec, coordinates: list[str]) -> FFNSpec:
    """Tied read-out: remove the current token's embedding so only the emitted logits remain."""
    for coord in coordinates:
        ffn.linear(f"cancel {coord}", {coord: 1.0}, {coord: -1.0})
    return ffn


def emit_number_gated(ffn: FFNSpec, name: str, value: Form, gate: Form, scale: float = 2.0) -> FFNSpec:
    """``num += scale * value * g``, ``num_sq += scale * g`` (theory.tokens.number_logit_target):
    with g = 1 the read-out's number logits peak at ``value`` with margin ``scale / 2``."""
    ffn.unit(f"{name}:num", gate, scaled(value, scale), {"num": 1.0})
    ffn.unit(f"{name}:num_sq", gate, {"bias": scale}, {"num_sq": 1.0})
    return ffn


__all__ = ["gated", "hat", "ge1", "table", "emit_value", "cancel_embedding", "emit_number_gated"]
