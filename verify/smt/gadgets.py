"""Z3 proofs of the gadget lemmas (C.1-C.6, next-hat; C.13-C.18) for the weights the builders return.

Each :class:`Gadget` has ``build(n)`` (calls the real builder in constructions/gadgets) and
``obligations(n, built)`` (reads the built FFN / Head arrays and states the lemma over its whole
input domain). ``built`` is passed in so that a test can corrupt one weight and see a counterexample.

Attention lemmas are split into pairwise obligations "the key the lemma selects beats every other
admissible key by beta * gap"; together they say the selected key is the unique arg-max with that
margin. ``beta_gap`` is then checked against the softmax rounding inequality
``beta gap >= (q + 1) ln 2 + ln L`` (:func:`verify.smt.encode.one_hot_bound`).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import z3

from constructions.gadgets import attention as att
from constructions.gadgets import ffn as gf
from constructions.gadgets import gates
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from verify.smt.encode import (Obligation, between, const, environment, exact, ffn_output, score,
                               to_fraction, value)

BOS = att.BOS


def length_for(n: int) -> int:
    """Positions the attention lemmas are proved for: L = 5n (the IsTree prompt plus CoT)."""
    return 5 * n


@dataclass
class Gadget:
    name: str
    lemma: str
    claim: str
    domain: Callable[[int], str]
    build: Callable[[int], Any]
    obligations: Callable[[int, Any], list[Obligation]]
    beta_gap: Callable[[int, Any], Fraction] | None = None  # attention blocks: the proved margin


# ======================================================================================================
# FFN gadgets
# ======================================================================================================
FFN_LAYOUT = Layout(["x", "y", "z", "x_sq", "dst", "dst2", "other"])


def _ffn(fill: Callable[[FFNSpec], Any]):
    spec = FFNSpec(FFN_LAYOUT)
    fill(spec)
    return spec.build()


def _outputs_equal(name: str, ffn, env: dict, expected: dict, constraints: list, show: dict) -> Obligation:
    """g(x)[c] == expected[c] for the named outputs and g(x)[c] == 0 for every other coordinate."""
    out = ffn_output(ffn, FFN_LAYOUT, env)
    goal = z3.And([out[c] == expected.get(c, 0) for c in FFN_LAYOUT.names])
    return Obligation(name, constraints, goal, show)


def _reals(*names):
    return {nm: z3.Real(nm) for nm in names}


def _linear_obl(n, ffn):
    v = _reals("x", "y", "z")
    env = environment(FFN_LAYOUT, v, "in")
    exp = {"dst": 2 * v["x"] - v["y"] + 3, "dst2": v["z"] / 4}
    return [_outputs_equal("C.2 linear", ffn, env, exp, [], v)]


def _constant_obl(n, ffn):
    env = environment(FFN_LAYOUT, {}, "in")
    return [_outputs_equal("constant", ffn, env, {"dst": const(Fraction(5, 2))}, [], {})]


def _multiply_obl(n, ffns):
    v = _reals("x", "y", "z")
    env = environment(FFN_LAYOUT, v, "in")
    mul, sq, nonneg = ffns
    return [_outputs_equal("C.1 multiply", mul, env, {"dst": -3 * (v["x"] - v["y"] + 1) * v["z"]}, [], v),
            _outputs_equal("C.1 square", sq, env, {"dst": v["x"] * v["x"]}, [], v),
            _outputs_equal("multiply_nonneg", nonneg, env, {"dst": 2 * v["x"] * v["y"]}, [v["x"] >= 0], v)]


def _indicator_build(n):
    return [_ffn(lambda f, b=b: gf.indicator(f, "ind", {"x": 1.0}, float(b), "dst", coef=1.0))
            for b in range(0, n + 1)]


def _indicator_obl(n, ffns):
    x = z3.Int("x")
    env = environment(FFN_LAYOUT, {"x": x}, "in")
    return [_outputs_equal(f"C.3 indicator B={b}", f, env, {"dst": z3.If(x == b, 1, 0)}, [], {"x": x})
            for b, f in enumerate(ffns)]


def _lookup_table(base: int) -> dict[tuple[int, int], float]:
    """A fixed table with dyadic entries, some zero (absent entries read as 0 too)."""
    return {(a, b): ((3 * a + 5 * b) % 7 - 3) / 4.0 for a in range(1, base + 1) for b in range(1, base + 1)
            if (a + b) % 5}


def _lookup_base(n):
    return min(n, 8)


def _lookup_build(n):
    base = _lookup_base(n)
    return _ffn(lambda f: gf.lookup(f, "tab", [{"x": 1.0}, {"y": 1.0}], base, _lookup_table(base), "dst"))


def _lookup_obl(n, ffn):
    base = _lookup_base(n)
    x, y = z3.Int("x"), z3.Int("y")
    env = environment(FFN_LAYOUT, {"x": x, "y": y}, "in")
    table = _lookup_table(base)
    want = z3.IntVal(0)
    for (a, b), val in table.items():
        want = z3.If(z3.And(x == a, y == b), const(val), want)
    return [_outputs_equal("C.4 lookup", ffn, env, {"dst": want},
                           [between(x, 1, base), between(y, 1, base)], {"x": x, "y": y})]


def _threshold_params(n):
    """(u, eps) pairs: dyadic thresholds across the value range 0..n."""
    return [(0.0, 0.5), (float(n) / 2 + 0.25, 0.25), (float(n), 2.0 ** -4)]


def _threshold_build(n):
    out = []
    for u, eps in _threshold_params(n):
        out.append(_ffn(lambda f, u=u, eps=eps: gf.threshold(f, "ge", {"x": 1.0}, u, eps, "dst")))
        out.append(_ffn(lambda f, u=u, eps=eps: gf.threshold(f, "gt", {"x": 1.0}, u, eps, "dst", strict=True)))
    return out


def _threshold_obl(n, ffns):
    x = z3.Real("x")
    env = environment(FFN_LAYOUT, {"x": x}, "in")
    obs = []
    for j, (u, eps) in enumerate(_threshold_params(n)):
        U, E = exact(u), exact(eps)
        ge, gt = ffns[2 * j], ffns[2 * j + 1]
        # non-strict: 0 for x <= u - eps, 1 for x >= u - eps/2 (so = [x >= u] off (u - eps, u))
        obs.append(_outputs_equal(f"C.5 [x>={u}] below", ge, env, {"dst": 0}, [x <= const(U - E)], {"x": x}))
        obs.append(_outputs_equal(f"C.5 [x>={u}] above", ge, env, {"dst": 1}, [x >= const(U - E / 2)], {"x": x}))
        # strict: 0 for x <= u, 1 for x >= u + eps/2 (so = [x > u] off (u, u + eps/2))
        obs.append(_outputs_equal(f"C.5 [x>{u}] below", gt, env, {"dst": 0}, [x <= const(U)], {"x": x}))
        obs.append(_outputs_equal(f"C.5 [x>{u}] above", gt, env, {"dst": 1}, [x >= const(U + E / 2)], {"x": x}))
    return obs


def _interval_params(n):
    return [(1.0, float(n), 0.5), (float(n) / 4, float(n) / 2 + 0.5, 0.25)]


def _interval_build(n):
    return [_ffn(lambda f, u=u, v=v, e=e: gf.interval(f, "in", {"x": 1.0}, u, v, e, "dst"))
            for u, v, e in _interval_params(n)]


def _interval_obl(n, ffns):
    x = z3.Real("x")
    env = environment(FFN_LAYOUT, {"x": x}, "in")
    obs = []
    for (u, v, e), f in zip(_interval_params(n), ffns):
        U, V, E = exact(u), exact(v), exact(e)
        off_bands = z3.Not(z3.Or(z3.And(x > const(U - E), x < const(U)), z3.And(x > const(V), x < const(V + E / 2))))
        want = z3.If(z3.And(x >= const(U), x <= const(V)), 1, 0)
        obs.append(_outputs_equal(f"C.6 [{u} <= x <= {v}]", f, env, {"dst": want}, [off_bands], {"x": x}))
    return obs


NH_TOL = Fraction(1, 2**50)


def _next_hat_build(n):
    return _ffn(lambda f: gf.next_hat(f, "nh", "x", "x_sq", "dst"))


def _next_hat_obl(n, ffn):
    # (a) on the whole real interval 0 <= x <= 1/4 (every 1/m, m >= 4) the bumps vanish: nh = x - x^2 + x^3;
    x, xs = z3.Real("x"), z3.Real("x_sq")
    env = environment(FFN_LAYOUT, {"x": x, "x_sq": xs}, "in")
    obs = [_outputs_equal("next-hat polynomial on [0, 1/4]", ffn, env, {"dst": x - xs + x * xs},
                          [x >= 0, x <= const(Fraction(1, 4)), xs == x * x], {"x": x})]
    # (b) at x = 1, 1/2, 1/3 the table value 1/(m+1) up to NH_TOL: the built corrections are float64
    #     roundings of 1/(m+1) - poly(1/m), and 1/3 is not a float, so exact equality is impossible;
    for m in (1, 2, 3):
        env_m = environment(FFN_LAYOUT, {"x": Fraction(1, m), "x_sq": Fraction(1, m * m)}, f"m{m}")
        err = ffn_output(ffn, FFN_LAYOUT, env_m)["dst"] - const(Fraction(1, m + 1))
        obs.append(Obligation(f"|next-hat(1/{m}) - 1/{m + 1}| <= 2^-50", [],
                              z3.And(err <= const(NH_TOL), err >= -const(NH_TOL)), {}))
    # (c) Lemma C.19 for m in 4..n+1: 0 <= poly(1/m) - 1/(m+1) <= 1/(m+1)^3, denominators cleared:
    #     poly(1/m) - 1/(m+1) = 1/(m^3 (m+1)), so the claim is (m+1)^2 <= m^3.
    m = z3.Int("m")
    lhs = (m * m - m + 1) * (m + 1) - m**3          # m^3 (m+1) (poly(1/m) - 1/(m+1))
    obs.append(Obligation("Lemma C.19 bound", [between(m, 4, n + 1)],
                          z3.And(lhs == 1, (m + 1) * (m + 1) <= m**3), {"m": m}))
    return obs


def _positions_build(n):
    lay = Layout(["one", "pos_sq", "pos"])
    spec = FFNSpec(lay)
    gf.positions(spec)
    return lay, spec.build()


def _positions_obl(n, built):
    lay, ffn = built
    k = z3.Int("pos")
    env = environment(lay, {"pos": k}, "in")
    out = ffn_output(ffn, lay, env)
    return [Obligation("positions: one += 1, pos_sq += k^2", [k >= 1],
                       z3.And(out["one"] == 1, out["pos_sq"] == k * k, out["pos"] == 0), {"k": k})]


def _emit_build(n):
    lay = Layout(["num", "num_sq", "tok:YES", "one", "ans", "pos"])
    spec = FFNSpec(lay)
    gf.emit_number(spec, "emit", {"ans": 1.0}, clear=("tok:YES",))
    return lay, spec.build()


def _emit_obl(n, built):
    lay, ffn = built
    src = z3.Real("ans")
    env = environment(lay, {"ans": src, "one": 1}, "in")
    out = ffn_output(ffn, lay, env)
    new = {c: env[c] + out[c] for c in ("num", "num_sq", "tok:YES")}  # residual after the FFN
    obs = [Obligation("emit: num = 2 src, num_sq = 2, YES cleared", [], z3.And(
        new["num"] == 2 * src, new["num_sq"] == 2, new["tok:YES"] == 0), {"src": src})]
    # tied read-out: logit_i = i num - (i^2 / 2) num_sq. For |src - v| <= 1/4 the number v beats every
    # other number i in 1..n by >= scale/4 = 1/2. Enumerating d = v - i keeps each query linear in src.
    v = z3.Int("v")
    for d in [d for d in range(-(n - 1), n) if d]:
        i = v - d
        lv = v * new["num"] - v * v * new["num_sq"] / 2
        li = i * new["num"] - i * i * new["num_sq"] / 2
        obs.append(Obligation(f"emit margin (v - i = {d})",
                              [between(v, 1, n), between(i, 1, n), src >= v - const(Fraction(1, 4)),
                               src <= v + const(Fraction(1, 4))],
                              lv - li >= const(Fraction(1, 2)), {"v": v, "src": src}))
    return obs


# ======================================================================================================
# attention blocks
# ======================================================================================================
DIMS = 2  # quantities compared per head (|I| <= 10 in the lemmas; 2 exercises the multi-coordinate sums)
ATT_LAYOUT = Layout([BOS, "one", "pos_sq"] + [f"a{i}" for i in range(DIMS)] + [f"a{i}_sq" for i in range(DIMS)]
                    + [f"b{i}" for i in range(DIMS)] + [f"b{i}_sq" for i in range(DIMS)]
                    + ["t", "t_sq", "y", "y_sq", "nh", "src", "dst", "pos"])
KEYS = [att.coordinate(f"a{i}", f"a{i}_sq") for i in range(DIMS)]
QUERIES = [att.coordinate(f"b{i}", f"b{i}_sq") for i in range(DIMS)]


def _key(tag: str, L: int, vmax: int, sink: bool = False, integer_values: bool = True):
    """A key residual: position k' (1 at the sink), its indicator, values a_i (0 at the sink)."""
    k = z3.IntVal(1) if sink else z3.Int(f"{tag}.pos")
    given = {"pos": k, "pos_sq": k * k, "one": 1, BOS: 1 if sink else 0}
    cons = [] if sink else [between(k, 2, L)]
    a = []
    for i in range(DIMS):
        ai = z3.IntVal(0) if sink else z3.Int(f"{tag}.a{i}")
        given[f"a{i}"], given[f"a{i}_sq"] = ai, ai * ai
        if not sink:
            cons.append(between(ai, 0, vmax))
        a.append(ai)
    return given, cons, k, a


