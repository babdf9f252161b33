"""Reference sequences for the RAG-RNN constructions (Thms 5.2-5.4, spec §1.5, §3.6-§3.8).

These are the token sequences a Linear RNN with in-context regex retrieval must produce, written
from the problem's reference solver (here the Turing-machine interpreter of :mod:`theory.turing`)
and never from any weights. Regex fragments are special tokens; the retriever
(:mod:`constructions.runtime.retrieve`) joins the tokens between ``<StartSearch>`` and
``<EndSearch>`` with single spaces, so every space in a pattern below is a token boundary.

Why the patterns differ from the printed ones (spec §3.6, §3.8, §7 item 3; docs/errata.md):

* **No number token can sit inside a quantifier.** ``{k}`` with ``k`` a number token detokenises
  to ``{ k }``, which Python's ``re`` reads as the literal text "{ k }" (also under ``(?x)``), so
  the printed Index regex ``^(?:\\S\\s*){k-1}(\\S)`` cannot be emitted at all. A number token can only
  be a literal, and the input ``<s> x_1 .. x_n`` contains no position literals, so no O(1)-token
  pattern selects x_i for every i. The Index pattern here is *unary*: ``^\\S+`` (skips ``<s>``),
  ``i - 1`` copies of ``\\S+`` (each skips one token, the joining space is the separator) and
  ``(\\S+)``; ``i + 1`` pattern tokens.
* **Lemma C.31 lookup takes the newest record.** ``p (.) p .*?$`` returns the oldest record (and
  ``(.)`` only fits one-character tokens). Here: ``^.*``, ``p``, ``(sym:\\S+)``, ``p``, i.e.
  ``^.* p (sym:\\S+) p``: the greedy ``^.*`` moves the match to the *last* window
  ``space p space sym:v space p``. The only number–symbol–number windows in the sequence are
  records ``p v p`` (phase-1 and phase-2 records; everything else around a number is a regex
  fragment, a state, a move or a search delimiter), so a match is a record of cell ``p`` and the
  trailing ``p`` cannot be the prefix of a longer number. The query text itself never matches:
  after ``p`` it has ``(sym:``, not ``sym:``.

Thm 5.4 sequence (one list entry per token, numbers as decimal strings)::

    prompt   <s> sym:x_1 .. sym:x_n
    phase 1  for i = 1..n:  <StartSearch> ^\\S+ (\\S+ x (i-1)) (\\S+) <EndSearch> sym:x_i  c_i sym:x_i c_i
    phase 2  for t = 1..T:  <StartSearch> ^.* p (sym:\\S+) p <EndSearch> r  p sym:w p state:q' move:m
    answer   YES | NO

with ``c_i = i + offset`` the cell token of cell i, ``p = POINTER[t] + offset``, ``r`` the retrieved
content (``FAILED`` when the cell has no record: after phase 1 every input cell has one, so FAILED
means the cell is blank), and ``w, q', m = delta(State[t], read)``. Phase 1 has sum_i (i + 7)
tokens (O(n^2), forced by the unary Index pattern); phase 2 has 12 T.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from theory.tokens import BOS, END_SEARCH, FAILED, NO, START_SEARCH, TILDE, YES
from theory.turing import (DEFAULT_MAX_STEPS, Machine, cell_token, move_token, run, state_token,
                           symbol_token, trace_vocabulary)

# -- Thm 5.4 regex fragments (special tokens) ---------------------------------------------------------
IDX_OPEN = r"^\S+"          # anchor at the start and skip <s>
IDX_SKIP = r"\S+"           # skip one more token (the joining space separates tokens)
IDX_CAPTURE = r"(\S+)"      # the token wanted
LOOKUP_OPEN = r"^.*"        # greedy: the match ends at the LAST record of the cell
LOOKUP_CAPTURE = r"(sym:\S+)"
TM_FRAGMENTS: tuple[str, ...] = (IDX_OPEN, IDX_SKIP, IDX_CAPTURE, LOOKUP_OPEN, LOOKUP_CAPTURE)

PHASE2_BLOCK = 12  # tokens per simulated step: <StartSearch>, 4 pattern tokens, <EndSearch>, r, record


def tm_vocabulary_extra(machine: Machine) -> tuple[str, ...]:
    """Special tokens of the Thm 5.4 sequence beyond the base ones: trace tokens, then fragments."""
    return trace_vocabulary(machine) + TM_FRAGMENTS


def index_query(i: int) -> list[str]:
    """Unary Index pattern for the i-th input token (i >= 1): ``^\\S+ \\S+ .. (\\S+)``."""
    if i < 1:
        raise ValueError(f"index queries start at 1, got {i}")
    return [IDX_OPEN] + [IDX_SKIP] * (i - 1) + [IDX_CAPTURE]


def lookup_query(cell: str) -> list[str]:
    """Newest-record pattern for the cell token ``cell``: ``^.* cell (sym:\\S+) cell``."""
    return [LOOKUP_OPEN, cell, LOOKUP_CAPTURE, cell]


def phase1_length(n: int) -> int:
    """Tokens of phase 1 for an input of length n: sum_{i=1..n} (i + 7)."""
    return n * (n + 1) // 2 + 7 * n


def tm_prompt(machine: Machine, word) -> list[str]:
    return [BOS] + [symbol_token(s) for s in machine.parse_input(word)]


def tm_rag_trace(machine: Machine, word, *, offset: int = 0, max_steps: int = DEFAULT_MAX_STEPS) -> list[str]:
    """The Thm 5.4 tokens after the prompt (phase 1, phase 2, YES/NO), from the interpreter."""
    result = run(machine, word, max_steps=max_steps)
    symbols = result.input
    out: list[str] = []
    for i, sym in enumerate(symbols, start=1):
        c = cell_token(i, offset)
        out += [START_SEARCH, *index_query(i), END_SEARCH, symbol_token(sym), c, symbol_token(sym), c]
    recorded = set(range(1, len(symbols) + 1))
    for step in result.history:
        p = cell_token(step.head, offset)
        if step.head in recorded:
            found = symbol_token(step.read)
        else:
            if step.read != machine.blank:  # an unrecorded cell can only be blank
                raise AssertionError(f"cell {step.head} read {step.read!r} without a record")
            found = FAILED
        recorded.add(step.head)
        out += [START_SEARCH, *lookup_query(p), END_SEARCH, found,
                p, symbol_token(step.written), p, state_token(step.new_state), move_token(step.move)]
    out.append(YES if result.accepted else NO)
    return out


@dataclass(frozen=True)
class TMDomain:
    """What the weights must cover for a set of inputs: the cell-token offset and the number range."""

    n_max: int
    offset: int        # smallest offset keeping every cell token >= 1
    max_cell: int      # largest cell token (after the offset) in any trace
    max_steps: int     # longest run
    instances: int

    @property
    def n_vocab(self) -> int:
        """Number tokens needed: every cell token, and at least 1."""
        return max(1, self.max_cell)


def tm_domain(machine: Machine, words: Iterable[Sequence[str]], n_max: int, *,
              max_steps: int = DEFAULT_MAX_STEPS) -> TMDomain:
    """Run every word once; the smallest offset and the largest cell token the sequences use."""
    lowest, highest, longest, count = 1, max(n_max, 1), 0, 0
    for word in words:
        result = run(machine, word, max_steps=max_steps)
        count += 1
        longest = max(longest, result.steps)
        for step in result.history:
            lowest = min(lowest, step.head)
            highest = max(highest, step.head)
    offset = 1 - lowest
    return TMDomain(n_max, offset, highest + offset, longest, count)


# -- Thm 5.2: Index, AR, c-gram, Counting (appended; written from theory.tasks.<task>.solve) ----------
# Every pattern token is a whole token of the searched text or a fragment that starts and ends at a
# token boundary, so the single joining spaces line up with the text's separators.
#
# * Index: the unary pattern of Thm 5.4 above (``^\S+``, i - 1 times ``\S+``, ``(\S+)``): the quantifier
#   ``{i}`` cannot hold a number token, so the CoT has i + 5 tokens (O(n), not the claimed O(1)).
# * AR / c-gram: ``\S q_1 .. q_{c-1} (\S+)``. ``\S`` eats the last character of the token before the key
#   (there always is one: ``<s>``), so each ``q_k`` must start a token, and the joining space after it
#   makes it end one; ``re.search`` is leftmost, so the match is the first occurrence. The query at the
#   end of the text has no token after it, so it cannot match (the task guarantees an occurrence whose
#   successor is data). The printed ``\b q \b`` needs a word character before the space and skips a
#   key right after ``<s>``. CoT: c + 5 tokens.
# * Counting: ``\S(?= (\S+) ) q``, then t copies of ``(?:\S+ )*?\1(?= )``, then ``(?=\S+ \S)``. The
#   lookahead captures the token q as group 1 (so the retriever returns ``q`` on success), each repeat
#   skips whole tokens and matches one more token equal to group 1, and the final lookahead demands two
#   more tokens, which holds for a data token (q and t follow) but not for the query q or t. So a match
#   exists iff q occurs at least t + 1 times among x_1..x_m: FAILED <=> count <= t. This replaces
#   ``{t+1}`` by t copies of one fragment (same number-token problem as Index): CoT t + 7 tokens.
GRAM_LEFT = r"\S"
GRAM_CAPTURE = IDX_CAPTURE
COUNT_OPEN = r"\S(?= (\S+) )"
COUNT_REPEAT = r"(?:\S+ )*?\1(?= )"
COUNT_END = r"(?=\S+ \S)"
RETRIEVAL_FRAGMENTS: tuple[str, ...] = (IDX_OPEN, IDX_SKIP, IDX_CAPTURE, GRAM_LEFT, COUNT_OPEN, COUNT_REPEAT,
                                        COUNT_END)


def retrieval_vocabulary_extra(task_extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Specials of a Thm 5.2 vocabulary: the task's own extras first (ids shared with the task's
    batches), then the regex fragments."""
    return tuple(task_extra) + RETRIEVAL_FRAGMENTS


