"""Reference sequences the hybrid models (Thms 5.7, 5.8) must generate, written from the interpreters.

* :func:`tm_hybrid_trace` (Thm 5.8): the tokens after the prompt ``<s> sym:x_1 .. sym:x_n`` --
  the record trace of theory.turing (5 tokens per step, Thm 5.4's phase 2 without the regex), then
  the answer YES or NO (accept or reject), which stops greedy decoding (Sec 3 and App. A.4).
* :func:`istree_hybrid_trace` (Thm 5.7): the chain of thought after ``<s> u ~ v ... <sep>``: a DFS
  from vertex 1 that scans each vertex's neighbours in increasing order and finds the next one by a
  doubling search with nearest-neighbour queries (constructions/hybrid/istree.py explains why), then
  YES or NO.

IsTree CoT grammar (tokens: numbers 1..n and the specials ``0``, ``dfs:q``, ``dfs:down``, ``dfs:up``):

    CoT      = 1 visit ... (YES | NO)
    visit    = record+ (dfs:down x | dfs:up f)         -- the records of one vertex, then a move
    record   = dfs:q v w t x

Vertex v is the current vertex, w the last neighbour of v already scanned (0, written ``0``, after
arriving from the parent or at the root; the child after returning from it), t the target of one
query (1 <= t <= n + 1; t = n + 1 only as the first target after w = n) and x = nearest(v, t): the
neighbour u of v minimising (|t - u|, u), or 0 if v has no neighbour. The search for the smallest
neighbour s > w asks t = w + 1, w + 2, w + 4, ...: every neighbour in (w, t) has been excluded by
the earlier answers, so x = w means "none below 2t - w" and x != w means x = s. After a record:

    x == w and 2t - w <= n        next record  q v w (2t - w)          (keep doubling)
    x == w and 2t - w > n         no neighbour left: up f(v), or at the root YES/NO
    x != w and x == f(v)          skip the parent: next record q v x (x + 1)
    x != w, x visited             NO (a cycle)
    x != w, x new                 down x  (x's parent is v)

At the root's end the answer is YES iff there were exactly 2n - 1 arrivals (the root, every down and
every up), as in Lemma C.29. Each arrival starts at most two searches of at most
floor(log2 n) + 1 records: the CoT has O(n log n) tokens.
"""

from __future__ import annotations

from theory.tokens import NO, YES
from theory.turing import DEFAULT_MAX_STEPS, Machine, records, run

ZERO, QUERY, DOWN, UP = "0", "dfs:q", "dfs:down", "dfs:up"
ISTREE_EXTRA = (ZERO, QUERY, DOWN, UP)


def tm_hybrid_trace(machine: Machine, word, *, offset: int = 0, max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    result = run(machine, word, max_steps=max_steps)
    return records(result, offset=offset) + [YES if result.accepted else NO]


def _value(x: int):
    return ZERO if x == 0 else x


def istree_hybrid_trace(n: int, edges) -> list:
    """The IsTree CoT of the hybrid (module docstring); ints are vertices, strings special tokens."""
    nbrs: dict[int, set[int]] = {v: set() for v in range(1, n + 1)}
    for u, v in edges:
        nbrs[u].add(v)
        nbrs[v].add(u)

    def nearest(v: int, t: int) -> int:
        return min(nbrs[v], key=lambda u: (abs(t - u), u)) if nbrs[v] else 0

    out: list = [1]
    parent = {1: 0}
    arrivals, v, w = 1, 1, 0
    t = w + 1
    while True:
        x = nearest(v, t)
        out += [QUERY, v, _value(w), t, _value(x)]
        if x == w:
            if 2 * t - w <= n:
                t = 2 * t - w
                continue
            if parent[v] == 0:
                return out + [YES if arrivals == 2 * n - 1 else NO]
            out += [UP, parent[v]]
            arrivals += 1
            v, w = parent[v], v
        elif x == parent[v]:
            w = x
        elif x in parent:
            return out + [NO]
        else:
            out += [DOWN, x]
            parent[x] = v
            arrivals += 1
            v, w = x, 0
        t = w + 1