def _query(L: int, vmax: int):
    k = z3.Int("q.pos")
    given = {"pos": k, "pos_sq": k * k, "one": 1, BOS: 0}
    cons = [between(k, 2, L)]
    b = []
    for i in range(DIMS):
        bi = z3.Int(f"q.b{i}")
        given[f"b{i}"], given[f"b{i}_sq"] = bi, bi * bi
        cons.append(between(bi, 1, vmax))
        b.append(bi)
    return given, cons, k, b


def _match(a, b):
    return z3.And([x == y for x, y in zip(a, b)])


def _value_obl(head, pairs: dict[str, str]) -> Obligation:
    """W_V copies each src into its dst (and writes nothing else), for every residual."""
    env = environment(ATT_LAYOUT, {}, "v")
    out = value(head, ATT_LAYOUT, env)
    goal = z3.And([out[c] == (env[[s for s, d in pairs.items() if d == c][0]] if c in pairs.values() else 0)
                   for c in ATT_LAYOUT.names])
    return Obligation(f"{head.name}: values", [], goal, {})


def _beats(name, head, win, lose, q, cons, gap, show) -> Obligation:
    """score(win) - score(lose) >= gap, with the full residual environments."""
    sw = score(head, ATT_LAYOUT, environment(ATT_LAYOUT, win, "w"), environment(ATT_LAYOUT, q, "q"))
    sl = score(head, ATT_LAYOUT, environment(ATT_LAYOUT, lose, "l"), environment(ATT_LAYOUT, q, "q"))
    return Obligation(name, cons, sw - sl >= gap, show)


