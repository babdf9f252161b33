"""Precision certificates: the smallest p for which the margin argument proves R_p correct.

The argument (for a construction whose hard-attention forward pass is correct — the Z3 proofs of
:mod:`verify.smt.models` for small n, the gadget lemmas for every n). Hard attention here is the
exact rational model: each column averages uniformly over its maximal keys. With q = (p-1)/2:

1. **range**: every intermediate (weights, residual coordinates, each projection and its partial
   sums, each score and score difference, each FFN gate, linear part and product, each logit) has
   magnitude <= 2^q - 2^-q, so nothing saturates;
2. **grid**: every intermediate whose exact value is a dyadic rational has <= q fraction bits, so
   R_p computes it without rounding;
3. **one-hot**: every head's margin satisfies ``beta gap - 2 e_s >= (q + 1) ln 2 + ln L`` (rational
   upper bounds on the logarithms), where e_s bounds the rounding error of its scores, so every
   off-target exp rounds to 0 and the target weight to 1;
4. **rounding error** (for constructions with *tied* heads, which average over several maximal
   keys: COUNT's 1/(m+1) is not dyadic, so R_p rounds it): every such head reads exact scores, so
   its tied keys tie in R_p too, and the rounding error, carried forward as a bound e on
   |R_p value - exact value| through every later operation (ReLU is 1-Lipschitz; a product of two
   grid numbers rounds unless one is an exact integer), stays below half the read-out's logit margin
   M: ``2 e_logit < M``. Then R_p's arg-max is the exact model's at every position, so every CoT
   token is the same and, by induction, every later input.

(1), (2) and the errors of (4) are bounded by interval propagation through the built weights
(sound for every input and any attention pattern: an attention output is a convex combination of
values). (3) is an *upper* limit on q: more fraction bits resolve the leaked softmax mass, and the
argument no longer shows exact one-hot weights. The certificate is the smallest odd p meeting
(1)-(4); if no q up to the one-hot limit does, the argument proves nothing at that n.

(4) rests on two premises that the builder states in ``model.meta`` next to its own argument:
``tied_heads`` (the heads whose column may average, and which value destinations the average
reaches: for the others the tied keys' values are 0) and ``logit_margin`` (the exact model's
correct token beats every other by at least M at every checked position). The tests check both on
whole domains at small n (``tests/verify/test_smt.py``). Bounds are computed in float64; the
rounding-error bounds are inflated by 2^-20 relative before they are compared, far more than
float64 loses on them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from constructions import registry
from constructions.gadgets.attention import default_beta
from theory.tokens import BOS as BOS_TOKEN, tok
from verify.smt.encode import max_q, one_hot_bound

BOS = tok(BOS_TOKEN)

INF_BITS = 10**6  # "not dyadic": no q suffices
SLACK = 1.0 + 2.0**-20  # relative inflation of the float64 rounding-error bounds


def _frac_bits(x: float) -> int:
    f = Fraction(float(x))
    d = f.denominator
    return d.bit_length() - 1 if d & (d - 1) == 0 else INF_BITS


@dataclass
class Range:
    """What is known about one coordinate over every input: the exact value lies in [lo, hi] and (if
    dyadic) has at most ``fb`` fraction bits; the R_p value is the exact value if ``exact``, else
    within ``err`` of it (and on the q-grid, as every R_p number)."""

    lo: float
    hi: float
    fb: int  # if not exact: the fraction bits of the exact terms it was summed from
    err: float = 0.0
    exact: bool = True
    supp: float = math.inf  # at how many positions of a sequence the R_p value can be nonzero

    @property
    def mag(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    @property
    def top(self) -> float:
        """A bound on the magnitude of the R_p value."""
        return self.mag + self.err

    @property
    def integer(self) -> bool:
        return self.exact and self.fb == 0


def _lin(terms, bias: float, u: float) -> tuple[Range, float]:
    """``sum_j w_j x_j + bias`` as R_p computes it (each product rounded, then each partial sum), for
    terms ``(w_j, Range of x_j)``; also a bound on every partial sum. ``u`` = 2^-(q+1) is half a grid
    step: a product of an inexact x (any grid number) with a non-integer weight rounds by <= u."""
    lo = hi = float(bias)
    top = abs(float(bias))
    fb = _frac_bits(bias) if bias else 0
    err, exact = 0.0, True
    supp = math.inf if bias else 0.0
    for w, r in terms:
        supp += r.supp
        a, b = w * r.lo, w * r.hi
        lo, hi = lo + min(a, b), hi + max(a, b)
        top += abs(w) * r.top
        if r.exact:
            fb = max(fb, _frac_bits(w) + r.fb)
        else:
            exact = False
            err += abs(w) * r.err
            if _frac_bits(w) > 0:
                err += u
                top += u
    return Range(lo, hi, fb, err, exact, supp), top


def _row(weights: np.ndarray, names, rng: dict[str, Range]):
    return [(float(weights[j]), rng[names[j]]) for j in np.flatnonzero(weights)]


def _mul(a: Range, b: Range, u: float) -> Range:
    prods = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    lo, hi = min(prods), max(prods)
    supp = min(a.supp, b.supp)  # R_p's product of 0 is 0
    if a.exact and b.exact:
        return Range(lo, hi, a.fb + b.fb, supp=supp)
    # |a b - a~ b~| <= |a| |b - b~| + |b~| |a - a~|; the product of two grid numbers is on the grid
    # when one of them is an integer, else it rounds by <= u
    err = a.mag * b.err + b.top * a.err + (0.0 if a.integer or b.integer else u)
    return Range(lo, hi, 0, err, False, supp)


def _relu(r: Range) -> Range:
    return Range(max(r.lo, 0.0), max(r.hi, 0.0), r.fb, r.err, r.exact, r.supp)


def _add(old: Range, d: Range) -> Range:
    return Range(old.lo + d.lo, old.hi + d.hi, max(old.fb, d.fb), old.err + d.err, old.exact and d.exact,
                 old.supp + d.supp)


@dataclass
class Tracker:
    mag: float = 0.0          # largest R_p magnitude (exact magnitude plus error)
    fb: int = 0               # most fraction bits of an exact value
    score_err: float = 0.0    # largest score error of a one-hot head
    logit_err: float = 0.0    # largest logit error
    inexact: list[str] = field(default_factory=list)   # coordinates R_p may round
    problems: list[str] = field(default_factory=list)  # premises the argument cannot use

    def see(self, r: Range | float, fb: int | None = None) -> None:
        if isinstance(r, Range):  # fb: the exact terms' fraction bits, also inside a rounded sum
            self.mag = max(self.mag, r.top)
            self.fb = max(self.fb, r.fb)
        else:
            self.mag = max(self.mag, abs(r))
            self.fb = max(self.fb, fb or 0)


def embedding_ranges(model, length: int) -> dict[str, Range]:
    n = model.vocab.n
    rng = {name: Range(0.0, 0.0, 0, supp=0.0) for name in model.layout.names}
    rng["num"] = Range(0.0, float(n), 0)
    rng["num_sq"] = Range(-n * n / 2.0, 0.0, 1)
    for name in model.vocab.coordinates[2:]:
        rng[name] = Range(0.0, 1.0, 0)
    rng[BOS] = Range(0.0, 1.0, 0, supp=1.0)  # every task's sequence has <s> at position 1 only
    rng["pos"] = Range(1.0, float(length), 0)
    return rng


def tied_destinations(model) -> dict[str, set[str] | None]:
    """``meta["tied_heads"]`` as {head name: the value destinations its average reaches, None = all}."""
    out = {}
    for name, dsts in model.meta.get("tied_heads", {}).items():
        out[name] = None if dsts == "all" else set(dsts)
    return out


def propagate(model, length: int, q: int | None = None) -> Tracker:
    """Bounds on every intermediate of the forward pass and the logits, for inputs of at most
    ``length`` tokens; rounding errors at q fraction bits (``q=None``: exactness only, no errors)."""
    u = 0.0 if q is None else 2.0 ** -(q + 1)
    names = model.layout.names
    tied = tied_destinations(model)
    rng = embedding_ranges(model, length)
    t = Tracker()
    for p in model.named_arrays().values():
        for w in np.unique(p[p != 0]):
            t.see(float(w), _frac_bits(w))
    for r in rng.values():
        t.see(r)
    for block in model.blocks:
        new = dict(rng)
        for head in block.heads:
            averages = tied.get(head.name, set())
            s_top, s_err, s_fb, s_exact = 0.0, 0.0, 0, True
            for r in range(head.W_Q.shape[0]):
                qf, qm = _lin(_row(head.W_Q[r] * model.scale, names, rng), 0.0, u)
                kf, km = _lin(_row(head.W_K[r], names, rng), 0.0, u)
                t.see(qm), t.see(km), t.see(qf), t.see(kf)
                prod = _mul(qf, kf, u)
                t.see(prod)
                s_top, s_err, s_exact = s_top + prod.top, s_err + prod.err, s_exact and prod.exact
                s_fb = max(s_fb, prod.fb)
            t.see(2 * s_top, s_fb)  # partial sums of the score and the difference s - max
            if averages != set():  # a declared average: its tied keys must tie in R_p too
                if not s_exact:
                    t.problems.append(f"{head.name} averages over tied keys but its scores are rounded")
            else:
                t.score_err = max(t.score_err, s_err)
            for c, name in enumerate(names):
                if not head.W_V[c].any():
                    continue
                v, vm = _lin(_row(head.W_V[c], names, rng), 0.0, u)
                t.see(vm), t.see(v)
                if averages is None or name in averages:
                    # sum over the tied keys of ROUND(w~ v~) with w~ = ROUND(1/m), against sum v / m:
                    # sum (ROUND(w~ v~) - w~ v~) + sum (w~ - 1/m) v~ + sum (v~ - v) / m. Only keys with
                    # v~ != 0 (at most supp <= L of them) round or contribute to the first two terms
                    m = min(float(length), v.supp)
                    err = (0.0 if v.integer else m * u) + m * u * v.top + v.err
                    out = Range(min(v.lo, 0.0), max(v.hi, 0.0), 0, err, False)
                    t.see((1.0 + m * u) * v.top + m * u)
                else:  # one key with weight exactly 1: the value itself
                    out = Range(min(v.lo, 0.0), max(v.hi, 0.0), v.fb, v.err, v.exact)
                new[name] = _add(new[name], out)
                t.see(new[name])
        rng = new
        if block.ffn is not None:
            f = block.ffn
            hidden = []
            for i in range(f.W_1.shape[0]):
                g, gm = _lin(_row(f.W_1[i], names, rng), float(f.b_1[i]), u)
                lin, lm = _lin(_row(f.W_2[i], names, rng), float(f.b_2[i]), u)
                t.see(gm), t.see(lm)
                h = _mul(_relu(g), lin, u)
                t.see(h)
                hidden.append(h)
            new = dict(rng)
            for c, name in enumerate(names):
                if f.W_3[c].any() or f.b_3[c]:
                    out, om = _lin([(float(f.W_3[c, i]), hidden[i]) for i in np.flatnonzero(f.W_3[c])],
                                   float(f.b_3[c]), u)
                    t.see(om)
                    new[name] = _add(rng[name], out)
                    t.see(new[name])
            rng = new
    # the tied read-out: logit(id) = sum_c E[id, c] x_c over the embedding coordinates
    e = model.vocab.embedding_matrix()
    for row in e[1:]:
        z, zm = _lin(_row(row, names, rng), 0.0, u)
        t.see(zm), t.see(z)
        t.logit_err = max(t.logit_err, z.err)
    t.inexact = [name for name in names if not rng[name].exact]
    return t


def q_for_magnitude(mag: float) -> int:
    """The least q with mag <= 2^q - 1 (so <= 2^q - 2^-q); float64 sums above 2^52 may be a few ulps
    low, so they are inflated first."""
    if mag >= 2.0**52:
        mag *= 1.0 + 2.0**-40
    return max(1, math.ceil(math.log2(mag + 1.0)))


@dataclass
class Certificate:
    construction: str
    n: int
    length: int
    max_magnitude: float
    fraction_bits: int
    q_range: int            # smallest q meeting (1) and (2)
    q_one_hot: int          # largest q meeting (3) over every head (without rounding errors)
    p: int | None           # the certificate, or None
    inexact: list[str] = field(default_factory=list)  # coordinates R_p rounds (argument (4))
    q_error: int | None = None  # smallest q >= q_range meeting (1)-(4) with the rounding errors
    logit_error: float | None = None  # the bound on a logit's rounding error at the certified q
    note: str = ""

    def as_dict(self) -> dict:
        return {"construction": self.construction, "n": self.n, "L": self.length,
                "max_magnitude": self.max_magnitude,
                "fraction_bits": None if self.fraction_bits >= INF_BITS else self.fraction_bits,
                "q_needed": None if self.q_range >= INF_BITS else self.q_range,
                "q_one_hot_max": self.q_one_hot, "rounded_coordinates": self.inexact,
                "q_with_rounding": self.q_error, "logit_error_bound": self.logit_error,
                "proved_p": self.p, "note": self.note}


# The score gaps of each retrieval Transformer's heads: its builder uses default_beta(L, gap) for each
# head kind (COPY and COUNT: gap 1; Match: gap 5).
GAPS = {"index": [5], "ar": [1, 5], "cgram": [1, 5], "counting": [1]}


def certificate(construction: str, n: int, model=None) -> Certificate:
    """The margin-argument certificate for one construction and size (of its built weights, or of
    ``model``)."""
    entry = registry.get(construction, "transformer")
    task = registry.task_of_size(entry.task, n)
    model = model if model is not None else entry.build(task)
    length = task.max_length()
    if construction == "istree":
        # every head's target beats every other key by beta (docstring of the builder)
        beta_gaps = [Fraction(model.meta["beta"])]
    else:
        beta_gaps = [Fraction(default_beta(length, g)) * g for g in GAPS[construction]]
    t = propagate(model, length)
    q_range = max(q_for_magnitude(t.mag), t.fb)
    q_hot = min(max_q(bg, length) for bg in beta_gaps)
    cert = Certificate(construction, n, length, t.mag, t.fb, q_range, q_hot, None, t.inexact)
    if t.problems:
        cert.note = "; ".join(t.problems)
        return cert
    if q_range > q_hot:
        cert.note = f"the range needs q >= {q_range}, the one-hot margin allows q <= {q_hot}"
        return cert
    if not t.inexact:  # (1)-(3): R_p computes the exact model
        cert.p = 2 * q_range + 1
        return cert
    margin = model.meta.get("logit_margin")
    if margin is None:
        cert.note = "rounded values, but the builder states no logit margin"
        return cert
    for q in range(q_range, q_hot + 1):
        e = propagate(model, length, q)
        if e.problems or q_for_magnitude(e.mag) > q or 2 * e.logit_err * SLACK >= margin:
            continue
        slack = 2 * Fraction(e.score_err * SLACK)
        if all(one_hot_bound(bg - slack, q, length) for bg in beta_gaps):
            cert.p, cert.q_error, cert.logit_error = 2 * q + 1, q, e.logit_err
            return cert
    cert.note = f"no q in {q_range}..{q_hot} keeps the rounding errors below the margins"  # (4) or (3) with e_s
    return cert


CONSTRUCTIONS = ["index", "ar", "cgram", "counting", "istree"]


def measured_from_certificate(path: str) -> tuple[int | None, str]:
    """(min_precision, note) from a checker's ``--json`` certificate written with ``--min-precision``."""
    with open(path) as handle:
        cert = json.load(handle)
    if "min_precision" not in cert:
        raise ValueError(f"{path} is not a --min-precision certificate")
    parts = cert.get("domain", {})
    kind = parts.get("kind") or parts.get("description", "")
    return cert["min_precision"], f"{cert.get('instances_checked', '?')} instances ({kind})"



