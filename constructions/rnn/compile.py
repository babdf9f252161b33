"""Compile a Linear RNN (Defs 3.4-3.5) into a circuit RNN (theory.circuit) that is exact in R_p.

The circuit computes, for one position, the next state and the output vector from the previous
state and the current token, bit for bit as the runtime does in ``Rp(p)`` (App. A.2), on every
token of the RNN's input alphabet and every state inside the declared ranges.

How (a symbolic run of one position, tracr-style: each step says why it is exact or refuses):

* **Values.** Every residual coordinate is held either as a *token value* (its value for each input
  token: the embedding coordinates, and linear forms of them) or as a *table* over a few wires
  (gate outputs): the exact value for every assignment of those wires. Linear maps, ReLU and
  products act entry by entry, so nothing is approximated.
* **Exactness.** Every table entry is checked to lie on the R_p grid and within its range, and every
  linear form's terms to add up inside the range in any order. Then R_p arithmetic (round after
  each operation) is exact arithmetic and the tables are the runtime's values. Otherwise
  :class:`CompileError` says which coordinate, which value and why.
* **Wires.** A token value becomes wires (one per varying R_p bit) when it meets a table: bit i of
  the value is an XOR of the input bits ``tok:X`` of the tokens X where that bit differs from a
  base value (the embedding is one-hot on specials, so exactly one ``tok:X`` is 1). A table becomes
  wires (*materialised*) where the state is written, where the output is read, and at coordinates
  the builder lists in ``meta["materialize"]``; each R_p bit is synthesised as an XOR of ANDs of
  literals (a fixed-polarity Reed-Muller form, polarity chosen per bit to need fewest gates).
* **Ranges** (``meta["ranges"]``, coordinate -> [lo, hi]) are the builder's invariants of reachable
  states. Table entries outside a declared range are don't-cares; each bit takes whichever filling
  (the value modulo 2^w, clamped, all 0, all 1) synthesises smallest. So the circuit is exact on
  every state the invariants allow; the tests check the invariants on every reachable state.
* **Sharing.** Gates are hash-consed (an AND or XOR of the same two gates exists once), constants
  fold, and gates no output or next-state bit depends on are removed.

Preconditions: the RNN does not read ``pos`` (a circuit step has no position input); it reads number
tokens only through the special-token coordinates (all number tokens look alike to it); every
state coordinate has an integer range.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from constructions.runtime.rnn import LinearRNN
from theory.circuit import Circuit
from theory.precision import max_value, rp_round

K0, K1 = -1, -2          # the constant wires 0 and 1 (gates are numbered from 1)
MAX_SUPPORT = 20         # a table over more wires than this is refused (declare a materialisation)
EXHAUSTIVE_POLARITY = 7  # try every literal polarity up to this many variables, else greedy


class CompileError(ValueError):
    """The Linear RNN cannot be compiled exactly; the message says why."""


# -- gates ------------------------------------------------------------------------------------------
class Gates:
    """Hash-consed gate list with constant folding. Wires are gate ids (>= 1) or K0 / K1."""

    def __init__(self, p: int):
        self.p = p
        self.list: list[tuple] = []
        self._cache: dict[tuple, int] = {}

    def _add(self, gate: tuple) -> int:
        g = self._cache.get(gate)
        if g is None:
            self.list.append(gate)
            g = self._cache[gate] = len(self.list)
        return g

    def const(self, v: int) -> int:
        return self._add(("const", int(v)))

    def input(self, coord: str, bit: int) -> int:
        return self._add(("input", coord, bit))

    def state(self, j: int, bit: int) -> int:
        return self._add(("state", j, bit))

    def not_(self, a: int) -> int:
        return self.xor(a, K1)

    def and_(self, a: int, b: int) -> int:
        if K0 in (a, b):
            return K0
        if a == K1 or a == b:
            return b
        if b == K1:
            return a
        return self._add(("and", min(a, b), max(a, b)))

    def xor(self, a: int, b: int) -> int:
        if a == K0:
            return b
        if b == K0:
            return a
        if a == b:
            return K0
        if K1 in (a, b):
            x = b if a == K1 else a
            if x == K1:
                return K0
            g = self.list[x - 1]
            if g[0] == "xor" and g[2] == self._cache.get(("const", 1)):  # not(not(y)) = y
                return g[1]
            return self._add(("xor", x, self.const(1)))
        return self._add(("xor", min(a, b), max(a, b)))

    def ref(self, w: int) -> int:
        """A gate id for a wire (a constant wire becomes a const gate)."""
        return self.const(1 if w == K1 else 0) if w in (K0, K1) else w


# -- values -----------------------------------------------------------------------------------------
@dataclass
class Tok:
    """A value that depends on the current token only: ``vals[t]`` for the t-th input token."""

    vals: np.ndarray


@dataclass
class Tab:
    """A value over wires: ``table[b_1, .., b_k]`` for wire values b (axis i <-> ``support[i]``).

    ``care`` (same shape, or None for all) marks the wire assignments that can occur: a state or a
    materialised coordinate decodes to a value in its declared range there, and elsewhere the
    entry is a don't-care that synthesis may fill as it likes.
    """

    support: tuple[int, ...]
    table: np.ndarray
    care: np.ndarray | None = None


def const(v: float) -> Tab:
    return Tab((), np.array(float(v)))


ONE = const(1.0)


def _reduce(t: Tab) -> Tab:
    """Drop the wires neither the table nor its care mask depends on."""
    sup, tab, care = list(t.support), t.table, t.care
    i = 0
    while i < len(sup):
        same = np.array_equal(np.take(tab, 0, axis=i), np.take(tab, 1, axis=i))
        if same and care is not None:
            same = np.array_equal(np.take(care, 0, axis=i), np.take(care, 1, axis=i))
        if same:
            tab = np.take(tab, 0, axis=i)
            care = None if care is None else np.take(care, 0, axis=i)
            del sup[i]
        else:
            i += 1
    if care is not None and care.all():
        care = None
    return Tab(tuple(sup), tab, care)


def _care(parts, support) -> np.ndarray | None:
    """The joint care mask of several tables over ``support`` (None: every assignment occurs)."""
    masks = [_expand(Tab(v.support, v.care), support) for v in parts if isinstance(v, Tab) and v.care is not None]
    if not masks:
        return None
    out = np.ones((2,) * len(support), dtype=bool)
    for m in masks:
        out = out & m
    return out


def _expand(t: Tab, support: tuple[int, ...]) -> np.ndarray:
    have = set(t.support)
    return np.asarray(t.table).reshape([2 if w in have else 1 for w in support])


def _full(t: Tab, support) -> np.ndarray:
    return np.broadcast_to(_expand(t, support), (2,) * len(support))


# -- ANF synthesis ----------------------------------------------------------------------------------
def _moebius(t: np.ndarray) -> np.ndarray:
    """GF(2) Moebius transform: ANF coefficients of a 0/1 table (axis i = variable i)."""
    a = t.astype(np.uint8).copy()
    for i in range(a.ndim):
        lo = [slice(None)] * a.ndim
        hi = list(lo)
        lo[i], hi[i] = 0, 1
        a[tuple(hi)] ^= a[tuple(lo)]
    return a


def _flip(t: np.ndarray, mask: int) -> np.ndarray:
    for i in range(t.ndim):
        if mask >> i & 1:
            t = np.flip(t, axis=i)
    return t


def _cost(coef: np.ndarray, mask: int) -> int:
    """Gates to build an ANF: ANDs per monomial, XORs between monomials, one NOT per negated literal."""
    idx = np.argwhere(coef)
    if len(idx) == 0:
        return 0
    degree = idx.sum(axis=1)
    used = np.any(idx, axis=0)
    negs = sum(1 for i in range(coef.ndim) if mask >> i & 1 and used[i])
    return int(np.maximum(degree - 1, 0).sum()) + len(idx) - 1 + negs


def _best_form(t: np.ndarray) -> tuple[int, np.ndarray, int]:
    """(cost, coefficients, polarity mask) of the cheapest fixed-polarity form found."""
    k = t.ndim
    if k <= EXHAUSTIVE_POLARITY:
        best = None
        for mask in range(2**k):
            coef = _moebius(_flip(t, mask))
            c = _cost(coef, mask)
            if best is None or c < best[0]:
                best = (c, coef, mask)
        return best
    mask = 0
    coef = _moebius(t)
    best = (_cost(coef, 0), coef, 0)
    for _ in range(3):
        improved = False
        for i in range(k):
            m = best[2] ^ (1 << i)
            coef = _moebius(_flip(t, m))
            c = _cost(coef, m)
            if c < best[0]:
                best, improved = (c, coef, m), True
        if not improved:
            break
    return best


def _drop_free(support: tuple[int, ...], t: np.ndarray, care: np.ndarray | None):
    """Drop each variable the function does not depend on where both assignments are cared for,
    filling the don't-cares from the other half (greedy, in support order)."""
    sup = list(support)
    if care is None:
        r = _reduce(Tab(support, t.astype(float)))
        return r.support, r.table.astype(np.uint8), None
    t, care = t.astype(np.uint8), care.astype(bool)
    i = 0
    while i < len(sup):
        t0, t1 = np.take(t, 0, axis=i), np.take(t, 1, axis=i)
        c0, c1 = np.take(care, 0, axis=i), np.take(care, 1, axis=i)
        if np.all((t0 == t1) | ~c0 | ~c1):
            t, care = np.where(c0, t0, t1), c0 | c1
            del sup[i]
        else:
            i += 1
    return tuple(sup), t, care