def _copy_build(n):
    L = length_for(n)
    return [att.copy_head(ATT_LAYOUT, s=s, values={"src": "dst"}, beta=att.default_beta(L, 1)) for s in (1, 2, 3)]


def _copy_obl(n, heads):
    L = length_for(n)
    obs = []
    for s, head in zip((1, 2, 3), heads):
        beta = exact(att.default_beta(L, 1))
        k, kp = z3.Int("k"), z3.Int("k'")
        t = z3.If(k - s >= 1, k - s, 1)
        q = {"pos": k, "pos_sq": k * k, "one": 1}
        obs.append(_beats(f"COPY s={s}: key max(k-s,1) beats every other k' <= k by beta", head,
                          {"pos": t, "pos_sq": t * t, "one": 1}, {"pos": kp, "pos_sq": kp * kp, "one": 1}, q,
                          [between(k, 1, L), between(kp, 1, L), kp <= k, kp != t], beta, {"k": k, "k'": kp}))
        obs.append(_value_obl(head, {"src": "dst"}))
    return obs


def _count_build(n):
    return att.count_head(ATT_LAYOUT, keys=KEYS, queries=QUERIES, dst="dst", beta=att.default_beta(length_for(n), 1))


def _count_obl(n, head):
    L = length_for(n)
    beta = exact(att.default_beta(L, 1))
    q, qc, _, b = _query(L, n)
    key, kc, kp, a = _key("k", L, n)
    kc = [c for c in kc] + [between(ai, 1, n) for ai in a]  # COUNT: nonzero values away from <s>
    sink, _, _, _ = _key("s", L, n, sink=True)
    s_env = environment(ATT_LAYOUT, q, "q")
    sc = lambda k: score(head, ATT_LAYOUT, environment(ATT_LAYOUT, k, "k"), s_env)  # noqa: E731
    show = {"k'": kp, **{f"a{i}": a[i] for i in range(DIMS)}, **{f"b{i}": b[i] for i in range(DIMS)}}
    return [Obligation("COUNT: the sink scores 0", qc, sc(sink) == 0, show),
            Obligation("COUNT: every match scores 0", qc + kc + [_match(a, b)], sc(key) == 0, show),
            Obligation("COUNT: every mismatch scores <= -beta", qc + kc + [z3.Not(_match(a, b))],
                       sc(key) <= -beta, show),
            _value_obl(head, {BOS: "dst"})]


