"""The lower-bound reductions as real task instances, split into Alice's prefix and Bob's suffix.

Each family maps Alice's free input x and Bob's query to token sequences in the toolkit's format
(numbers 1..n, special tokens from :mod:`theory.tokens`). :func:`check_family` builds every instance
for a size n and checks three things on each one:

1. the instance is a valid input of its task (tokens in range, unique keys, simple graph, ...);
2. the task's reference answer (a plain definition below, not the reduction's formula) equals the
   answer the reduction claims;
3. Bob's answers over all his suffixes determine Alice's input (up to the symmetry the family has:
   IsTree's two hubs are interchangeable), so the family has exactly
   :func:`theory.bounds.hard_family_rows` distinct rows.

Corrections to the printed reductions (each has a test that shows the printed version failing):

* AR / c-gram: the paper writes values as ``x_i + n/2`` (``x_i + n/c``) with x_i in {0, 1}; the value
  n/2 is also the last key, so a query can match a value. Values here are ``m + 1 + x_i`` with m the
  number of keys, which never collides.
* Counting: the threshold must be t = 0 (docs/errata.md, "Counting hard family threshold"). The
  paper's list of {j : x_j = 1} has a length that depends on x; an RNN that reads positions then
  needs distinct states only for lists of one length (``C(n, floor(n/2))`` at most). The family here
  has fixed length n: slot j holds j when x_j = 1 and the filler n otherwise (n is never queried).
* Lemma C.28: the working parity step is ``y_k = 1 ⟺ x̃_k ≠ x̃_{k-1}`` (docs/errata.md).
* Prop 5.1: an AR oracle on the κ-interleaved context still reveals which symbols occur (an absent
  key answers FAILED), so its answers are not a function of O(1) tokens; appending
  ``κ, 1, κ, 2, κ, ..., σ, κ`` to the context restores the paper's argument. The oracle's answers
  then depend on x_2 (the third token) alone, so the family has ``sigma^(ceil(n/2) - 1)`` rows for
  an RNN with the oracle: Bob simulates the oracle once told x_2.

:func:`istree_separating_suffix` is the key lemma of the IsTree class count (docs/bounds.md): for
j >= 2, any two of Alice's edge sets in different classes are told apart by an explicit suffix.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Callable, Iterator

from theory.bounds import counting_list_rows, free_symbols, hard_family_rows
from theory.comm import FAILED, is_tree_edges
from theory.tokens import BASE_SPECIALS, BOS, NO, SEP, TILDE, YES

Token = int | str


@dataclass(frozen=True)
class Instance:
    """One reduction instance: ``alice + bob`` is the task input."""

    x: tuple[int, ...]          # Alice's free input
    query: tuple[int, ...]      # what Bob's suffix encodes
    alice: tuple[Token, ...]
    bob: tuple[Token, ...]
    claimed: Token              # the answer the reduction says the task returns

    @property
    def tokens(self) -> tuple[Token, ...]:
        return self.alice + self.bob


# --------------------------------------------------------------------------- reference answers
def answer_index(tokens) -> Token:
    *data, k = tokens
    return data[k - 1]


def answer_ar(tokens) -> Token:
    """Token after the first occurrence of the query key (``<s>`` skipped), else FAILED."""
    *data, q = tokens
    data = [t for t in data if t != BOS]
    for pos in range(len(data) - 1):
        if data[pos] == q:
            return data[pos + 1]
    return FAILED


def answer_cgram(tokens, c: int) -> Token:
    """Last token of the first c-gram of the context that starts with the query (c-1)-gram."""
    data, query = [t for t in tokens[:-(c - 1)] if t != BOS], list(tokens[-(c - 1):])
    for pos in range(len(data) - c + 1):
        if data[pos:pos + c - 1] == query:
            return data[pos + c - 1]
    return FAILED


def answer_counting(tokens) -> int:
    *data, q, t = tokens
    return int(sum(1 for tok in data if tok == q) > t)


def parse_istree(tokens) -> tuple[int, list[tuple[int, int]]]:
    """``<s>, u1, ~, v1, ..., <sep>`` -> edge list; raises ValueError on a malformed sequence."""
    if len(tokens) < 2 or tokens[0] != BOS or tokens[-1] != SEP or (len(tokens) - 2) % 3:
        raise ValueError("IsTree input must be <s>, u, ~, v, ..., <sep>")
    body = tokens[1:-1]
    edges = [(body[i], body[i + 2]) for i in range(0, len(body), 3)]
    if any(body[i + 1] != TILDE for i in range(0, len(body), 3)):
        raise ValueError("edges are written u ~ v")
    return len(edges), edges


def answer_istree(tokens, n: int) -> str:
    _, edges = parse_istree(tokens)
    return YES if is_tree_edges(n, edges) else NO


# --------------------------------------------------------------------------- families
def _alphabet_fits(n: int, largest: int, what: str) -> None:
    if largest > n:
        raise ValueError(f"{what} uses number token {largest} but only 1..n={n} exist")


def index_family(n: int, sigma: int = 2) -> Iterator[Instance]:
    """Index (Lemma C.24): x in [sigma]^n as tokens, Bob asks position k."""
    _alphabet_fits(n, sigma, "Index family")
    for x in product(range(1, sigma + 1), repeat=n):
        for k in range(1, n + 1):
            yield Instance(x, (k,), tuple(x), (k,), x[k - 1])


def ar_family(n: int, sigma: int = 2) -> Iterator[Instance]:
    """AR: ``<s>, 1, v_1, ..., m, v_m, k`` with m = ⌊n/2⌋ keys and values v_i = m + 1 + x_i."""
    m = n // 2
    if m + sigma > n:
        raise ValueError(f"AR family needs n >= 2*sigma (values m+1..m+sigma must be tokens), n={n}")
    for x in product(range(sigma), repeat=m):
        alice = (BOS,) + tuple(t for i in range(m) for t in (i + 1, m + 1 + x[i]))
        for k in range(1, m + 1):
            yield Instance(x, (k,), alice, (k,), m + 1 + x[k - 1])


def cgram_family(n: int, c: int = 3, sigma: int = 2) -> Iterator[Instance]:
    """c-gram: ``<s>, (1)^{c-1}, v_1, ..., (m)^{c-1}, v_m, (k)^{c-1}``, m = ⌊n/c⌋, v_i = m + 1 + x_i."""
    m = n // c
    if m < 1 or m + sigma > n:
        raise ValueError(f"c-gram family needs n >= c and n >= n/c + sigma, got n={n}, c={c}")
    for x in product(range(sigma), repeat=m):
        alice = (BOS,) + tuple(t for i in range(m) for t in (i + 1,) * (c - 1) + (m + 1 + x[i],))
        for k in range(1, m + 1):
            yield Instance(x, (k,), alice, (k,) * (c - 1), m + 1 + x[k - 1])


def counting_family(n: int, sigma: int = 2) -> Iterator[Instance]:
    """Counting at fixed length n: x in {0..sigma-1}^m, m = min(floor(n/(sigma-1)), n-1).

    Slots j = 1..m get sigma - 1 cells each: the first x_j hold token j, the rest the filler n; the
    sequence is padded with n to length n. Bob asks q = k <= m with a threshold t <= sigma - 2, so
    the answer is [x_k > t]. For sigma = 2 this is x_1..x_{n-1} as ``j if x_j else n``, then n.
    """
    m = free_symbols("counting", n, sigma)
    for x in product(range(sigma), repeat=m):
        cells = [j if r < x[j - 1] else n for j in range(1, m + 1) for r in range(sigma - 1)]
        alice = tuple(cells + [n] * (n - len(cells)))
        for k in range(1, m + 1):
            for t in range(sigma - 1):
                yield Instance(x, (k, t), alice, (k, t), int(x[k - 1] > t))


def counting_list_family(n: int) -> Iterator[Instance]:
    """The paper's Counting family: x in {0,1}^n as the increasing list of {j : x_j = 1}, then k, t = 0."""
    for x in product(range(2), repeat=n):
        alice = tuple(j for j in range(1, n + 1) if x[j - 1])
        for k in range(1, n + 1):
            yield Instance(x, (k, 0), alice, (k, 0), x[k - 1])


