"""Z3 proofs of single steps of the IsTree Transformer (constructions/transformer/istree.py).

Each proof reads one block's BUILT weights from ``build_istree_transformer(n)`` and states the
function its docstring documents, over the integer (or unit-fraction) domain the block sees:

* block 1 FFN: one = 1, pos_sq = k^2, is_num = [num >= 1]                  (num in 0..n, k >= 1)
* block 4 FFN: x' = 1 if w = f else x (and x'^2 likewise)                    (w, f in 0..n, x real)
* block 5 FFN: nz1 = [o1 > 0], nz2 = [o2 > 0], e1 = [o1 = f], fin = [f = 0 and o1 = 0]  (0..n)
* block 6 FFN: cand = o1 (descend), o2 (skip the parent edge) or f (backtrack), cand^2, and
  eqf = [cand = f], when the two fetched edges differ (simple graph) and o1 = 0 implies o2 = 0
* block 7 FFN (read-out): at a CoT position the tied read-out's arg-max is cand, NO (cycle), NO (short
  tour) or YES as documented, by a logit margin >= 1, and vertex 1 at <sep>; every embedding
  coordinate not named is free (the FFN must cancel the current token)
* EDGE, NEXT, NEXT2, VISITED heads: the target key scores 0, the sink -beta and every other key
  <= -2 beta, for every record (vertex in 0..n, counter 1/a with a in 2..n: degree <= n-1) and query;
  PARENT: the earliest CoT occurrence of v beats later ones and every non-match by beta (k <= max_len).
"""

from __future__ import annotations

from fractions import Fraction

import z3

from constructions.transformer.istree import BOS, build_istree_transformer
from verify.smt.encode import Obligation, between, const, environment, ffn_output, score

HALF = Fraction(-1, 2)


def _nsq(v):
    """The embedding's num_sq of a number v: -v^2 / 2 (as a real term)."""
    return z3.ToReal(v * v) * const(HALF)


def _ffn_claim(model, block: int, given: dict, expected: dict, constraints: list, show: dict, name: str):
    lay = model.layout
    env = environment(lay, given, f"b{block}")
    out = ffn_output(model.blocks[block - 1].ffn, lay, env)
    return Obligation(name, constraints, z3.And([out[c] == e for c, e in expected.items()]), show)


def block1(model, n: int) -> list[Obligation]:
    num, k = z3.Int("num"), z3.Int("k")
    return [_ffn_claim(model, 1, {"num": num, "pos": k},
                       {"one": 1, "pos_sq": k * k, "is_num": z3.If(num >= 1, 1, 0)},
                       [between(num, 0, n), k >= 1], {"num": num, "k": k}, "block 1 FFN: one, k^2, is_num")]


def block4(model, n: int) -> list[Obligation]:
    w, f, x, x2 = z3.Int("w"), z3.Int("f"), z3.Real("x"), z3.Real("x2")
    desc = w == f
    return [_ffn_claim(model, 4, {"p1_num": w, "f": f, "x": x, "x2": x2},
                       {"xp": z3.If(desc, 1, x), "xp2": z3.If(desc, 1, x2)},
                       [between(w, 0, n), between(f, 0, n)], {"w": w, "f": f, "x": x},
                       "block 4 FFN: x' = 1 if w = f else x")]


def block5(model, n: int) -> list[Obligation]:
    o1, o2, f = z3.Int("o1"), z3.Int("o2"), z3.Int("f")
    b = lambda c: z3.If(c, 1, 0)  # noqa: E731
    return [_ffn_claim(model, 5, {"o1": o1, "o2": o2, "f": f},
                       {"nz1": b(o1 > 0), "nz2": b(o2 > 0), "e1": b(o1 == f), "fin": b(z3.And(f == 0, o1 == 0))},
                       [between(o1, 0, n), between(o2, 0, n), between(f, 0, n)], {"o1": o1, "o2": o2, "f": f},
                       "block 5 FFN: nz1, nz2, e1, fin")]


def block6(model, n: int) -> list[Obligation]:
    o1, o2, f = z3.Int("o1"), z3.Int("o2"), z3.Int("f")
    b = lambda c: z3.If(c, 1, 0)  # noqa: E731
    given = {"o1": o1, "o2": o2, "f": f, "o1_sq": o1 * o1, "o2_sq": o2 * o2, "f_nsq": _nsq(f),
             "nz1": b(o1 > 0), "nz2": b(o2 > 0), "e1": b(o1 == f)}
    cand = z3.If(z3.And(o1 > 0, o1 != f), o1, z3.If(z3.And(o1 == f, o1 > 0, o2 > 0), o2, f))
    simple = z3.Or(o2 == 0, o2 != o1)  # two different edges of v lead to different vertices
    consecutive = z3.Implies(o1 == 0, o2 == 0)  # no next edge -> no next-next edge (counters are consecutive)
    cons = [between(o1, 0, n), between(o2, 0, n), between(f, 0, n), simple, consecutive]
    return [_ffn_claim(model, 6, given, {"cand": cand, "cand_sq": cand * cand, "eqf": b(cand == f)}, cons,
                       {"o1": o1, "o2": o2, "f": f}, "block 6 FFN: cand, cand^2, eqf")]


