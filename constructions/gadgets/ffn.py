"""ReGLU FFN gadgets (Lemmas C.1-C.6, corrected; spec §4.1 and §8.1).

Every gadget appends named hidden units to an :class:`FFNSpec`. A unit computes
``out += coef * ReLU(gate . x) * (lin . x)``; inputs are *linear forms* over named residual
coordinates (``{"pos": 1.0, "one": -1.0}`` is ``pos - 1``; the key ``"bias"`` is a constant).
All breakpoints and output coefficients are dyadic rationals whenever the caller's constants are,
so that R_p arithmetic (spec §1.1) is exact on the intended inputs.
"""

from __future__ import annotations

from constructions.runtime.builder import FFNSpec, Form


def scaled(form: Form, coef: float) -> Form:
    """``coef * form``."""
    return {k: coef * v for k, v in form.items()}


def added(*forms: Form) -> Form:
    """The sum of linear forms."""
    out: Form = {}
    for form in forms:
        for k, v in form.items():
            out[k] = out.get(k, 0.0) + v
    return out


def shifted(form: Form, c: float) -> Form:
    """``form + c`` (a constant offset)."""
    return added(form, {"bias": c})


# -- C.2 linear map and constants ---------------------------------------------------------------------
def linear(ffn: FFNSpec, name: str, maps: dict[str, Form]) -> FFNSpec:
    """Lemma C.2: ``dst += form . x`` for each ``dst: form``; gate ReLU(1) = 1, one unit per output."""
    for dst, form in maps.items():
        ffn.linear(f"{name}->{dst}", form, {dst: 1.0})
    return ffn


def constant(ffn: FFNSpec, name: str, dst: str, value: float = 1.0) -> FFNSpec:
    """``dst += value`` at every position: ReLU(1) * value (a Lemma C.2 unit with zero weights)."""
    return ffn.unit(name, {"bias": 1.0}, {"bias": value}, {dst: 1.0})


# -- C.1 multiply -------------------------------------------------------------------------------------
def multiply(ffn: FFNSpec, name: str, x: Form, y: Form, dst: str, coef: float = 1.0) -> FFNSpec:
    """Lemma C.1 (corrected): ``dst += coef * x * y`` for any signs, width 2.

    ReLU(x) * y - ReLU(-x) * y = x * y because ReLU(a) - ReLU(-a) = a. The paper prints the output
    combination as h_1 + h_2 and puts the ReLU on y; both are wrong (spec §4.1, erratum 6).
    """
    ffn.unit(f"{name}:+", x, y, {dst: coef})
    ffn.unit(f"{name}:-", scaled(x, -1.0), y, {dst: -coef})
    return ffn


def multiply_nonneg(ffn: FFNSpec, name: str, x: Form, y: Form, dst: str, coef: float = 1.0) -> FFNSpec:
    """``dst += coef * x * y`` when ``x >= 0`` on every input that matters: one unit, ReLU(x) = x."""
    return ffn.unit(name, x, y, {dst: coef})


def square(ffn: FFNSpec, name: str, x: Form, dst: str, coef: float = 1.0) -> FFNSpec:
    """``dst += coef * x^2`` via Lemma C.1 (width 2)."""
    return multiply(ffn, name, x, x, dst, coef)


# -- C.3 indicator ------------------------------------------------------------------------------------
def indicator(ffn: FFNSpec, name: str, x: Form, value: float, dst: str, coef: float = 1.0) -> FFNSpec:
    """Lemma C.3 with dyadic offsets (spec §8.1): ``dst += coef * 1[x = B]`` for integer x, width 5.

    f(x) = 4(R(x-B-1/2) - R(x-B+1/2)) + 4(R(B-x-3/4) - R(B-x+1/4)) + 4.
      x <= B-1: first pair 0 - 0, second pair (B-x-3/4) - (B-x+1/4) = -1, so 0 - 4 + 4 = 0;
      x  = B  : first pair 0 - 1/2, second pair 0 - 1/4, so -2 - 1 + 4 = 1;
      x >= B+1: first pair (x-B-1/2) - (x-B+1/2) = -1, second pair 0 - 0, so -4 + 0 + 4 = 0.
    Every constant is dyadic, so R_p evaluates it exactly (the printed 0.4/0.6 offsets are not).
    """
    c = 4.0 * coef
    ffn.unit(f"{name}:up-", shifted(x, -value - 0.5), {"bias": 1.0}, {dst: c})
    ffn.unit(f"{name}:up+", shifted(x, -value + 0.5), {"bias": 1.0}, {dst: -c})
    ffn.unit(f"{name}:dn-", shifted(scaled(x, -1.0), value - 0.75), {"bias": 1.0}, {dst: c})
    ffn.unit(f"{name}:dn+", shifted(scaled(x, -1.0), value + 0.25), {"bias": 1.0}, {dst: -c})
    return constant(ffn, f"{name}:one", dst, c)