def istree_family(n: int) -> Iterator[Instance]:
    """Two-hub family (Sec 4.2.2): a ~ (x_a + n - 1) for a in [n-2], then Bob's edge (k, k+1)."""
    for x in product(range(2), repeat=n - 2):
        alice = (BOS,) + tuple(t for a in range(1, n - 1) for t in (a, TILDE, x[a - 1] + n - 1))
        for k in range(1, n - 2):
            yield Instance(x, (k,), alice, (k, TILDE, k + 1, SEP), YES if x[k - 1] != x[k] else NO)


def prefix_parity(y) -> tuple[int, ...]:
    """x̃_i = (y_1 + ... + y_i) mod 2."""
    out, acc = [], 0
    for bit in y:
        acc ^= bit
        out.append(acc)
    return tuple(out)


def parity_family(n: int) -> Iterator[Instance]:
    """Lemma C.28 as corrected: INDEX on y in {0,1}^{n-2} through IsTree on the parities of y.

    Alice builds the two-hub graph from x̃ = prefix_parity(y); Bob, asked for y_k (k >= 2), adds the
    edge (k-1, k). The graph is a tree iff x̃_{k-1} ≠ x̃_k iff y_k = 1.
    """
    for y in product(range(2), repeat=n - 2):
        xt = prefix_parity(y)
        alice = (BOS,) + tuple(t for a in range(1, n - 1) for t in (a, TILDE, xt[a - 1] + n - 1))
        for k in range(2, n - 1):
            yield Instance(y, (k,), alice, (k - 1, TILDE, k, SEP), YES if y[k - 1] == 1 else NO)