def _family_obl(n, head, beta_gap, order, vmax, extra_query=None):
    """The four pairwise claims of the Match family (first / last / nearest match wins).

    ``order(q, k1, k2)`` says key k1 is preferred to key k2 (both matching); the preferred match beats
    the other, every match beats the sink, and the sink and every match beat every mismatch.
    """
    L = length_for(n)
    q, qc, qk, b = _query(L, vmax)
    if extra_query:
        q, qc = extra_query(q, qc, L)
    m1, c1, k1, a1 = _key("m1", L, vmax)
    m2, c2, k2, a2 = _key("m2", L, vmax)
    sink, _, _, _ = _key("s", L, vmax, sink=True)
    causal = [k1 <= qk, k2 <= qk]
    show = {"k": qk, "k1'": k1, "k2'": k2, **{f"b{i}": b[i] for i in range(DIMS)},
            **{f"a{i}@k1'": a1[i] for i in range(DIMS)}, **{f"a{i}@k2'": a2[i] for i in range(DIMS)}}
    if "t" in q:
        show["target t"] = q["t"]
    base = qc + c1 + c2 + causal
    return [
        _beats(f"{head.name}: preferred match beats another match", head, m1, m2, q,
               base + [_match(a1, b), _match(a2, b), k1 != k2, order(q, k1, k2)], beta_gap, show),
        _beats(f"{head.name}: a match beats the sink", head, m1, sink, q, base + [_match(a1, b)], beta_gap, show),
        _beats(f"{head.name}: the sink beats a mismatch", head, sink, m2, q, base + [z3.Not(_match(a2, b))],
               beta_gap, show),
        _beats(f"{head.name}: a match beats a mismatch", head, m1, m2, q,
               base + [_match(a1, b), z3.Not(_match(a2, b))], beta_gap, show),
    ]