# -- C.4 lookup table ---------------------------------------------------------------------------------
def lookup(ffn: FFNSpec, name: str, keys: list[Form], base: int, table: dict[tuple[int, ...], float],
           dst: str) -> FFNSpec:
    """Lemma C.4: ``dst += table[(x_1, .., x_k)]`` for integer keys in ``1..base``, width 5 * |table|.

    z = sum_j base^j (x_j - 1) is a bijection from [base]^k onto 0..base^k - 1, so one indicator of z
    per table entry, scaled by the entry, reads the table (entries absent from ``table`` give 0).
    """
    if base < 1 or not keys:
        raise ValueError("lookup needs base >= 1 and at least one key")
    z: Form = {}
    for j, key in enumerate(keys):
        z = added(z, scaled(shifted(key, -1.0), float(base**j)))
    for entry, val in table.items():
        if len(entry) != len(keys) or not all(1 <= e <= base for e in entry):
            raise ValueError(f"lookup key {entry} is not in [1..{base}]^{len(keys)}")
        code = sum(base**j * (e - 1) for j, e in enumerate(entry))
        if val != 0:
            indicator(ffn, f"{name}[{entry}]", z, float(code), dst, val)
    return ffn


# -- C.5 threshold, C.6 interval ----------------------------------------------------------------------
def threshold(ffn: FFNSpec, name: str, x: Form, u: float, eps: float, dst: str, coef: float = 1.0,
              strict: bool = False) -> FFNSpec:
    """Lemma C.5 (corrected): ``dst += coef * step(x)``, width 2.

    non-strict: (2/eps)(R(x-u+eps) - R(x-u+eps/2)) is 0 for x <= u-eps and 1 for x >= u-eps/2,
                so it equals 1[x >= u] off the band (u-eps, u);
    strict:     (2/eps)(R(x-u) - R(x-u-eps/2)) is 0 for x <= u and 1 for x >= u+eps/2,
                so it equals 1[x > u] off the band (u, u+eps/2).
    Keep u and eps dyadic for exact R_p evaluation.
    """
    if eps <= 0:
        raise ValueError(f"threshold band eps must be positive, got {eps}")
    lo, hi = (-u, -u - eps / 2) if strict else (-u + eps, -u + eps / 2)
    ffn.unit(f"{name}:a", shifted(x, lo), {"bias": 1.0}, {dst: 2.0 * coef / eps})
    ffn.unit(f"{name}:b", shifted(x, hi), {"bias": 1.0}, {dst: -2.0 * coef / eps})
    return ffn


def interval(ffn: FFNSpec, name: str, x: Form, u: float, v: float, eps: float, dst: str,
             coef: float = 1.0) -> FFNSpec:
    """Lemma C.6: ``dst += coef * 1[u <= x <= v]`` = 1[x >= u] - 1[x > v], width 4.

    Valid off the bands (u-eps, u) and (v, v+eps/2).
    """
    if v < u:
        raise ValueError(f"interval [{u}, {v}] is empty")
    threshold(ffn, f"{name}:ge", x, u, eps, dst, coef)
    threshold(ffn, f"{name}:gt", x, v, eps, dst, -coef, strict=True)
    return ffn


# -- next-hat (Lemma C.19, used by MatchNext) ---------------------------------------------------------
# Trapezoids that are 1 on a dyadic window around 1/m and 0 at every other unit fraction:
# (rise start, rise end, fall start, fall end) with 1/(m+1) <= rise start and fall end <= 1/(m-1).
_NEXT_WINDOWS = {
    1: (3 / 4, 7 / 8, 2.0, 2.0),            # x = 1 (nothing above 1 occurs)
    2: (3 / 8, 7 / 16, 9 / 16, 5 / 8),      # x = 1/2: neighbours 1/3 (0.333) and 1 (1.0)
    3: (9 / 32, 5 / 16, 3 / 8, 7 / 16),     # x = 1/3: neighbours 1/4 (0.25) and 1/2 (0.5)
}


def _poly(x: float) -> float:
    return x - x * x + x**3


