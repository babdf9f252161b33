"""Exact Z3 encodings of BUILT weights: FFNs, head scores and values, proof obligations.

Every float64 weight is converted to the rational it exactly is (``fractions.Fraction(float)``), so
a proof is about the weights the runtime uses, not about a re-derivation. A residual vector is an
*environment*: a dict from coordinate name to a Z3 term. Coordinates a proof does not describe are
fresh unconstrained reals, so a proof also shows that the block ignores them (a corrupted weight on
an unrelated coordinate yields a counterexample).

An :class:`Obligation` is "constraints imply goal"; it is proved when ``constraints and not goal``
is UNSAT. SAT is a counterexample (the model's values for the named inputs), unknown a timeout.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import z3

# Rational upper bound on ln 2 = 0.693147180559945...; ln of an integer via math.log + 1e-9, which
# exceeds math.log's error (< 1e-15 relative) by many orders of magnitude.
LN2_HI = Fraction(6931471806, 10**10)


def ln_hi(x: int) -> Fraction:
    """A rational upper bound on ln x (x >= 1)."""
    return Fraction(math.log(x)) + Fraction(1, 10**9)


def exact(v: float) -> Fraction:
    return Fraction(float(v))


def const(v) -> z3.ArithRef:
    """A Z3 numeral equal to v exactly (integer numerals stay integers so Int arithmetic stays Int)."""
    f = v if isinstance(v, Fraction) else exact(v)
    return z3.IntVal(f.numerator) if f.denominator == 1 else z3.RealVal(f)


def to_fraction(term: z3.ArithRef) -> Fraction:
    """The value of a closed numeric Z3 term."""
    val = z3.simplify(term)
    if z3.is_int_value(val):
        return Fraction(val.as_long())
    return Fraction(val.numerator_as_long(), val.denominator_as_long())


def environment(layout, given: dict[str, Any], tag: str) -> dict[str, z3.ArithRef]:
    """Every layout coordinate: ``given`` terms (numbers become numerals), the rest fresh reals."""
    env = {}
    for name in layout.names:
        if name in given:
            v = given[name]
            env[name] = const(v) if isinstance(v, (int, float, Fraction, np.integer, np.floating)) else v
        else:
            env[name] = z3.Real(f"{tag}.{name}")
    return env


def dot(row: np.ndarray, names: list[str], env: dict, bias: float = 0.0) -> z3.ArithRef:
    """``row . x + bias`` over the nonzero entries of ``row``."""
    total = const(bias) if bias else z3.IntVal(0)
    for j in np.flatnonzero(row):
        total = total + const(row[j]) * env[names[j]]
    return total


def relu(t: z3.ArithRef) -> z3.ArithRef:
    return z3.If(t > 0, t, 0)


def ffn_output(ffn, layout, env: dict) -> dict[str, z3.ArithRef]:
    """``g(x)`` for the ReGLU FFN: ``W_3 (ReLU(W_1 x + b_1) * (W_2 x + b_2)) + b_3``, per coordinate."""
    names = layout.names
    hidden = []
    for i in range(ffn.W_1.shape[0]):
        gate = dot(ffn.W_1[i], names, env, ffn.b_1[i])
        lin = dot(ffn.W_2[i], names, env, ffn.b_2[i])
        hidden.append(relu(gate) * lin)
    out = {}
    for c, name in enumerate(names):
        total = const(ffn.b_3[c]) if ffn.b_3[c] else z3.IntVal(0)
        for i in np.flatnonzero(ffn.W_3[c]):
            total = total + const(ffn.W_3[c, i]) * hidden[i]
        out[name] = total
    return out


def score(head, layout, key: dict, query: dict, scale: float = 1.0) -> z3.ArithRef:
    """``(W_K x_{k'}) . (W_Q x_k) * scale`` (the runtime's score; our builders use scale 1)."""
    names = layout.names
    total = z3.IntVal(0)
    for r in range(head.W_Q.shape[0]):
        kf = dot(head.W_K[r], names, key)
        qf = dot(head.W_Q[r], names, query)
        total = total + kf * qf
    return total * const(scale) if scale != 1.0 else total


def value(head, layout, env: dict) -> dict[str, z3.ArithRef]:
    """``W_V x`` per output coordinate."""
    return {name: dot(head.W_V[c], layout.names, env) for c, name in enumerate(layout.names)}


# -- obligations --------------------------------------------------------------------------------------
@dataclass
class Obligation:
    """``constraints => goal`` over the inputs named in ``show`` (printed in a counterexample)."""

    name: str
    constraints: list
    goal: Any
    show: dict[str, z3.ArithRef] = field(default_factory=dict)


@dataclass
class Outcome:
    status: str                 # "proved" | "counterexample" | "timeout"
    seconds: float
    failed: str | None = None   # the obligation that failed
    counterexample: dict | None = None


def _num(v) -> str | float | int:
    if z3.is_int_value(v):
        return v.as_long()
    if z3.is_rational_value(v):
        f = Fraction(v.numerator_as_long(), v.denominator_as_long())
        return int(f) if f.denominator == 1 else str(f)
    if z3.is_algebraic_value(v):
        return float(v.approx(20).as_fraction())
    return str(v)


def discharge(obligations: list[Obligation], timeout_s: float, deadline: float | None = None) -> Outcome:
    """Prove every obligation (each ``constraints and not goal`` UNSAT); stop at the first failure."""
    start = time.time()
    for ob in obligations:
        left = timeout_s - (time.time() - start)
        if deadline is not None:
            left = min(left, deadline - time.time())
        if left <= 0:
            return Outcome("timeout", time.time() - start, ob.name)
        s = z3.Solver()
        s.set("timeout", max(1, int(left * 1000)))
        s.add(*ob.constraints)
        s.add(z3.Not(ob.goal))
        r = s.check()
        if r == z3.sat:
            m = s.model()
            cex = {k: _num(m.eval(t, model_completion=True)) if z3.is_expr(t) else t for k, t in ob.show.items()}
            return Outcome("counterexample", time.time() - start, ob.name, cex)
        if r != z3.unsat:
            return Outcome("timeout", time.time() - start, ob.name)
    return Outcome("proved", time.time() - start)


def ints(prefix: str, names: list[str]) -> dict[str, z3.ArithRef]:
    return {nm: z3.Int(f"{prefix}.{nm}") for nm in names}


def between(t, lo, hi) -> z3.BoolRef:
    return z3.And(t >= lo, t <= hi)


def one_hot_bound(beta_gap: Fraction, q: int, length: int) -> bool:
    """``beta * gap >= (q + 1) ln 2 + ln L`` with rational upper bounds on the logarithms.

    Then every off-target softmax weight is < 2^-(q+1) / L, so each rounds to 0 in R_p (q fraction
    bits), the leaked mass is < 2^-(q+1), and the target weight rounds to exactly 1.
    """
    return beta_gap >= (q + 1) * LN2_HI + ln_hi(max(length, 2))


def max_q(beta_gap: Fraction, length: int) -> int:
    """The largest q for which :func:`one_hot_bound` holds (-1 if none)."""
    q = math.floor((beta_gap - ln_hi(max(length, 2))) / LN2_HI) - 1
    while q >= 0 and not one_hot_bound(beta_gap, q, length):
        q -= 1
    return max(q, -1)
