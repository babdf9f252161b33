"""Whole-model Z3 proofs: the hard-attention forward pass of a built Transformer over every input.

:func:`forward` runs a :class:`~constructions.runtime.transformer.Transformer` on a *symbolic* token
sequence: each position's embedding is a Z3 term (number tokens are integer variables), FFNs are
encoded exactly (:func:`verify.smt.encode.ffn_output`), and each attention column selects the key
with the strictly largest score. That is the runtime's ``hard`` mode whenever the arg-max is unique,
so the proof has two obligations:

* **unique**: for every input of the domain, every attention column has a strict arg-max (else the
  hard average would mix keys; a tie is reported as a counterexample);
* **answer**: the tied read-out at the last position has a strict arg-max, and it is the reference
  answer (theory.tasks.<task>.solve, re-stated as a Z3 term).

Proved for every instance of a size n (the whole alphabet 1..n, not only the checkers' small
alphabets). Index and AR instances have length n + 2, so proving every n up to N covers every input of
length <= N + 2.
"""

from __future__ import annotations

from fractions import Fraction

import z3

from verify.smt.encode import Obligation, between, const, dot, ffn_output, score


def embed_numbers(model, tokens: list) -> list[dict]:
    """Embeddings of a prompt whose entries are special-token names or Z3 integer terms (numbers)."""
    vocab, lay = model.vocab, model.layout
    out = []
    for k, tok in enumerate(tokens, start=1):
        env = {name: z3.IntVal(0) for name in lay.names}
        if isinstance(tok, str):
            env[f"tok:{tok}"] = z3.IntVal(1)
        else:
            env["num"], env["num_sq"] = tok, z3.ToReal(tok * tok) * const(Fraction(-1, 2))
        env["pos"] = z3.IntVal(k)
        out.append(env)
    assert all(name in lay.names for name in vocab.coordinates)
    return out


def forward(model, residuals: list[dict]) -> tuple[list[dict], list[tuple[str, z3.BoolRef]]]:
    """Hard-attention forward pass; returns the final residuals and, per (block, head, position) and
    pair of keys, the condition "these two keys do not tie at the column's maximum"."""
    lay = model.layout
    x = residuals
    unique = []
    scale = model.scale
    for bi, block in enumerate(model.blocks):
        # Only the last position's read-out is checked: a block's columns at earlier positions matter
        # only if a later block has attention (which reads them as keys). Skipped columns are left
        # without this block's attention output and are never read.
        later_heads = any(b.heads for b in model.blocks[bi + 1:])
        needed = range(len(x)) if later_heads else [len(x) - 1]
        y = [dict(env) for env in x]
        for head in block.heads:
            vals = [{name: dot(head.W_V[c], lay.names, env) for c, name in enumerate(lay.names)
                     if head.W_V[c].any()} for env in x]
            for k in needed:
                scores = [z3.simplify(score(head, lay, x[j], x[k], scale)) for j in range(k + 1)]
                sel = [z3.And([scores[j] > scores[i] for i in range(k + 1) if i != j]) if k else z3.BoolVal(True)
                       for j in range(k + 1)]
                # The column has a strict arg-max iff no two keys tie at the maximum. One obligation per
                # pair of keys is far easier for Z3 than the disjunction over winners (0.1 s vs 25 s for
                # the c-gram Match column at n = 5), and a failure names the tied pair.
                for i in range(k + 1):
                    for j in range(i + 1, k + 1):
                        tie = z3.And([scores[i] == scores[j]] + [scores[i] >= scores[l] for l in range(k + 1)])
                        unique.append((f"block {bi + 1} head {head.name!r} position {k + 1}: keys {i + 1} and "
                                       f"{j + 1} do not tie at the maximum", z3.Not(tie)))
                for name in vals[0]:
                    picked = z3.IntVal(0)
                    for j in range(k, -1, -1):
                        picked = z3.If(sel[j], vals[j][name], picked)
                    y[k][name] = z3.simplify(y[k][name] + picked)
        if block.ffn is not None:
            for k in needed:
                out = ffn_output(block.ffn, lay, y[k])
                y[k] = {name: z3.simplify(y[k][name] + out[name]) for name in lay.names}
        x = y
    return x, unique