def _logits(model, res: dict) -> dict:
    """Tied read-out of a residual: number i -> i num - (i^2/2) num_sq; a special -> its coordinate."""
    out = {i: i * res["num"] - const(Fraction(i * i, 2)) * res["num_sq"] for i in range(1, model.vocab.n + 1)}
    out.update({name: res[f"tok:{name}"] for name in model.vocab.specials})
    return out


def _wins(logits: dict, winner, margin) -> z3.BoolRef:
    return z3.And([logits[winner] - v >= margin for k, v in logits.items() if k != winner])


def block7(model, n: int) -> list[Obligation]:
    """Read-out at a CoT position (current token v): emit cand, NO (cycle), NO (short tour) or YES, by
    a logit margin >= 1; at <sep> emit vertex 1. Flags are 0/1; cand = 0 exactly when fin = 1; the
    parent was visited (eqf = 1 -> vis = 1). Every embedding coordinate not named is free: the FFN
    must cancel it."""
    lay, ffn = model.layout, model.blocks[6].ffn
    v, cand = z3.Int("v"), z3.Int("cand")
    vis, eqf, fin, tour = (z3.Int(nm) for nm in ("vis", "eqf", "fin", "tour_ok"))
    flags = [between(f, 0, 1) for f in (vis, eqf, fin, tour)]
    cons = flags + [between(v, 1, n), between(cand, 0, n), (cand == 0) == (fin == 1), z3.Implies(eqf == 1, vis == 1)]
    given = {"num": v, "num_sq": _nsq(v), "is_cot": 1, "cand": cand, "vis": vis, "eqf": eqf, "fin": fin,
             "tour_ok": tour, "tok:<sep>": 0}
    env = environment(lay, given, "b7")
    out = ffn_output(ffn, lay, env)
    logits = _logits(model, {c: env[c] + out[c] for c in model.vocab.coordinates})
    show = {"v": v, "cand": cand, "vis": vis, "eqf": eqf, "fin": fin, "tour_ok": tour}
    emit = z3.And(fin == 0, z3.Or(eqf == 1, vis == 0))
    obs = []
    for c in range(1, n + 1):
        obs.append(Obligation(f"block 7 read-out: emit cand = {c}", cons + [emit, cand == c], _wins(logits, c, 1), show))
    obs += [Obligation("block 7 read-out: NO at a cycle", cons + [fin == 0, vis == 1, eqf == 0], _wins(logits, "NO", 1), show),
            Obligation("block 7 read-out: NO for a short tour", cons + [fin == 1, tour == 0], _wins(logits, "NO", 1), show),
            Obligation("block 7 read-out: YES for a full tour", cons + [fin == 1, tour == 1], _wins(logits, "YES", 1), show)]
    # at <sep> (not a CoT position) the flags still lie in {0, 1} and cand in 0..n
    sflags = {nm: z3.Int(f"sep.{nm}") for nm in ("vis", "eqf", "fin", "tour_ok")}
    scand = z3.Int("sep.cand")
    sep = environment(lay, {**{c: 0 for c in model.vocab.coordinates}, "tok:<sep>": 1, "is_cot": 0,
                            "cand": scand, **sflags}, "sep")
    out = ffn_output(ffn, lay, sep)
    logits = _logits(model, {c: sep[c] + out[c] for c in model.vocab.coordinates})
    obs.append(Obligation("block 7 read-out: vertex 1 at <sep>",
                          [between(f, 0, 1) for f in sflags.values()] + [between(scand, 0, n)],
                          _wins(logits, 1, 1), {"cand": scand, **sflags}))
    return obs


def _head(model, block: int, name: str):
    for h in model.blocks[block - 1].heads:
        if h.name == name:
            return h
    raise ValueError(f"block {block} has no head {name!r}")


def _three_level(model, head, query: dict, qcons: list, key_of, is_target, show: dict, label: str, beta):
    """Target keys score 0, the sink -beta, every other non-sink key <= -2 beta."""
    lay = model.layout
    qenv = environment(lay, query, "q")
    given, kcons = key_of("k")
    s = score(head, lay, environment(lay, given, "k"), qenv)
    # position 1 (<s>): every scratch value is 0 there (no number, no record, no CoT)
    sink_env = {name: 0 for name in lay.names}
    sink_env.update({BOS: 1, "one": 1, "pos": 1, "pos_sq": 1})
    sink = score(head, lay, environment(lay, sink_env, "s"), qenv)
    tgt = is_target(given)
    return [Obligation(f"{label}: target scores 0", qcons + kcons + [tgt], s == 0, show),
            Obligation(f"{label}: sink scores -beta", qcons, sink == -beta, show),
            Obligation(f"{label}: other keys <= -2 beta", qcons + kcons + [z3.Not(tgt)], s <= -2 * beta, show)]