def premise_violations(construction: str, n: int, model=None, tol: float = 1e-9) -> list[str]:
    """Check argument (4)'s premises on the task's whole default domain at size n, in the hard
    (exact-attention) model: a column with several maximal keys belongs to a head in ``tied_heads``,
    and reaches only its declared destinations (the others read 0 at every tied key); at every
    checked position the expected token beats every other logit by ``logit_margin``. Returns one
    line per violation (empty: the premises hold on this domain).

    Only the columns that can reach a checked position count: a head whose output no later part
    reads at an earlier row (:func:`constructions.runtime.transformer.row_plan`) matters from the
    first checked position on; before it (in the prompt) its columns may tie, and nothing that
    reaches a checked position reads them."""
    from constructions.runtime.arithmetic import HARD
    from constructions.runtime.transformer import row_plan
    from verify import core

    entry = registry.get(construction, "transformer")
    task = registry.task_of_size(entry.task, n)
    model = model if model is not None else entry.build(task)
    tied = tied_destinations(model)
    margin = model.meta.get("logit_margin")
    domain = task.domain()
    plan = row_plan(model.blocks, model.d)  # which heads' outputs reach a checked row from every row
    found: dict[str, int] = {}

    def violation(what: str) -> None:
        found[what] = found.get(what, 0) + 1

    for c in range(domain.n_chunks):
        _, chunk = domain.chunk(c)
        seqs = core.build_sequences(entry, task, model, chunk)
        for rows in core.batches(seqs.lengths):
            width = int(seqs.lengths[rows].max())
            ids = seqs.ids[rows, :width]
            k = np.arange(width)[None, :]
            real = k < seqs.lengths[rows][:, None]  # (B, L) positions of the sequence
            wanted = real & (k >= seqs.starts[rows][:, None])  # from the first checked position on
            final, trace = model.forward(ids, HARD, dump=True)
            for i, block in enumerate(model.blocks):
                x_in = trace[i]["residual"]
                for head, full in zip(block.heads, plan[i][0]):
                    w = trace[i + 1]["attention"][head.name]  # (B, queries, keys)
                    tied_cols = ((w > tol).sum(axis=-1) > 1) & (real if full else wanted)
                    if not tied_cols.any():
                        continue
                    if head.name not in tied:
                        violation(f"{head.name} (block {i + 1}) ties keys but is not in tied_heads")
                        continue
                    declared = tied[head.name]
                    if declared is None:
                        continue
                    for dst in set(model.layout.names) - declared:
                        row = head.W_V[model.layout[dst]]
                        if not row.any():
                            continue
                        v = x_in @ row  # (B, keys)
                        read = (w > tol) & tied_cols[..., None] & (v[:, None, :] != 0)
                        if read.any():
                            violation(f"{head.name} (block {i + 1}) averages nonzero values into {dst}")
            if margin is not None:
                logits = model.logits(final, HARD)
                mask = core.check_mask(seqs, rows, width)
                b, k = np.nonzero(mask)
                right = logits[b, k, ids[b, k + 1]]
                others = logits[b, k].copy()
                others[np.arange(len(b)), ids[b, k + 1]] = -np.inf
                short = right - others.max(axis=-1) < margin - tol
                if short.any():
                    violation(f"the expected token wins by less than logit_margin = {margin} "
                              f"(by {float((right - others.max(axis=-1)).min()):.6g})")
    return [f"{what} ({count} batches)" for what, count in found.items()]