def readout_obligation(model, final: dict, answer, constraints: list, show: dict, label: str) -> Obligation:
    """The tied read-out at ``final`` has the number ``answer`` as its strict arg-max."""
    n = model.vocab.n
    logit = {i: i * final["num"] - const(Fraction(i * i, 2)) * final["num_sq"] for i in range(1, n + 1)}
    target = z3.IntVal(0)
    for i in range(n, 0, -1):
        target = z3.If(answer == i, logit[i], target)
    wins = [z3.Or(answer == i, logit[i] < target) for i in range(1, n + 1)]
    wins += [final[f"tok:{name}"] < target for name in model.vocab.specials]
    return Obligation(label, constraints, z3.And(wins), show)


def model_obligations(model, tokens: list, constraints: list, answer, show: dict, task: str) -> list[Obligation]:
    final, unique = forward(model, embed_numbers(model, tokens))
    obs = [Obligation(f"{task}: {where}", constraints, cond, show) for where, cond in unique]
    obs.append(readout_obligation(model, final[-1], answer, constraints, show,
                                  f"{task}: the read-out's unique arg-max is the reference answer"))
    return obs


# -- tasks ----------------------------------------------------------------------------------------------
def index_obligations(model, n: int) -> list[Obligation]:
    """Index (Def 4.2): <s>, x_1..x_n, i -> x_i, for every x in [n]^n and i in [n]."""
    xs = [z3.Int(f"x{j}") for j in range(1, n + 1)]
    i = z3.Int("i")
    cons = [between(v, 1, n) for v in xs] + [between(i, 1, n)]
    answer = z3.IntVal(0)
    for j in range(n, 0, -1):
        answer = z3.If(i == j, xs[j - 1], answer)
    show = {**{f"x{j + 1}": v for j, v in enumerate(xs)}, "i": i}
    return model_obligations(model, ["<s>", *xs, i], cons, answer, show, "index")


def ar_obligations(model, n: int) -> list[Obligation]:
    """AR (Def 4.3): <s>, x_1..x_n, q -> x_{j+1} for the first j <= n-1 with x_j = q (q must occur)."""
    xs = [z3.Int(f"x{j}") for j in range(1, n + 1)]
    q = z3.Int("q")
    cons = [between(v, 1, n) for v in xs] + [between(q, 1, n), z3.Or([xs[j] == q for j in range(n - 1)])]
    answer = z3.IntVal(0)
    for j in range(n - 2, -1, -1):
        answer = z3.If(xs[j] == q, xs[j + 1], answer)
    show = {**{f"x{j + 1}": v for j, v in enumerate(xs)}, "q": q}
    return model_obligations(model, ["<s>", *xs, q], cons, answer, show, "ar")


def cgram_obligations(model, n: int, c: int = 3) -> list[Obligation]:
    """c-gram retrieval: <s>, x_1..x_n, q_1..q_{c-1} -> the token after the first occurrence of q."""
    xs = [z3.Int(f"x{j}") for j in range(1, n + 1)]
    qs = [z3.Int(f"q{j}") for j in range(1, c)]
    occurs = [z3.And([xs[j + t] == qs[t] for t in range(c - 1)]) for j in range(n - c + 1)]
    cons = [between(v, 1, n) for v in xs + qs] + [z3.Or(occurs)]
    answer = z3.IntVal(0)
    for j in range(n - c, -1, -1):
        answer = z3.If(occurs[j], xs[j + c - 1], answer)
    show = {**{f"x{j + 1}": v for j, v in enumerate(xs)}, **{f"q{j + 1}": v for j, v in enumerate(qs)}}
    return model_obligations(model, ["<s>", *xs, *qs], cons, answer, show, "cgram")