def next_hat(ffn: FFNSpec, name: str, x: str, x_sq: str, dst: str) -> FFNSpec:
    """``dst += nh(x)`` with nh(1/m) = 1/(m+1) for m <= 3 and x - x^2 + x^3 for m >= 4 (spec §4.2.6).

    One ReGLU layer when x^2 is already in the residual (spec §8.1): x and -x^2 are linear units,
    x^3 = ReLU(x) * x^2 (x >= 0), and for m = 1, 2, 3 a trapezoid bump (four ReLU units, dyadic
    breakpoints, equal to 1 at 1/m and 0 at every other unit fraction) adds the correction
    1/(m+1) - poly(1/m). Lemma C.19: for x = 1/m, poly(x) = 1/(m+1) + 1/(m^3 (m+1)).
    Valid for x in {1/m : m >= 1} (after R_p rounding, for q >= 6 fraction bits).
    """
    ffn.linear(f"{name}:x", {x: 1.0}, {dst: 1.0})
    ffn.linear(f"{name}:-x2", {x_sq: -1.0}, {dst: 1.0})
    ffn.unit(f"{name}:x3", {x: 1.0}, {x_sq: 1.0}, {dst: 1.0})
    for m, (a, b, c, d) in _NEXT_WINDOWS.items():
        corr = 1.0 / (m + 1) - _poly(1.0 / m)
        ffn.unit(f"{name}:bump{m}:a", {x: 1.0, "bias": -a}, {"bias": corr / (b - a)}, {dst: 1.0})
        ffn.unit(f"{name}:bump{m}:b", {x: 1.0, "bias": -b}, {"bias": -corr / (b - a)}, {dst: 1.0})
        if c < 2.0:
            ffn.unit(f"{name}:bump{m}:c", {x: 1.0, "bias": -c}, {"bias": -corr / (d - c)}, {dst: 1.0})
            ffn.unit(f"{name}:bump{m}:d", {x: 1.0, "bias": -d}, {"bias": corr / (d - c)}, {dst: 1.0})
    return ffn


# -- bookkeeping shared by the constructions -----------------------------------------------------------
def positions(ffn: FFNSpec, pos: str = "pos", pos_sq: str = "pos_sq", one: str = "one") -> FFNSpec:
    """``one += 1`` and ``pos_sq += pos^2`` (positions are >= 1, so ReLU(pos) * pos = pos^2, one unit)."""
    constant(ffn, "one", one, 1.0)
    return multiply_nonneg(ffn, "pos^2", {pos: 1.0}, {pos: 1.0}, pos_sq)


def emit_number(ffn: FFNSpec, name: str, src: Form, scale: float = 2.0, num: str = "num",
                num_sq: str = "num_sq", one: str = "one", clear: tuple[str, ...] = ()) -> FFNSpec:
    """Make the tied read-out choose the number held in ``src`` (theory.tokens.number_logit_target).

    Linear units (Lemma C.2) replace the current token's embedding by ``num = scale * src`` and
    ``num_sq = scale``: the logit of number i becomes ``scale (i v - i^2/2)``, which peaks at i = v
    and beats v +- 1 by scale/2 while |src - v| < 1/4 keeps the peak (margin >= scale/4).
    ``clear`` names further coordinates (special-token indicators) to zero.
    """
    linear(ffn, name, {num: added(scaled(src, scale), {num: -1.0}),
                       num_sq: {num_sq: -1.0, one: scale}})
    for coord in clear:
        linear(ffn, f"{name}:clear", {coord: {coord: -1.0}})
    return ffn


# -- integer hat (Lemma C.3 with integer breakpoints) -------------------------------------------------
def hat(ffn: FFNSpec, name: str, x: Form, value: float, dst: str, coef: float = 1.0,
        lin: Form | None = None) -> FFNSpec:
    """``dst += coef * 1[x = value] * lin`` for integer x (``lin`` defaults to 1), width 3.

    Lemma C.3 with integer breakpoints (an exact alternative to the printed offsets): for integer x,
    R(x-B+1) - 2 R(x-B) + R(x-B-1) is 1 at x = B and 0 at every other integer (a sum of three ReLUs
    whose slopes +1, -1, 0 meet at B-1, B, B+1). Each ReLU is the gate of one ReGLU unit, so a
    linear form ``lin`` on the other side gives the product 1[x = B] * lin in the same three units.
    Integer weights only: exact in R_p whenever x and lin are.
    """
    lin = {"bias": 1.0} if lin is None else lin
    for shift, w in ((1.0, 1.0), (0.0, -2.0), (-1.0, 1.0)):
        ffn.unit(f"{name}:{shift:+g}", shifted(x, shift - value), lin, {dst: w * coef})
    return ffn