def _match_build(n):
    return att.match_head(ATT_LAYOUT, keys=KEYS, queries=QUERIES, values={"src": "dst"}, length=length_for(n))


def _declared(n: int, gap: int) -> Fraction:
    """beta * gap for the builders' default beta = default_beta(L, gap) (the margin the lemma claims)."""
    return exact(att.default_beta(length_for(n), gap)) * gap


def _match_obl(n, head):
    L = length_for(n)
    return _family_obl(n, head, _declared(n, 5), lambda q, k1, k2: k1 < k2, L) + [_value_obl(head, {"src": "dst"})]


def _close_build(n):
    return att.match_close_head(ATT_LAYOUT, keys=KEYS, queries=QUERIES, values={"src": "dst"}, length=length_for(n))



def _close_obl(n, head):
    L = length_for(n)
    return _family_obl(n, head, _declared(n, 1), lambda q, k1, k2: k1 > k2, L) + [_value_obl(head, {"src": "dst"})]


def _nearest_build(n):
    return att.match_nearest_head(ATT_LAYOUT, keys=KEYS, queries=QUERIES, target=att.coordinate("t", "t_sq"),
                                  values={"src": "dst"}, length=length_for(n))


def _nearest_obl(n, head):
    L = length_for(n)

    def with_target(q, qc, L):
        t = z3.Int("q.t")
        return {**q, "t": t, "t_sq": t * t}, qc + [between(t, 1, L)]

    def order(q, k1, k2):
        t = q["t"]
        d1, d2 = z3.If(t >= k1, t - k1, k1 - t), z3.If(t >= k2, t - k2, k2 - t)
        return z3.Or(d1 < d2, z3.And(d1 == d2, k1 < k2))

    return _family_obl(n, head, _declared(n, 1), order, L, with_target) + [_value_obl(head, {"src": "dst"})]


def _next_build(n):
    lay = ATT_LAYOUT
    nh = _next_hat_build(n)
    head = att.match_next_head(lay, keys=KEYS, queries=QUERIES, counter=att.coordinate("y", "y_sq"),
                               target={"nh": 1.0}, values={"src": "dst"}, max_count=n, length=length_for(n))
    return nh, head