def index_rag_trace(n: int, x, i: int) -> list:
    from theory.tasks import index

    answer = index.solve(n, x, i)
    return [START_SEARCH, *index_query(i), END_SEARCH, answer, answer]


def gram_query(keys) -> list:
    return [GRAM_LEFT, *keys, GRAM_CAPTURE]


def cgram_rag_trace(n: int, c: int, x, q) -> list:
    from theory.tasks import cgram

    answer = cgram.solve(n, c, x, list(q))
    return [START_SEARCH, *gram_query(list(q)), END_SEARCH, answer, answer]


def ar_rag_trace(n: int, x, q: int) -> list:
    from theory.tasks import ar

    answer = ar.solve(n, x, q)
    return [START_SEARCH, *gram_query([q]), END_SEARCH, answer, answer]


def count_query(q: int, t: int) -> list:
    return [COUNT_OPEN, q, *[COUNT_REPEAT] * t, COUNT_END]


def counting_rag_trace(n: int, x, q: int, t: int) -> list:
    from theory.tasks import counting

    answer = counting.solve(n, x, q, t)
    found = q if answer == YES else FAILED
    return [START_SEARCH, *count_query(q, t), END_SEARCH, found, answer]


def retrieval_rag_trace(task: str, n: int, c: int | None, prompt: Sequence) -> list:
    """The Thm 5.2 tokens after ``prompt`` (``<s>``, data, query tokens as in theory.tasks.<task>;
    numbers as ints or decimal strings, the Counting threshold 0 as ``"0"``), the answer last."""
    toks = list(prompt)
    if not toks or toks[0] != BOS:
        raise ValueError("a retrieval prompt starts with <s>")

    def num(tok) -> int:
        import numpy as np

        if isinstance(tok, str) and tok.isdigit():
            return int(tok)
        if isinstance(tok, (int, np.integer)) and not isinstance(tok, bool):
            return int(tok)
        raise ValueError(f"expected a number token, got {tok!r}")

    body = toks[1:]
    if task == "index":
        return index_rag_trace(n, [num(v) for v in body[:-1]], num(body[-1]))
    if task == "ar":
        return ar_rag_trace(n, [num(v) for v in body[:-1]], num(body[-1]))
    if task == "cgram":
        return cgram_rag_trace(n, c, [num(v) for v in body[:-(c - 1)]], [num(v) for v in body[-(c - 1):]])
    if task == "counting":
        t = 0 if body[-1] == "0" else num(body[-1])
        return counting_rag_trace(n, [num(v) for v in body[:-2]], num(body[-2]), t)
    raise ValueError(f"no Thm 5.2 sequence for task {task!r}")


# -- Thm 5.3 / Algorithm 2: IsTree by a retrieval DFS (appended) ------------------------------------------
# The authors' simplified retrieval format (spec §5.1) with real regexes instead of Algorithm 2's
# multi-group alternations (whose group(1) is ill-defined, spec §3.7). Parent records ``w par v`` live
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
    from theory.tasks.istree import check_edges

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