def synthesis_cost(support: tuple[int, ...], t: np.ndarray, care: np.ndarray | None = None) -> int:
    """Estimated gates for :func:`synthesize` (0 for a constant)."""
    sup, t, care = _drop_free(support, t, care)
    if care is not None:
        t = np.where(care, t, 0)
    return _best_form(t)[0] if sup else 0


def encode(x: np.ndarray, p: int) -> np.ndarray:
    """R_p bits of every entry (last axis b_1 .. b_p, sign b_p = 1 for x >= 0); entries must be in R_p."""
    q = (p - 1) // 2
    mag = np.round(np.abs(x) * 2.0**q).astype(np.int64)
    shifts = np.arange(p - 2, -1, -1)
    bits = (mag[..., None] >> shifts) & 1
    return np.concatenate([bits, (x >= 0)[..., None].astype(np.int64)], axis=-1)


def synthesize(gates: Gates, support: tuple[int, ...], t: np.ndarray, care: np.ndarray | None = None) -> int:
    """A wire equal to the 0/1 table ``t`` over ``support`` wherever ``care`` holds (an XOR of ANDs
    of literals). Don't-cares left after dropping free variables are filled with 0 or 1, whichever
    synthesises smaller."""
    support, t, care = _drop_free(support, t, care)
    if care is not None and support:
        fills = [np.where(care, t, 0), np.where(care, t, 1)]
        t = min(fills, key=lambda f: _best_form(f)[0])
    if not support:
        return K1 if int(t) else K0
    _, coef, mask = _best_form(t)
    lit = [gates.not_(w) if mask >> i & 1 else w for i, w in enumerate(support)]
    terms = []
    for m in np.argwhere(coef):
        acc = K1
        for w in sorted(lit[i] for i in np.flatnonzero(m)):
            acc = gates.and_(acc, w)
        terms.append(acc)
    out = K0
    for w in sorted(terms, key=lambda x: (x < 0, x)):
        out = gates.xor(out, w)
    return out