def printed_parity_step_holds(y, k: int) -> bool:
    """The printed Lemma C.28 step, "x_k = x_{k-1} iff x̃_k = x̃_{k-1}", on one (y, k)."""
    xt = prefix_parity(y)
    return (y[k - 1] == y[k - 2]) == (xt[k - 1] == xt[k - 2])


def prop51_family(n: int, sigma: int = 2, tail: bool = False) -> Iterator[Instance]:
    """Prop 5.1: Index with κ = sigma + 1 at even positions, x in [sigma] at the odd ones.

    With ``tail=True`` the context ends with ``κ, 1, κ, 2, κ, ..., sigma, κ`` so every key occurs and
    is followed by κ; the Index query k still refers to the first n positions.
    """
    kappa = sigma + 1
    _alphabet_fits(n, kappa, "Prop 5.1 family (κ = sigma + 1)")
    odd = (n + 1) // 2
    tail_tokens = (kappa,) + tuple(t for s in range(1, sigma + 1) for t in (s, kappa)) if tail else ()
    for x in product(range(1, sigma + 1), repeat=odd):
        context = tuple(x[i // 2] if i % 2 == 0 else kappa for i in range(n)) + tail_tokens
        for k in range(1, n + 1, 2):
            yield Instance(x, (k,), context, (k,), x[(k - 1) // 2])


def prop51_oracle_classes(n: int, sigma: int = 2) -> dict[tuple, list[Instance]]:
    """Prop 5.1 instances (with the tail) grouped by the AR oracle's answers on every key 1..sigma+1."""
    keys = range(1, sigma + 2)
    groups: dict[tuple, list[Instance]] = {}
    for inst in prop51_family(n, sigma, tail=True):
        groups.setdefault(ar_oracle_answers(inst.alice, keys), []).append(inst)
    return groups


def star_forest(n: int, k: int, roots_of) -> list[tuple[int, int]]:
    """Alice's star forest: vertex v > k joined to root roots_of[v - k - 1] in 1..k."""
    return [(r, v) for v, r in zip(range(k + 1, n + 1), roots_of)]


def star_fooling_suffix(n: int, k: int, r, r2) -> list[tuple[int, int]]:
    """Bob's k-1 edges separating star forests r ≠ r2 (proof of theory.bounds.istree_star_rows)."""
    v = next(v for v, (a, b) in zip(range(k + 1, n + 1), zip(r, r2)) if a != b)
    a, b = r[v - k - 1], r2[v - k - 1]
    c = next(x for x in range(1, k + 1) if x not in (a, b))
    side_a = [a, c] + [x for x in range(1, k + 1) if x not in (a, b, c)]
    path = list(zip(side_a, side_a[1:]))
    return [tuple(sorted((v, c)))] + [tuple(sorted(e)) for e in path]


def check_star_fooling_set(n: int, k: int) -> tuple[int, int]:
    """Check every ordered pair of star forests: (pairs checked, pairs where the proof fails)."""
    if not 3 <= k < n:
        raise ValueError(f"star fooling set needs 3 <= k < n, got n={n}, k={k}")
    forests = list(product(range(1, k + 1), repeat=n - k))
    bad = 0
    for r in forests:
        for r2 in forests:
            if r == r2:
                continue
            bob = star_fooling_suffix(n, k, r, r2)
            a_edges, a2_edges = star_forest(n, k, r), star_forest(n, k, r2)
            simple = (len(set(bob)) == k - 1 and not set(bob) & set(a_edges)
                      and not set(bob) & set(a2_edges))
            if not (simple and not is_tree_edges(n, a_edges + bob) and is_tree_edges(n, a2_edges + bob)):
                bad += 1
    return len(forests) * (len(forests) - 1), bad


def _components(n: int, edges) -> list[int]:
    """Label of each vertex 1..n (index 0 unused): the smallest vertex of its component."""
    parent = list(range(n + 1))

    def find(v):
        while parent[v] != v:
            parent[v] = parent[parent[v]]
            v = parent[v]
        return v

    for u, v in edges:
        a, b = find(u), find(v)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [find(v) for v in range(n + 1)]


def _has_cycle(n: int, edges) -> bool:
    return len(edges) != n - len(set(_components(n, edges)[1:]))


def _spanning_tree_of_blocks(n: int, label: list[int], avoid: set, start: list[tuple[int, int]]):
    """Extend ``start`` (edges between blocks of ``label``, acyclic on the blocks) by edges between
    blocks that are not in ``avoid`` until the blocks are joined into one tree (Kruskal)."""
    blocks = {b: b for b in set(label[1:])}

    def find(b):
        while blocks[b] != b:
            b = blocks[b]
        return b

    chosen = []
    for u, v in start + [(u, v) for u in range(1, n + 1) for v in range(u + 1, n + 1)]:
        a, b = find(label[u]), find(label[v])
        if a != b and (u, v) not in avoid:
            blocks[max(a, b)] = min(a, b)
            chosen.append((u, v))
    return chosen


def istree_separating_suffix(n: int, first, second) -> tuple[list[tuple[int, int]], bool]:
    """Bob's j = n - 1 - |first| edges that tell two of Alice's edge sets apart (the key lemma).

    ``first`` and ``second`` have the same size a = n - 1 - j with j >= 2, and lie in different
    classes: different component partitions, or one is a forest and the other has a cycle. Returns
    (Bob's edges, True if ``first`` + Bob is the tree). The proof (docs/bounds.md):

    * forest F (partition P) against a graph C with a cycle: Bob sends a spanning tree of P's blocks
      that avoids C's edges (one exists, since C cannot hold every pair across a cut);
    * forests F, G with partitions P ≠ Q and k = j + 1 >= 3 blocks: Q does not refine P, so a block
      X of Q meets two blocks a, b of P; take u1 in X ∩ a, u2 in X ∩ b and v outside X in a third
      block of P. The edges u1v, u2v join different blocks of both partitions (so neither forest
      has them); with the rest of a spanning tree of P's blocks that avoids G, F + Bob is a tree
      while G + Bob has the cycle u1 v u2 (then back to u1 inside X).
    """
    first = [tuple(sorted(e)) for e in first]
    second = [tuple(sorted(e)) for e in second]
    if len(first) != len(second):
        raise ValueError("the two prefixes must have the same number of edges")
    bob = n - 1 - len(first)
    if bob < 2:
        raise ValueError(f"the lemma needs Bob to hold j >= 2 edges, got j={bob}")
    cyc1, cyc2 = _has_cycle(n, first), _has_cycle(n, second)
    if cyc1 and cyc2:
        raise ValueError("both prefixes close a cycle: every suffix answers NO for both")
    if cyc1 or cyc2:
        forest, other = (second, first) if cyc1 else (first, second)
        label = _components(n, forest)
        return _spanning_tree_of_blocks(n, label, set(other), []), not cyc1
    p_label, q_label = _components(n, first), _components(n, second)
    if p_label == q_label:
        raise ValueError("the two forests have the same components: no suffix tells them apart")
    # a block X of Q (second) that meets two blocks of P (first)
    x_block = next(q for q in set(q_label[1:])
                   if len({p_label[v] for v in range(1, n + 1) if q_label[v] == q}) >= 2)
    inside = [v for v in range(1, n + 1) if q_label[v] == x_block]
    outside = [v for v in range(1, n + 1) if q_label[v] != x_block]
    met = sorted({p_label[v] for v in inside})
    for v in outside:
        pair = [b for b in met if b != p_label[v]][:2]
        if len(pair) == 2:
            break
    else:  # pragma: no cover - impossible with k >= 3 blocks (docs/bounds.md)
        raise AssertionError("no third block of P outside X")
    u1 = next(u for u in inside if p_label[u] == pair[0])
    u2 = next(u for u in inside if p_label[u] == pair[1])
    start = [tuple(sorted((u1, v))), tuple(sorted((u2, v)))]
    return _spanning_tree_of_blocks(n, p_label, set(second), start), True


def ar_oracle_answers(context, keys) -> tuple[Token, ...]:
    """What an AR oracle returns on ``context`` for each key."""
    return tuple(answer_ar(tuple(context) + (q,)) for q in keys)


# --------------------------------------------------------------------------- checking
@dataclass(frozen=True)
class FamilyReport:
    family: str
    n: int
    instances: int
    invalid: int
    wrong_answers: int
    rows: int               # distinct answer vectors over Bob's suffixes
    expected_rows: int      # theory.bounds.hard_family_rows
    first_failure: str | None

    @property
    def ok(self) -> bool:
        return self.invalid == 0 and self.wrong_answers == 0 and self.rows == self.expected_rows


FAMILIES = ("index", "ar", "cgram", "counting", "counting_list", "istree", "parity", "prop51")


def _is_number(t, n: int) -> bool:
    return isinstance(t, int) and not isinstance(t, bool) and 1 <= t <= n


def _valid(family: str, inst: Instance, n: int, c: int) -> bool:
    if family == "counting" and len(inst.alice) != n:
        return False
    toks = inst.tokens
    if family in ("counting", "counting_list"):  # the threshold t is a number, not a token
        *head, t = toks
        return all(_is_number(tok, n) for tok in head) and isinstance(t, int) and t >= 0
    if any(not _is_number(t, n) and not (isinstance(t, str) and t in BASE_SPECIALS) for t in toks):
        return False
    if family in ("ar", "cgram"):
        stride = 2 if family == "ar" else c
        keys = list(inst.alice[1::stride])
        return len(set(keys)) == len(keys)
    if family in ("istree", "parity"):
        try:
            m, edges = parse_istree(toks)
        except ValueError:
            return False
        return (m == n - 1 and all(_is_number(u, n) and _is_number(v, n) and u < v for u, v in edges)
                and len(set(edges)) == m)
    return True


def family_instances(family: str, n: int, sigma: int = 2, c: int = 3) -> Iterator[Instance]:
    makers: dict[str, Callable[[], Iterator[Instance]]] = {
        "index": lambda: index_family(n, sigma), "ar": lambda: ar_family(n, sigma),
        "cgram": lambda: cgram_family(n, c, sigma), "counting": lambda: counting_family(n, sigma),
        "counting_list": lambda: counting_list_family(n),
        "istree": lambda: istree_family(n), "parity": lambda: parity_family(n),
        "prop51": lambda: prop51_family(n, sigma, tail=True),
    }
    if family not in makers:
        raise ValueError(f"unknown family {family!r}; choose from {', '.join(FAMILIES)}")
    return makers[family]()


def reference_answer(family: str, tokens, n: int, c: int = 3) -> Token:
    if family in ("index", "prop51"):
        return answer_index(tokens)
    if family == "ar":
        return answer_ar(tokens)
    if family == "cgram":
        return answer_cgram(tokens, c)
    if family in ("counting", "counting_list"):
        return answer_counting(tokens)
    return answer_istree(tokens, n)


def check_family(family: str, n: int, sigma: int = 2, c: int = 3) -> FamilyReport:
    """Build every instance of a family at size n and run checks 1–3 of the module docstring.

    ``rows`` counts distinct answer vectors over Bob's suffixes among prefixes that must be told
    apart: all prefixes, except for ``counting_list`` (prefixes of one length; the largest such
    count) and ``prop51`` (prefixes on which the AR oracle answers alike; the largest such count).
    """
    count = invalid = wrong = 0
    first: str | None = None
    rows: dict[tuple, list] = {}
    for inst in family_instances(family, n, sigma, c):
        count += 1
        ok_valid = _valid(family, inst, n, c)
        got = reference_answer(family, inst.tokens, n, c)
        invalid += not ok_valid
        wrong += got != inst.claimed
        if first is None and (not ok_valid or got != inst.claimed):
            first = (f"x={inst.x} query={inst.query}: " + ("invalid instance" if not ok_valid else
                     f"reference answer {got!r}, reduction claims {inst.claimed!r}"))
        rows.setdefault(inst.alice, []).append((inst.query, got))
    if family == "counting_list":
        group = {alice: len(alice) for alice in rows}
    elif family == "prop51":
        keys = range(1, sigma + 2)
        group = {alice: ar_oracle_answers(alice, keys) for alice in rows}
    else:
        group = {alice: 0 for alice in rows}
    distinct: dict = {}
    for alice, answers in rows.items():
        distinct.setdefault(group[alice], set()).add(tuple(sorted(answers, key=repr)))
    most = max((len(v) for v in distinct.values()), default=0)
    if family == "parity":
        expected = 2 ** (n - 3)  # y_1 is invisible to adjacent-equality queries
    elif family == "counting_list":
        expected = counting_list_rows(n)
    else:
        expected = hard_family_rows(family, n, sigma, c)
    return FamilyReport(family, n, count, invalid, wrong, most, expected, first)


__all__ = [
    "FAMILIES", "FamilyReport", "Instance", "answer_ar", "answer_cgram", "answer_counting",
    "answer_index", "answer_istree", "ar_family", "ar_oracle_answers", "cgram_family",
    "check_family", "check_star_fooling_set", "counting_family", "counting_list_family",
    "family_instances", "index_family", "istree_family", "istree_separating_suffix", "parity_family",
    "parse_istree", "prefix_parity", "printed_parity_step_holds", "prop51_family",
    "prop51_oracle_classes", "reference_answer", "star_fooling_suffix", "star_forest",
]