def edge_head(model, n: int, beta) -> list[Obligation]:
    v, w = z3.Int("v"), z3.Int("w")
    query = {"num": v, "num_sq": _nsq(v), "p1_num": w, "p1_nsq": _nsq(w), "one": 1}

    def key(tag):
        rv, ro = z3.Int(f"{tag}.rec_v"), z3.Int(f"{tag}.rec_o")
        return ({BOS: 0, "one": 1, "rec_v": rv, "rec_o": ro, "rec_v2": rv * rv, "rec_o2": ro * ro},
                [between(rv, 0, n), between(ro, 0, n)])

    return _three_level(model, _head(model, 4, "EDGE"), query, [between(v, 1, n), between(w, 0, n)], key,
                        lambda g: z3.And(g["rec_v"] == v, g["rec_o"] == w), {"v": v, "w": w}, "EDGE", beta)


def next_heads(model, n: int, beta) -> list[Obligation]:
    obs = []
    for name, step in (("NEXT", 1), ("NEXT2", 2)):
        head = _head(model, 5, name)
        for bq in range(1, n + 1):  # query counter x' = 1/b, enumerated
            v = z3.Int("v")
            xp = Fraction(1, bq)
            query = {"num": v, "num_sq": _nsq(v), "xp": xp, "xp2": xp * xp, "one": 1}

            def key(tag):
                rv, a = z3.Int(f"{tag}.rec_v"), z3.Int(f"{tag}.a")
                c, c2 = z3.Real(f"{tag}.rec_c"), z3.Real(f"{tag}.rec_c2")
                counters = [z3.And(a == aa, c == const(Fraction(1, aa)), c2 == const(Fraction(1, aa * aa)))
                            for aa in range(2, n + 1)]  # a vertex has <= n - 1 edges: a <= n
                # a position without a record has rec_v = 0 and counter 0
                none = z3.And(rv == 0, a == 0, c == 0, c2 == 0)
                return ({BOS: 0, "one": 1, "rec_v": rv, "rec_v2": rv * rv, "rec_c": c, "rec_c2": c2},
                        [between(rv, 0, n), z3.Or(none, z3.And(rv >= 1, z3.Or(counters)))])

            # the target record: same vertex and c = x' / (1 + step x'), i.e. a = b + step
            target = lambda g, bq=bq, step=step: z3.And(g["rec_v"] == v, g["rec_c"] == const(Fraction(1, bq + step)))  # noqa: E731
            obs += _three_level(model, head, query, [between(v, 1, n)], key, target, {"v": v, "x'": f"1/{bq}"},
                                f"{name} x'=1/{bq}", beta)
    return obs


def parent_head(model, n: int, beta) -> list[Obligation]:
    """PARENT: among CoT keys equal to v the earliest wins by >= beta; every non-match (including the
    sink, cot_val = 0) is >= beta below every match; positions up to the model's max_len."""
    lay, head = model.layout, _head(model, 4, "PARENT")
    L = int(model.meta["max_len"])
    v, k = z3.Int("v"), z3.Int("k")
    qenv = environment(lay, {"num": v, "num_sq": _nsq(v), "one": 1, "pos": k}, "q")

    def key(tag):
        pos, cv = z3.Int(f"{tag}.pos"), z3.Int(f"{tag}.cot_val")
        env = environment(lay, {"pos": pos, "one": 1, "cot_val": cv, "cot_sq": cv * cv}, tag)
        return env, pos, cv, [between(pos, 1, k), between(cv, 0, n)]

    e1, p1, c1, k1 = key("k1")
    e2, p2, c2, k2 = key("k2")
    base = [between(v, 1, n), between(k, 1, L)] + k1 + k2
    s1, s2 = score(head, lay, e1, qenv), score(head, lay, e2, qenv)
    show = {"v": v, "k": k, "k1'": p1, "cot_val@k1'": c1, "k2'": p2, "cot_val@k2'": c2}
    return [Obligation("PARENT: the earliest CoT occurrence of v beats a later one by beta",
                       base + [c1 == v, c2 == v, p1 < p2], s1 - s2 >= beta, show),
            Obligation("PARENT: every occurrence of v beats every non-match by beta",
                       base + [c1 == v, c2 != v], s1 - s2 >= beta, show)]


def visited_head(model, n: int, beta) -> list[Obligation]:
    cand = z3.Int("cand")
    query = {"cand": cand, "cand_sq": cand * cand, "one": 1}

    def key(tag):
        cv = z3.Int(f"{tag}.cot_val")
        return {BOS: 0, "one": 1, "cot_val": cv, "cot_sq": cv * cv}, [between(cv, 0, n)]

    return _three_level(model, _head(model, 7, "VISITED"), query, [between(cand, 1, n)], key,
                        lambda g: g["cot_val"] == cand, {"cand": cand}, "VISITED", beta)


STEPS = {"block1": block1, "block4": block4, "block5": block5, "block6": block6, "block7": block7}
HEADS = {"EDGE": edge_head, "PARENT": parent_head, "NEXT": next_heads, "VISITED": visited_head}


def obligations(n: int, model=None) -> list[Obligation]:
    model = build_istree_transformer(n) if model is None else model
    beta = const(Fraction(model.meta.get("beta", 64.0)))
    obs = []
    for step in STEPS.values():
        obs += step(model, n)
    for head in HEADS.values():
        obs += head(model, n, beta)
    return obs
