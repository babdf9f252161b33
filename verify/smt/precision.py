"""Precision certificates: the smallest p for which the margin argument proves R_p exactness.

The argument (for a construction whose hard-attention forward pass is correct — the Z3 proofs of
:mod:`verify.smt.models` for small n, the gadget lemmas for every n): R_p arithmetic (App. A.2,
round after every operation) computes exactly the hard-attention forward pass if, with q = (p-1)/2,

1. **range**: every intermediate (weights, residual coordinates, each projection and its partial
   sums, each score and score difference, each FFN gate, linear part and product) has magnitude
   <= 2^q - 2^-q, so nothing saturates;
2. **grid**: every intermediate is a dyadic rational with <= q fraction bits, so no rounding happens;
3. **one-hot**: every head's margin satisfies ``beta gap >= (q + 1) ln 2 + ln L`` (rational upper
   bounds on the logarithms), so every off-target exp rounds to 0 and the target weight to 1.

(1) and (2) are bounded by interval propagation through the built weights (sound for every input
and any attention pattern: an attention output is a convex combination of values). (3) is an
*upper* limit on q: more fraction bits resolve the leaked softmax mass, and the argument no longer
shows exact one-hot weights. The certificate is the smallest odd p meeting (1)-(2), provided it also
meets (3); otherwise the argument proves nothing at that n.

Constructions whose values are non-dyadic (COUNT's unit fractions 1/(m+1): counting, istree) fail
(2) for every q: their exactness needs a rounding-error analysis that this argument does not make.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from constructions import registry
from constructions.gadgets.attention import default_beta
from verify.smt.encode import max_q

INF_BITS = 10**6  # "not dyadic": no q suffices


def _frac_bits(x: float) -> int:
    f = Fraction(float(x))
    d = f.denominator
    return d.bit_length() - 1 if d & (d - 1) == 0 else INF_BITS


@dataclass
class Range:
    lo: float
    hi: float
    fb: int  # fraction bits of every value the coordinate can take

    @property
    def mag(self) -> float:
        return max(abs(self.lo), abs(self.hi))


def _dot(row: np.ndarray, names, rng: dict[str, Range], bias: float = 0.0) -> tuple[Range, float]:
    """Interval of row . x + bias, and a bound on every partial sum (sum of |terms|)."""
    lo = hi = bias
    mag = abs(bias)
    fb = _frac_bits(bias) if bias else 0
    for j in np.flatnonzero(row):
        w, r = float(row[j]), rng[names[j]]
        a, b = w * r.lo, w * r.hi
        lo, hi = lo + min(a, b), hi + max(a, b)
        mag += abs(w) * r.mag
        fb = max(fb, _frac_bits(w) + r.fb)
    return Range(lo, hi, fb), mag


def _mul(a: Range, b: Range) -> Range:
    prods = [a.lo * b.lo, a.lo * b.hi, a.hi * b.lo, a.hi * b.hi]
    return Range(min(prods), max(prods), a.fb + b.fb)


class Tracker:
    def __init__(self):
        self.mag = 0.0
        self.fb = 0

    def see(self, r: Range | float, fb: int | None = None) -> None:
        if isinstance(r, Range):
            self.mag, self.fb = max(self.mag, r.mag), max(self.fb, r.fb)
        else:
            self.mag = max(self.mag, abs(r))
            self.fb = max(self.fb, fb or 0)


def embedding_ranges(model, length: int) -> dict[str, Range]:
    n = model.vocab.n
    rng = {name: Range(0.0, 0.0, 0) for name in model.layout.names}
    rng["num"] = Range(0.0, float(n), 0)
    rng["num_sq"] = Range(-n * n / 2.0, 0.0, 1)
    for name in model.vocab.coordinates[2:]:
        rng[name] = Range(0.0, 1.0, 0)
    rng["pos"] = Range(1.0, float(length), 0)
    return rng


def propagate(model, length: int) -> Tracker:
    """Bounds on every intermediate of the forward pass, for inputs of at most ``length`` tokens."""
    names = model.layout.names
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
            smag, sfb = 0.0, 0
            for r in range(head.W_Q.shape[0]):
                qf, qm = _dot(head.W_Q[r] * model.scale, names, rng)
                kf, km = _dot(head.W_K[r], names, rng)
                t.see(qm), t.see(km), t.see(qf), t.see(kf)
                prod = _mul(qf, kf)
                t.see(prod)
                smag += prod.mag
                sfb = max(sfb, prod.fb)
            t.see(2 * smag, sfb)  # partial sums of the score and the difference s - max
            # COUNT heads average over tied keys by design: 1/(m+1) is not dyadic (outside the argument)
            averaging = head.name.upper().startswith("COUNT")
            for c, name in enumerate(names):
                if head.W_V[c].any():
                    v, vm = _dot(head.W_V[c], names, rng)
                    if averaging:
                        v = Range(v.lo, v.hi, INF_BITS)
                    t.see(vm), t.see(v)
                    old = new[name]
                    new[name] = Range(old.lo + min(v.lo, 0.0), old.hi + max(v.hi, 0.0), max(old.fb, v.fb))
                    t.see(new[name])
        rng = new
        if block.ffn is not None:
            f = block.ffn
            hidden = []
            for i in range(f.W_1.shape[0]):
                g, gm = _dot(f.W_1[i], names, rng, float(f.b_1[i]))
                lin, lm = _dot(f.W_2[i], names, rng, float(f.b_2[i]))
                t.see(gm), t.see(lm)
                h = _mul(Range(max(g.lo, 0.0), max(g.hi, 0.0), g.fb), lin)
                t.see(h)
                hidden.append(h)
            new = dict(rng)
            for c, name in enumerate(names):
                if f.W_3[c].any() or f.b_3[c]:
                    lo = hi = float(f.b_3[c])
                    mag, fb = abs(lo), _frac_bits(lo) if lo else 0
                    for i in np.flatnonzero(f.W_3[c]):
                        w = float(f.W_3[c, i])
                        a, b = w * hidden[i].lo, w * hidden[i].hi
                        lo, hi, mag = lo + min(a, b), hi + max(a, b), mag + abs(w) * hidden[i].mag
                        fb = max(fb, _frac_bits(w) + hidden[i].fb)
                    t.see(mag, fb)
                    old = rng[name]
                    new[name] = Range(old.lo + lo, old.hi + hi, max(old.fb, fb))
                    t.see(new[name])
            rng = new
    return t


@dataclass
class Certificate:
    construction: str
    n: int
    length: int
    max_magnitude: float
    fraction_bits: int
    q_range: int            # smallest q meeting (1) and (2)
    q_one_hot: int          # largest q meeting (3) over every head
    p: int | None           # the certificate, or None

    def as_dict(self) -> dict:
        return {"construction": self.construction, "n": self.n, "L": self.length,
                "max_magnitude": self.max_magnitude,
                "fraction_bits": None if self.fraction_bits >= INF_BITS else self.fraction_bits,
                "q_needed": None if self.q_range >= INF_BITS else self.q_range,
                "q_one_hot_max": self.q_one_hot, "proved_p": self.p}


# The score gaps of each retrieval Transformer's heads: its builder uses default_beta(L, gap) for each
# head kind (COPY and COUNT: gap 1; Match: gap 5).
GAPS = {"index": [5], "ar": [1, 5], "cgram": [1, 5], "counting": [1]}


def certificate(construction: str, n: int) -> Certificate:
    """The margin-argument certificate for one construction and size."""
    entry = registry.get(construction, "transformer")
    task = registry.task_of_size(entry.task, n)
    model = entry.build(task)
    length = task.max_length()
    if construction == "istree":
        # every head's target beats every other key by beta (docstring of the builder)
        beta_gaps = [Fraction(model.meta["beta"])]
    else:
        beta_gaps = [Fraction(default_beta(length, g)) * g for g in GAPS[construction]]
    t = propagate(model, length)
    t.fb = min(t.fb, INF_BITS)
    q_int = max(1, math.ceil(math.log2(t.mag + 1.0)))
    q_range = max(q_int, t.fb)
    q_hot = min(max_q(bg, length) for bg in beta_gaps)
    p = 2 * q_range + 1 if q_range <= q_hot else None
    return Certificate(construction, n, length, t.mag, t.fb, q_range, q_hot, p)


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