def _next_obl(n, built):
    """MatchNext, query counter x = 1/m (m = 1..n+1) enumerated, its target nh(x) computed by the BUILT
    next-hat FFN; keys symbolic: values a_i, counters y = 1/j (j = 2..n+1) for matching keys.

    Claim (gap 1 in units of beta): among c matches with counters 1/2 .. 1/(c+1) the one nearest
    next(x), 1/min(m+1, c+1), wins; every match
    beats the sink; the sink and every match beat every mismatch. Counters of matches are distinct
    and consecutive (Lemma C.18).
    """
    nh_ffn, head = built
    L, N = length_for(n), n
    beta = _declared(n, 1)
    obs = []
    for m in range(1, N + 2):
        env_m = environment(FFN_LAYOUT, {"x": Fraction(1, m), "x_sq": Fraction(1, m * m)}, f"nh{m}")
        nh = to_fraction(ffn_output(nh_ffn, FFN_LAYOUT, env_m)["dst"])
        q, qc, qk, b = _query(L, n)
        q = {**q, "nh": const(nh), "y": 0, "y_sq": 0}

        def key(tag):
            given, cons, k, a = _key(tag, L, n)
            y, ys, j = z3.Real(f"{tag}.y"), z3.Real(f"{tag}.y_sq"), z3.Int(f"{tag}.j")
            choices = [z3.And(j == jj, y == const(Fraction(1, jj)), ys == const(Fraction(1, jj * jj)))
                       for jj in range(2, N + 2)]
            # the exact counter set, and a relaxation (y in [0, 1/2], y^2 in [0, 1/4], independent) that
            # contains it: proving a claim for the relaxation proves it for every counter; it keeps the
            # mismatch obligations linear in y, which Z3 decides much faster.
            relaxed = [y >= 0, y <= const(Fraction(1, 2)), ys >= 0, ys <= const(Fraction(1, 4))]
            given = {**given, "y": y, "y_sq": ys}
            return given, cons, [z3.Or(choices)], relaxed, k, a, j

        m1, c1, exact1, _, k1, a1, j1 = key("m1")
        m2, c2, exact2, relaxed2, k2, a2, j2 = key("m2")
        sink, _, _, _ = _key("s", L, n, sink=True)
        sink = {**sink, "y": 0, "y_sq": 0}
        base = qc + c1 + c2 + exact1 + [k1 <= qk, k2 <= qk]
        show = {"x": f"1/{m}", "nh(x)": str(nh), "k": qk, **{f"b{i}": b[i] for i in range(DIMS)},
                "k1'": k1, **{f"a{i}@k1'": a1[i] for i in range(DIMS)}, "y@k1'": m1["y"],
                "k2'": k2, **{f"a{i}@k2'": a2[i] for i in range(DIMS)}, "y@k2'": m2["y"]}
        pair_show = {**show, "c (matches)": z3.Int("c")}
        g = beta
        # c matching keys carry the consecutive counters 1/2 .. 1/(c+1); the target k* is the one
        # nearest next(x) = 1/(m+1), i.e. j* = min(m + 1, c + 1).
        c = z3.Int("c")
        obs += [
            _beats(f"MatchNext x=1/{m}: counter 1/min(m+1, c+1) beats every other match", head, m1, m2, q,
                   base + exact2 + [_match(a1, b), _match(a2, b), between(c, 1, N), j1 == z3.If(m + 1 <= c + 1, m + 1, c + 1),
                           j2 <= c + 1, j1 != j2], g, pair_show),
            _beats(f"MatchNext x=1/{m}: a match beats the sink", head, m1, sink, q, base + [_match(a1, b)], g, show),
            _beats(f"MatchNext x=1/{m}: the sink beats a mismatch", head, sink, m2, q,
                   base + relaxed2 + [z3.Not(_match(a2, b))], g, show),
            _beats(f"MatchNext x=1/{m}: a match beats a mismatch", head, m1, m2, q,
                   base + relaxed2 + [_match(a1, b), z3.Not(_match(a2, b))], g, show),
        ]
    obs.append(_value_obl(head, {"src": "dst"}))
    return obs


# -- the exact gated indicators (constructions/gadgets/gates.py) -------------------------------------------
def _gates_build(n):
    return {"hat": _ffn(lambda f: gates.hat(f, "hat", {"x": 1.0}, {"y": 1.0}, {"dst": 1.0})),
            "ge1": _ffn(lambda f: gates.ge1(f, "ge1", {"x": 1.0}, {"y": 1.0}, {"dst": 1.0})),
            "gated": _ffn(lambda f: gates.gated(f, "g", {"x": 1.0}, {"z": 1.0}, {"dst": 1.0})),
            "table": _ffn(lambda f: gates.table(f, "tab", {"x": 1.0}, _table_size(n), _table_values(n),
                                                {"y": 1.0})),
            "emit_value": _ffn(lambda f: gates.emit_value(f, "ev", {"x": 1.0}, {"z": 1.0}, float(n + 2),
                                                          num="dst", sq="dst2", zero="other"))}


def _table_size(n):
    return min(n, 8)


def _table_values(n):
    """A fixed table over keys 0..size-1 with dyadic entries on two outputs, some keys absent."""
    return {k: {"dst": ((5 * k) % 7 - 3) / 2.0, "dst2": float(k % 3)} for k in range(_table_size(n)) if k % 4 != 1}


