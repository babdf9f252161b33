"""Reference sequence for Thm 5.3: IsTree by a retrieval DFS with in-context RAG (Algorithm 2).

Written from the edge list, never from weights or from a regex engine; the checkers run the real
retriever on it. Patterns are tokens joined by single spaces (Def A.5).
"""

from __future__ import annotations

from theory.rag.retrieval import GRAM_LEFT
from theory.tasks.istree import check_edges
from theory.tokens import BOS, END_SEARCH, FAILED, NO, START_SEARCH, TILDE, YES

# The authors' simplified retrieval format (the simplified format of the authors' IsTree experiments, App. B) with real regexes instead of Algorithm 2's
# multi-group alternations (whose group(1) is ill-defined, Thm 5.3). Parent records ``w par v`` live
# in the CoT (the stack is implicit in them); each DFS step restates its state ``step v v'`` so every
# pattern is a fixed template around numbers a few tokens back. Patterns (spaces = token joins):
#
#   parent / visited lookup of x   \S x pa[r] (\S+)          -> the parent of x, or FAILED if unvisited
#   first edge of v                (?=(?: \d+ ~ v | v ~ \d+ )) (\d+ ~ \d+)(?=.*<se[p]>)
#   next edge of v after {v, v'}   (?=(?: v ~ v' | v' ~ v )) \S+ ~ \S+.*?(?=(?: \d+ ~ v | v ~ \d+ ))
#                                  (\d+ ~ \d+)(?=.*<se[p]>)
#
# The edge searches return the whole edge ``a ~ b`` (three tokens; the other endpoint is a + b - v, so
# one capture group suffices). ``(?=.*<se[p]>)`` keeps matches in the prompt (``<se[p]>`` matches the
# separator but its own text does not, so earlier queries in the CoT never satisfy it); ``pa[r]``
# likewise matches record marks but not the queries' own text. Each alternative carries a space on both
# sides, so v matches whole tokens only.
ISTREE_PAR, ISTREE_STEP, ISTREE_NEW = "par", "step", "new"
ISTREE_LOOKUP_CLOSE = r"pa[r] (\S+)"
ISTREE_FIRST_OPEN = r"(?=(?: \d+ ~"
ISTREE_OR = "|"
ISTREE_EDGE_CLOSE = r"~ \d+ )) (\d+ ~ \d+)(?=.*<se[p]>)"
ISTREE_NEXT_OPEN = "(?=(?:"
ISTREE_NEXT_MID = r")) \S+ ~ \S+.*?(?=(?: \d+ ~"
ISTREE_EXTRA: tuple[str, ...] = (ISTREE_PAR, ISTREE_STEP, ISTREE_NEW, GRAM_LEFT, ISTREE_LOOKUP_CLOSE,
                                 ISTREE_FIRST_OPEN, ISTREE_OR, ISTREE_EDGE_CLOSE, ISTREE_NEXT_OPEN,
                                 ISTREE_NEXT_MID)


def istree_lookup_query(x: int) -> list:
    return [GRAM_LEFT, x, ISTREE_LOOKUP_CLOSE]


def istree_scan_query(v: int, prev: int | None) -> list:
    """First edge of v (prev None) or the next edge of v after the edge {v, prev}, in input order."""
    if prev is None:
        return [ISTREE_FIRST_OPEN, v, ISTREE_OR, v, ISTREE_EDGE_CLOSE]
    return [ISTREE_NEXT_OPEN, v, TILDE, prev, ISTREE_OR, prev, TILDE, v, ISTREE_NEXT_MID, v, ISTREE_OR, v,
            ISTREE_EDGE_CLOSE]


def istree_rag_trace(n: int, edges) -> list:
    """Thm 5.3 CoT after ``<s> u ~ v .. <sep>`` (written from the edge list, not from any regex):

        1 par <s>                                       root record
        step v v'  <StartSearch> \\S v pa[r] (\\S+) <EndSearch> p    (v' = ``new`` on arrival)
                   <StartSearch> scan(v, v') <EndSearch> (a ~ b | FAILED)
        then: FAILED, p = <s>  -> YES iff n records (all vertices reached), else NO
              FAILED           -> step p v                 (return to the parent, resume after v)
              w = a + b - v = p -> step v w                (skip the parent edge)
              else <StartSearch> \\S w pa[r] (\\S+) <EndSearch> r
                   r = FAILED  -> w par v, step w new      (descend: record, then w's first edge)
                   otherwise   -> NO                       (w visited and not the parent: a cycle)
    """
    edges = check_edges(n, edges)
    tilde_free = [(int(a), int(b)) for a, b in edges]
    parent: dict[int, object] = {1: BOS}
    out: list = [1, ISTREE_PAR, BOS]
    v, prev = 1, None
    while True:
        p = parent[v]
        out += [ISTREE_STEP, v, ISTREE_NEW if prev is None else prev,
                START_SEARCH, *istree_lookup_query(v), END_SEARCH, p,
                START_SEARCH, *istree_scan_query(v, prev), END_SEARCH]
        start = 0 if prev is None else next(k for k, e in enumerate(tilde_free) if set(e) == {v, prev}) + 1
        found = next((e for e in tilde_free[start:] if v in e), None)
        if found is None:
            out.append(FAILED)
            if p == BOS:
                return out + [YES if len(parent) == n else NO]
            v, prev = p, v
            continue
        a, b = found
        w = a + b - v
        out += [a, TILDE, b]
        if w == p:
            prev = w
            continue
        out += [START_SEARCH, *istree_lookup_query(w), END_SEARCH]
        if w in parent:
            return out + [parent[w], NO]
        parent[w] = v
        out += [FAILED, w, ISTREE_PAR, v]
        v, prev = w, None
