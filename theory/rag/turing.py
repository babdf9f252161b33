"""Reference sequence for Thm 5.4: a RAG Linear RNN simulates a Turing machine.

These are the token sequences a Linear RNN with in-context regex retrieval must produce, written
from the problem's reference solver (here the Turing-machine interpreter of :mod:`theory.turing`)
and never from any weights. Regex fragments are special tokens; the retriever
(:mod:`constructions.runtime.retrieve`) joins the tokens between ``<StartSearch>`` and
``<EndSearch>`` with single spaces, so every space in a pattern below is a token boundary.

Why the patterns differ from the printed ones (Thms 5.2 and 5.4; docs/errata.md):

* **Phase 1 reads input cell i with the quantifier Index pattern** of Thm 5.2
  (:func:`theory.rag.retrieval.index_query`): ``(?x)^(?:\\S+\\s) {i} (\\S+)``, three pattern tokens
  whatever i is; ``{i}`` is a quantifier token (:mod:`theory.rag.quantifiers`), so the vocabulary holds
  ``{1} .. {n_max}``. The search text starts with the prompt ``<s> sym:x_1 .. sym:x_n`` (earlier
  phase-1 blocks come after it), and ``^`` anchors the count there, so group 1 is sym:x_i (the proof is
  in :mod:`theory.rag.retrieval`). A number token cannot be the count: ``{ k }`` is literal text.
  Without quantifier tokens the pattern is unary (``^\\S+``, i - 1 times ``\\S+``, ``(\\S+)``) and phase 1
  costs sum_i (i + 7) = n(n+1)/2 + 7n tokens instead of 9n.
* **Lemma C.31 lookup takes the newest record.** ``p (.) p .*?$`` returns the oldest record (and
  ``(.)`` only fits one-character tokens). Here: ``^.*``, ``p``, ``(sym:\\S+)``, ``p``, i.e.
  ``^.* p (sym:\\S+) p``: the greedy ``^.*`` moves the match to the *last* window
  ``space p space sym:v space p``. The only number–symbol–number windows in the sequence are
  records ``p v p`` (phase-1 and phase-2 records; everything else around a number is a regex
  fragment, a state, a move or a search delimiter; a quantifier token ``{i}`` is not the number i),
  so a match is a record of cell ``p`` and the trailing ``p`` cannot be the prefix of a longer
  number. The query text itself never matches: after ``p`` it has ``(sym:``, not ``sym:``.

Thm 5.4 sequence (one list entry per token, numbers as decimal strings)::

    prompt   <s> sym:x_1 .. sym:x_n
    phase 1  for i = 1..n:  <StartSearch> (?x)^(?:\\S+\\s) {i} (\\S+) <EndSearch> sym:x_i  c_i sym:x_i c_i
    phase 2  for t = 1..T:  <StartSearch> ^.* p (sym:\\S+) p <EndSearch> r  p sym:w p state:q' move:m
    answer   YES | NO

with ``c_i = i + offset`` the cell token of cell i, ``p = POINTER[t] + offset``, ``r`` the retrieved
content (``FAILED`` when the cell has no record: after phase 1 every input cell has one, so FAILED
means the cell is blank), and ``w, q', m = delta(State[t], read)``. Phase 1 has 9 tokens per input
cell (9n, O(n)); phase 2 has 12 T; the answer YES/NO is the only token of the answer set.
"""

from __future__ import annotations

from theory.rag.quantifiers import with_quantifiers
from theory.rag.retrieval import IDX_CAPTURE, IDXQ_OPEN, index_query
from theory.tokens import END_SEARCH, FAILED, NO, START_SEARCH, YES, Vocab
from theory.turing import (DEFAULT_MAX_STEPS, Machine, cell_token, move_token, run, state_token,
                           symbol_token, trace_vocabulary)

LOOKUP_OPEN = r"^.*"        # greedy: the match ends at the LAST record of the cell
LOOKUP_CAPTURE = r"(sym:\S+)"
TM_FRAGMENTS: tuple[str, ...] = (IDXQ_OPEN, IDX_CAPTURE, LOOKUP_OPEN, LOOKUP_CAPTURE)

PHASE1_BLOCK = 9   # tokens per input cell: <StartSearch>, 3 pattern tokens, <EndSearch>, x_i, record
PHASE2_BLOCK = 12  # tokens per simulated step: <StartSearch>, 4 pattern tokens, <EndSearch>, r, record


def tm_vocabulary_extra(machine: Machine) -> tuple[str, ...]:
    """Special tokens of the Thm 5.4 sequence beyond the base ones: trace tokens, then fragments."""
    return trace_vocabulary(machine) + TM_FRAGMENTS


def tm_vocabulary(machine: Machine, numbers: int, n_max: int) -> Vocab:
    """The Thm 5.4 vocabulary: number tokens 1..numbers (cells), the special tokens, and the
    quantifier tokens {1}..{n_max} of the phase-1 Index queries (at least {1})."""
    return with_quantifiers(max(int(numbers), 1), tm_vocabulary_extra(machine), max(int(n_max), 1))


def lookup_query(cell: str) -> list[str]:
    """Newest-record pattern for the cell token ``cell``: ``^.* cell (sym:\\S+) cell``."""
    return [LOOKUP_OPEN, cell, LOOKUP_CAPTURE, cell]


def phase1_length(n: int) -> int:
    """Tokens of phase 1 for an input of length n: 9 n."""
    return PHASE1_BLOCK * n


def phase1_length_unary(n: int) -> int:
    """Phase 1 with unary Index queries (a vocabulary without quantifier tokens): sum_{i<=n} (i + 7)."""
    return n * (n + 1) // 2 + 7 * n



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