def _gates_obl(n, ffns):
    x, y, z = z3.Int("x"), z3.Int("y"), z3.Real("z")
    gate = [z3.Or(y == 0, y == 1)]
    env = environment(FFN_LAYOUT, {"x": x, "y": y, "z": z}, "in")
    show = {"x": x, "y": y}
    obs = [_outputs_equal("hat: dst = [x = 0] g", ffns["hat"], env, {"dst": z3.If(x == 0, y, 0)}, gate, show),
           _outputs_equal("ge1: dst = [x >= 1] g", ffns["ge1"], env, {"dst": z3.If(x >= 1, y, 0)}, gate, show),
           _outputs_equal("gated: dst = z where the gate is 1", ffns["gated"], env, {"dst": z}, [x == 1],
                          {"x": x, "z": z}),
           _outputs_equal("gated: dst = 0 where the gate is <= 0", ffns["gated"], env, {}, [x <= 0], {"x": x})]
    want = {"dst": z3.IntVal(0), "dst2": z3.IntVal(0)}
    for k, vals in _table_values(n).items():
        for c in want:
            want[c] = z3.If(x == k, const(vals.get(c, 0.0)), want[c])
    obs.append(_outputs_equal("table: dst = F(key) g (Lemma C.4 interpolant)", ffns["table"], env,
                              {c: want[c] * y for c in want}, gate + [between(x, 0, _table_size(n) - 1)], show))
    v = z3.Int("v")
    env_v = environment(FFN_LAYOUT, {"x": x, "z": v}, "in")
    open_ = {"dst": v, "dst2": z3.If(v >= 1, 1, 0), "other": z3.If(v == 0, 1, 0)}
    obs.append(_outputs_equal("emit_value open: num = y, sq = [y >= 1], zero = [y = 0]", ffns["emit_value"],
                              env_v, open_, [x == 1, between(v, 0, n)], {"y": v}))
    obs.append(_outputs_equal("emit_value closed: nothing", ffns["emit_value"], env_v, {},
                              [x <= 0, x >= -n, between(v, 0, n)], {"gate": x, "y": v}))
    return obs


# -- Match on keys that occur at most once (constructions/gadgets/attention.py) ----------------------------
def _unique_build(n):
    return att.unique_match_head(ATT_LAYOUT, key=KEYS[0], query=QUERIES[0], values={"src": "dst"},
                                 beta=att.default_beta(length_for(n), 5), name="unique Match")


def _unique_obl(n, head):
    """The single matching key (else the sink) beats every other key by 5 beta; values 0..n."""
    L = length_for(n)
    q, qc, qk, b = _query(L, n)
    m1, c1, k1, a1 = _key("m1", L, n)
    m2, c2, k2, a2 = _key("m2", L, n)
    sink, _, _, _ = _key("s", L, n, sink=True)
    base = qc + c1 + c2 + [k1 <= qk, k2 <= qk]
    show = {"k": qk, "k1'": k1, "k2'": k2, "b0": b[0], "a0@k1'": a1[0], "a0@k2'": a2[0]}
    gap = _declared(n, 5)
    return [_beats("unique Match: the match beats the sink", head, m1, sink, q, base + [a1[0] == b[0]], gap, show),
            _beats("unique Match: the sink beats a mismatch", head, sink, m2, q, base + [a2[0] != b[0]], gap, show),
            _beats("unique Match: the match beats a mismatch", head, m1, m2, q,
                   base + [a1[0] == b[0], a2[0] != b[0]], gap, show),
            _value_obl(head, {"src": "dst"})]