# -- the compiler -----------------------------------------------------------------------------------
class Compiler:
    def __init__(self, rnn: LinearRNN, p: int, ranges: dict, materialize, input_tokens):
        self.rnn, self.p, self.q = rnn, p, (p - 1) // 2
        self.top = max_value(p)
        self.ranges = {k: tuple(v) for k, v in ranges.items()}
        self.materialize = set(materialize)
        self.gates = Gates(p)
        vocab = rnn.vocab
        self.tokens = ([vocab.id(t) for t in input_tokens] if input_tokens is not None
                       else list(range(1, vocab.size + 1)))
        self.is_number = np.array([vocab.is_number(t) for t in self.tokens])
        self._tok_cache: dict[bytes, tuple[list[int], Tab]] = {}

    # -- checks -------------------------------------------------------------------------------------
    def check(self, x: np.ndarray, what: str) -> None:
        bad = ~np.isfinite(x) | (np.abs(x) > self.top) | (rp_round(np.where(np.isfinite(x), x, 0), self.p) != x)
        if np.any(bad):
            v = float(np.asarray(x)[bad].flat[0])
            raise CompileError(f"{what}: value {v!r} is not exact in R_{self.p} (off the 2^-{self.q} grid or "
                               f"beyond +-{self.top}); raise p or change the weights")

    # -- token values to wires ----------------------------------------------------------------------
    def _token_wire(self, bit: np.ndarray) -> int:
        """A wire equal to ``bit[t]`` on input token t (t over self.tokens)."""
        if self.is_number.any():
            nums = bit[self.is_number]
            if not np.all(nums == nums[0]):
                raise CompileError("the RNN reads the value of a number token; the circuit compiler supports "
                                   "inputs read through special-token coordinates only")
            base = int(nums[0])
        else:
            base = int(np.sum(bit) * 2 > len(bit))
        out = K1 if base else K0
        vocab = self.rnn.vocab
        for t, b in zip(self.tokens, bit):
            if b != base and not vocab.is_number(t):
                out = self.gates.xor(out, self.gates.input(f"tok:{vocab.token(t)}", self.q))
        return out

    def tok_to_tab(self, v: Tok, what: str) -> Tab:
        key = v.vals.tobytes()
        hit = self._tok_cache.get(key)
        if hit is None:
            self.check(v.vals, what)
            bits = encode(v.vals, self.p)  # (tokens, p)
            wires = [self._token_wire(bits[:, i]) for i in range(self.p)]
            hit = (wires, self._decode(wires, float(v.vals.min()), float(v.vals.max())))
            self._tok_cache[key] = hit
        return hit[1]

    def as_tab(self, v, what: str) -> Tab:
        if isinstance(v, Tok):
            if np.all(v.vals == v.vals[0]):
                return const(v.vals[0])
            return self.tok_to_tab(v, what)
        return v

    def _as_tok(self, v):
        """A constant table as a token value (so that constants never force token values onto wires)."""
        if isinstance(v, Tab) and not v.support:
            return Tok(np.full(len(self.tokens), float(v.table)))
        return v

    def _decode(self, wires: list[int], lo: float, hi: float) -> Tab:
        """The value whose R_p bits are ``wires`` (constants folded), clamped to [lo, hi]."""
        support = tuple(sorted({w for w in wires if w > 0}))
        pos = {w: i for i, w in enumerate(support)}
        grid = np.array(list(itertools.product((0, 1), repeat=len(support))), dtype=int).reshape(2 ** len(support), -1)
        vals = []
        for row in grid:
            bits = [1 if w == K1 else 0 if w == K0 else row[pos[w]] for w in wires]
            mag = 0
            for b in bits[:-1]:
                mag = 2 * mag + b
            vals.append((1.0 if bits[-1] else -1.0) * mag / 2.0**self.q)
        vals = np.array(vals).reshape((2,) * len(support))
        return _reduce(Tab(support, np.clip(vals, lo, hi), (vals >= lo) & (vals <= hi)))

    # -- arithmetic ---------------------------------------------------------------------------------
    def combine(self, groups: list[list[tuple[float, object]]], what: str):
        """The sum of ``groups`` (each a list of (weight, value) terms), with weights rounded to R_p.

        The runtime adds each group's terms left to right from 0, rounding every partial sum, then
        adds the group sums in order (a matrix product, then a bias, then the residual). This is
        exact iff every term and every such partial sum lies in R_p: checked on every token x every
        wire assignment (or, for a huge table, by the sum of the terms' magnitudes).
        """
        groups = [[(float(rp_round(c, self.p)), v) for c, v in g] for g in groups]
        terms = [t for g in groups for t in g]
        toks = [(c, v) for c, v in terms if isinstance(v, Tok)]
        tabs = [(c, v) for c, v in terms if not isinstance(v, Tok)]
        support = tuple(sorted({w for _, v in tabs for w in v.support}))
        if len(support) > MAX_SUPPORT:
            raise CompileError(f"{what} depends on {len(support)} wires (> {MAX_SUPPORT}); list an earlier "
                               f"coordinate in meta['materialize']")
        ndim = len(support)
        occurs = _care([v for _, v in tabs], support)

        def joint(c, v):
            x = c * (v.vals.reshape((-1,) + (1,) * ndim) if isinstance(v, Tok) else _expand(v, support)[None])
            if occurs is not None:
                x = np.where(occurs[None], x, 0.0)
            self.check(x, f"{what} (a term)")
            return x

        if len(self.tokens) * 2**ndim <= 2**22:
            total = np.zeros(1)
            for g in groups:
                part = np.zeros(1)
                for c, v in g:
                    part = part + joint(c, v)
                    self._check_sum(part, what)
                total = total + part
                self._check_sum(total, what)
        else:
            bound = sum(float(np.abs(joint(c, v)).max()) for c, v in terms)
            if bound > self.top:
                raise CompileError(f"{what}: terms add up to {bound} in magnitude, beyond R_{self.p}'s "
                                   f"{self.top} (a partial sum could saturate); raise p")
        tok = sum((c * v.vals for c, v in toks), np.zeros(len(self.tokens)))
        tok = tok + sum((c * float(v.table) for c, v in tabs if not v.support), 0.0)
        tabs = [(c, v) for c, v in tabs if v.support]
        if not tabs:
            return Tok(tok) if np.any(tok != tok[0]) else const(tok[0])
        parts = tabs + ([(1.0, self.as_tab(Tok(tok), what))] if np.any(tok != 0) else [])
        support = tuple(sorted({w for _, v in parts for w in v.support}))
        table = np.zeros((2,) * len(support))
        for c, v in parts:
            table = table + c * _expand(v, support)
        return _reduce(Tab(support, table, _care([v for _, v in parts], support)))

    def _check_sum(self, x: np.ndarray, what: str) -> None:
        if np.abs(x).max() > self.top:
            raise CompileError(f"{what}: a partial sum reaches {float(np.abs(x).max())}, beyond R_{self.p}'s "
                               f"{self.top} (the runtime would saturate); raise p")

    def reglu(self, gate, lin, what: str):
        gate, lin = self._as_tok(gate), self._as_tok(lin)
        if isinstance(gate, Tok) and isinstance(lin, Tok):
            out = Tok(np.maximum(gate.vals, 0.0) * lin.vals)
            self.check(out.vals, what)
            return out
        g, h = self.as_tab(gate, what), self.as_tab(lin, what)
        support = tuple(sorted(set(g.support) | set(h.support)))
        table = np.maximum(_full(g, support), 0.0) * _full(h, support)
        occurs = _care([g, h], support)
        self.check(table if occurs is None else np.where(occurs, table, 0.0), what)
        return _reduce(Tab(support, table, occurs))

    # -- materialisation ----------------------------------------------------------------------------
    def bits_of(self, v, name: str) -> tuple[list[int], Tab]:
        """The p R_p bits of value ``v`` of coordinate ``name`` as wires, and the value rebuilt from them."""
        if isinstance(v, Tok) and not np.all(v.vals == v.vals[0]):
            self.tok_to_tab(v, name)
            return self._tok_cache[v.vals.tobytes()]
        v = self.as_tab(v, name)
        t = np.asarray(v.table)
        rng = self.ranges.get(name)
        occurs = np.ones(t.shape, dtype=bool) if v.care is None else v.care
        lo, hi = (float(t[occurs].min()), float(t[occurs].max())) if rng is None else map(float, rng)
        care = occurs & (t >= lo) & (t <= hi)
        self.check(np.where(care, t, lo), name)
        if not care.any():
            raise CompileError(f"{name}: no value of the table lies in its declared range [{lo}, {hi}]")
        scale = 2.0**self.q
        fills = [np.where(care, t, np.clip(t, lo, hi))]
        w = max(1, int(round((hi - lo) * scale)).bit_length())
        wrapped = lo + np.mod(np.round((t - lo) * scale), 2**w) / scale
        if np.all(np.abs(wrapped) <= self.top):
            fills.append(np.where(care, t, wrapped))
        encodings = [encode(f, self.p) for f in fills]
        wires = []
        for i in range(self.p):
            candidates = [(e[..., i], None) for e in encodings] + [(encodings[0][..., i], care)]
            bits, mask = min(candidates, key=lambda c: synthesis_cost(v.support, c[0], c[1]))
            wires.append(synthesize(self.gates, v.support, bits, mask))
        return wires, self._decode(wires, lo, hi)

    # -- the run ------------------------------------------------------------------------------------
    def compile(self, name: str, description: str) -> Circuit:
        rnn, layout = self.rnn, self.rnn.layout
        emb = rp_round(rnn.vocab.embedding_matrix()[self.tokens], self.p)
        res: dict[str, object] = {c: Tok(emb[:, j].copy()) for j, c in enumerate(rnn.vocab.coordinates)}
        state_rows = [(bi, int(r)) for bi, b in enumerate(rnn.blocks) for r in b.unit.state_rows()]
        names = [layout.names[r] for _, r in state_rows]
        index = {nm: j for j, nm in enumerate(names)}
        prev = {}
        for nm in names:
            if nm not in self.ranges:
                raise CompileError(f"state coordinate {nm!r} needs a declared integer range (meta['ranges'])")
            lo, hi = self.ranges[nm]
            if lo != int(lo) or hi != int(hi) or lo > hi:
                raise CompileError(f"state coordinate {nm!r}: range {[lo, hi]} is not an integer interval")
            enc = encode(np.arange(int(lo), int(hi) + 1, dtype=float), self.p)
            wires = [K1 if np.all(enc[:, i] == 1) else K0 if np.all(enc[:, i] == 0)
                     else self.gates.state(index[nm], i + 1) for i in range(self.p)]
            prev[nm] = self._decode(wires, lo, hi)
        next_state: dict[str, list[int]] = {}

        def value(c: str):
            if c == "pos":
                raise CompileError("the RNN reads the position coordinate 'pos'; a circuit step has no position "
                                   "input (use a running sum, Lemma C.21)")
            return res.get(c, const(0.0))

        for bi, block in enumerate(rnn.blocks):
            unit = block.unit
            A, B = rp_round(unit.A, self.p), rp_round(unit.B, self.p)
            rows = unit.state_rows()
            new = {}
            for r in rows:
                nm = layout.names[r]
                h = self.combine([[(A[r, c], prev[layout.names[c]]) for c in np.flatnonzero(A[r])],
                                  [(B[r, c], value(layout.names[c])) for c in np.flatnonzero(B[r])]], f"state {nm}")
                wires, rebuilt = self.bits_of(h, nm)
                next_state[nm] = wires
                new[nm] = rebuilt
            for r in rows:
                nm = layout.names[r]
                res[nm] = self.combine([[(1.0, value(nm))], [(1.0, new[nm])]], nm)
            if block.ffn is None:
                continue
            f = block.ffn
            W1, b1, W2, b2 = (rp_round(x, self.p) for x in (f.W_1, f.b_1, f.W_2, f.b_2))
            W3, b3 = rp_round(f.W_3, self.p), rp_round(f.b_3, self.p)
            hidden = []
            for u in range(f.width):
                label = f"block {bi} unit {f.units[u] if u < len(f.units) else u}"
                g = self.combine([[(W1[u, c], value(layout.names[c])) for c in np.flatnonzero(W1[u])],
                                  [(b1[u], ONE)]], label)
                h = self.combine([[(W2[u, c], value(layout.names[c])) for c in np.flatnonzero(W2[u])],
                                  [(b2[u], ONE)]], label)
                hidden.append(self.reglu(g, h, label))
            for r in np.flatnonzero(np.any(W3 != 0, axis=1) | (b3 != 0)):
                nm = layout.names[r]
                res[nm] = self.combine([[(W3[r, u], hidden[u]) for u in np.flatnonzero(W3[r])], [(b3[r], ONE)],
                                        [(1.0, value(nm))]], f"block {bi} output {nm}")
                if nm in self.materialize:
                    res[nm] = self.bits_of(res[nm], nm)[1]

        output = {}
        for c in rnn.vocab.coordinates:
            v = value(c)
            if isinstance(v, Tab) and not v.support and float(v.table) == 0.0:
                continue
            if isinstance(v, Tok) and np.all(v.vals == 0.0):
                continue
            output[c] = self.bits_of(v, c)[0]
        return self._finish(name, description, names, next_state, output)

    def _finish(self, name, description, names, next_state, output) -> Circuit:
        g = self.gates
        refs = {nm: [g.ref(w) for w in next_state[nm]] for nm in names}
        outs = {c: [g.ref(w) for w in ws] for c, ws in output.items()}
        live = set()
        stack = [x for r in list(refs.values()) + list(outs.values()) for x in r]
        while stack:
            x = stack.pop()
            if x in live:
                continue
            live.add(x)
            gate = g.list[x - 1]
            if gate[0] in ("and", "xor"):
                stack += [gate[1], gate[2]]
        order = sorted(live)
        new_id = {old: i + 1 for i, old in enumerate(order)}
        gates = []
        for old in order:
            gate = g.list[old - 1]
            if gate[0] in ("and", "xor"):
                gate = (gate[0], new_id[gate[1]], new_id[gate[2]])
            gates.append(gate)
        rnn = self.rnn
        return Circuit(name=name, p=self.p, vocab=rnn.vocab, state_names=tuple(names),
                       init=tuple(0.0 for _ in names), gates=tuple(gates),
                       next_state=tuple(tuple(new_id[x] for x in refs[nm]) for nm in names),
                       output={c: tuple(new_id[x] for x in ws) for c, ws in outs.items()},
                       input_tokens=tuple(rnn.vocab.token(t) for t in self.tokens), description=description,
                       meta={"compiled_from": rnn.meta.get("builder", ""), "p": self.p})


def compile_rnn(rnn: LinearRNN, *, p: int | None = None, ranges: dict | None = None, materialize=None,
                input_tokens=None, name: str | None = None, description: str = "") -> Circuit:
    """The circuit RNN equal to ``rnn`` run in ``Rp(p)`` (module docstring). Defaults come from
    ``rnn.meta``: ``p``, ``ranges``, ``materialize`` and ``input_tokens``."""
    meta = rnn.meta
    p = p if p is not None else meta.get("p")
    if p is None:
        raise CompileError("no precision: pass p or set meta['p']")
    ranges = ranges if ranges is not None else meta.get("ranges", {})
    materialize = materialize if materialize is not None else meta.get("materialize", ())
    input_tokens = input_tokens if input_tokens is not None else meta.get("input_tokens")
    name = name or meta.get("task") or meta.get("builder") or "rnn"
    return Compiler(rnn, int(p), ranges, materialize, input_tokens).compile(name, description)