GADGETS: dict[str, Gadget] = {g.name: g for g in [
    Gadget("linear", "C.2", "dst = 2x - y + 3, dst2 = z/4, all other outputs 0",
           lambda n: "all real x, y, z (other coordinates free)",
           lambda n: _ffn(lambda f: gf.linear(f, "lin", {"dst": {"x": 2.0, "y": -1.0, "bias": 3.0},
                                                          "dst2": {"z": 0.25}})), _linear_obl),
    Gadget("constant", "C.2", "dst = 5/2", lambda n: "every residual",
           lambda n: _ffn(lambda f: gf.constant(f, "c", "dst", 2.5)), _constant_obl),
    Gadget("multiply", "C.1", "dst = -3 (x - y + 1) z; square: dst = x^2; nonneg: dst = 2xy",
           lambda n: "all real x, y, z (nonneg: x >= 0)",
           lambda n: [_ffn(lambda f: gf.multiply(f, "mul", {"x": 1.0, "y": -1.0, "bias": 1.0}, {"z": 1.0}, "dst",
                                                 coef=-3.0)),
                      _ffn(lambda f: gf.square(f, "sq", {"x": 1.0}, "dst")),
                      _ffn(lambda f: gf.multiply_nonneg(f, "nn", {"x": 1.0}, {"y": 1.0}, "dst", coef=2.0))],
           _multiply_obl),
    Gadget("indicator", "C.3", "dst = [x = B] for each B in 0..n", lambda n: "every integer x",
           _indicator_build, _indicator_obl),
    Gadget("lookup", "C.4", "dst = table[(x, y)] (0 for absent entries)",
           lambda n: f"(x, y) in [{_lookup_base(n)}]^2 (base min(n, 8))", _lookup_build, _lookup_obl),
    Gadget("threshold", "C.5", "non-strict: 0 for x <= u-eps, 1 for x >= u-eps/2; strict: 0 for x <= u, "
           "1 for x >= u+eps/2", lambda n: f"all real x; (u, eps) in {_threshold_params(n)}",
           _threshold_build, _threshold_obl),
    Gadget("interval", "C.6", "dst = [u <= x <= v] off the bands (u-eps, u), (v, v+eps/2)",
           lambda n: f"all real x off the bands; (u, v, eps) in {_interval_params(n)}", _interval_build,
           _interval_obl),
    Gadget("next_hat", "C.19", "|nh(1/m) - 1/(m+1)| <= 2^-50 for m <= 3; nh = x - x^2 + x^3 on [0, 1/4]; "
           "0 <= nh(1/m) - 1/(m+1) <= 1/(m+1)^3", lambda n: f"x = 1/m, m = 1..{n + 1}; x real in [0, 1/4]",
           _next_hat_build, _next_hat_obl),
    Gadget("positions", "C.1/C.2", "one += 1, pos_sq += k^2", lambda n: "every integer k >= 1",
           _positions_build, _positions_obl),
    Gadget("emit_number", "read-out", "num = 2 src, num_sq = 2; number v wins the tied read-out by >= 1/2",
           lambda n: f"real src with |src - v| <= 1/4, v in 1..{n}", _emit_build, _emit_obl),
    Gadget("gates", "C.1/C.4", "hat = [x = 0] g, ge1 = [x >= 1] g, table = F(x) g, gated = ReLU(gate) z, "
           "emit_value = (y, [y >= 1], [y = 0]) behind a big-M gate", lambda n: f"integer x, g in {{0, 1}}, "
           f"table keys 0..{_table_size(n) - 1}, emitted y in 0..{n}", _gates_build, _gates_obl),
    Gadget("copy", "C.13", "key max(k-s, 1) beats every other key k' <= k by beta (s = 1, 2, 3); value src -> dst",
           lambda n: f"1 <= k' <= k <= L = {length_for(n)}", _copy_build, _copy_obl,
           lambda n, heads: _declared(n, 1)),
    Gadget("count", "C.14", "sink and matches score 0, mismatches <= -beta; value 1[k'=1] (average 1/(m+1))",
           lambda n: f"values in 1..{n} ({DIMS} coordinates), k' in 2..L = {length_for(n)}", _count_build,
           _count_obl, lambda n, head: _declared(n, 1)),
    Gadget("match", "C.15", "the first match (else the sink) beats every other key by 5 beta",
           lambda n: f"values in 0..L ({DIMS} coordinates), queries in 1..L, k' <= k <= L = {length_for(n)}",
           _match_build, _match_obl, lambda n, head: _declared(n, 5)),
    Gadget("match_close", "C.16", "the last match (else the sink) beats every other key by beta",
           lambda n: f"values in 0..L ({DIMS} coordinates), queries in 1..L, k' <= k <= L = {length_for(n)}",
           _close_build, _close_obl, lambda n, head: _declared(n, 1)),
    Gadget("match_nearest", "C.17", "the match nearest the target t (earlier on ties; else the sink) beats "
           "every other key by beta", lambda n: f"values in 0..L, target t in 1..L, k' <= k <= L = {length_for(n)}",
           _nearest_build, _nearest_obl, lambda n, head: _declared(n, 1)),
    Gadget("match_next", "C.18", "the matching counter nearest nh(x) (else the sink) beats every other key by "
           "beta; nh computed by the built next-hat FFN",
           lambda n: f"x = 1/m (m = 1..{n + 1}), counters 1/j (j = 2..{n + 1}, distinct among matches), "
                     f"values in 0..{n}, k' <= k <= L = {length_for(n)}",
           _next_build, _next_obl, lambda n, built: _declared(n, 1)),
    Gadget("unique_match", "C.15", "for keys that occur at most once: the match (else the sink) beats every "
           "other key by 5 beta", lambda n: f"values in 0..{n}, queries in 1..{n}, k' <= k <= L = {length_for(n)}",
           _unique_build, _unique_obl, lambda n, head: _declared(n, 5)),
]}
