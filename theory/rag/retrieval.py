r"""Reference sequences for Thm 5.2: Index, AR, c-gram retrieval and Counting with in-context RAG.

Written from each task's reference solver (theory.tasks.<task>.solve), never from weights. Regex
fragments are special tokens; the retriever (constructions.runtime.retrieve, Def A.5) joins the
tokens between ``<StartSearch>`` and ``<EndSearch>`` with single spaces and runs ``re.search`` on
the prompt ``<s> t_1 .. t_L`` detokenised the same way (the first search of a sequence sees the
prompt only). Every token of that text is non-empty and has no whitespace, and consecutive tokens
are separated by exactly one space. ``docs/rag.md`` and ``docs/errata.md`` say why the patterns
differ from the printed ones.

Sequences after the prompt (one entry per token; ``{k}`` is a quantifier token,
:mod:`theory.rag.quantifiers`)::

    Index    (rag)        <StartSearch> (?x)^(?:\S+\s) {i} (\S+) <EndSearch> x_i x_i          7 tokens
    Index    (rag-unary)  <StartSearch> ^\S+ \S+ x (i-1) (\S+) <EndSearch> x_i x_i          i + 5 tokens
    AR, c-gram            <StartSearch> GRAM_c <EndSearch> y y                              5 tokens
    Counting (rag)        <StartSearch> OPEN STEP {t+1} END <EndSearch> r YES|NO            8 tokens
    Counting (rag-unary)  <StartSearch> \S(?= (\S+) ) q REPEAT x t (?=\S+ \S) <EndSearch> r YES|NO
                                                                                           t + 7 tokens

with r = q if q occurs more than t times and FAILED otherwise. The stop rule (Sec 3, App. A.4:
decoding stops at the first arg-max in V_A) is respected: no token the model writes before the
answer is in the answer set (numbers for Index/AR/c-gram, YES/NO for Counting); the retrieved token
before the answer is supplied by the retriever, not written by the model.

Proofs (Python ``re``; "token j" counts ``<s>`` as token 1, so x_i is token i + 1):

* **Index, quantifier form.** The first fragment starts with ``(?x)`` (verbose mode, at the start
  of the pattern as Python 3.11 requires for global flags). In verbose mode whitespace outside
  character classes and escapes is ignored, and no fragment has ``#`` or whitespace inside a
  multi-character construct, so the joining spaces vanish and the pattern is
  ``^(?:\S+\s){i}(\S+)``. From a token start, ``\S+\s`` can only consume the whole token and the
  space after it (a shorter ``\S+`` would leave a non-space for ``\s``). So ``{i}`` skips tokens
  1..i, and ``(\S+)`` captures token i + 1 = x_i whole; the text has n + 2 >= i + 1 tokens, and
  ``^`` admits one start. group(1) = x_i for every i in 1..n.
* **Index, unary form** (no quantifier tokens): ``^\S+``, i - 1 times ``\S+``, ``(\S+)``; the joining
  spaces are the separators, each ``\S+`` is one whole token by the same argument: group(1) = x_i.
* **AR and c-gram: GRAM_c** = ``^.*?\s(?=(?:\S+\s){c-1}(\S+))((?:\S+\s){c-2}\S+)\s.*\s\2$`` (one token;
  no number inside, so the model never writes the key, a token of V_A). Group 2 is c - 1 whole tokens
  starting at a token start j >= 2 (after ``\s``; ``<s>`` is never a key), group 1 the token after
  them (lookahead). ``\s.*\s\2$``: the text ends with a space and the text of group 2, i.e. its last
  c - 1 tokens (the query) equal the key, and between the key and the query there is at least one
  token (``\s.*\s`` cannot match a single space). So the key ends at a data token x_{j'} with
  j' <= n - 1 and group 1 = the next data token. ``^.*?`` is lazy and ``^`` admits one start, so the
  engine tries key positions in increasing order and the match is the *first* occurrence of the
  query as c - 1 consecutive data tokens followed by a data token: group(1) = the task's answer.
  Cost: O(n) per tried position, O(n^2) character steps in the worst case.
* **Counting, quantifier form.** Verbose mode again; with k = t + 1 the pattern is
  ``^(?=.*\s(\S+)\s\S+$)\S+`` ``(?:(?:\s(?!\1(?:\s|$))\S+)*\s\1(?=\s)){k}`` ``(?=\s\S+\s\S)``.
  The lookahead captures the second-to-last token, the query q, as group 1 (``\S+`` cannot span a
  space, so ``\s(\S+)\s\S+$`` is exactly the last two tokens); ``\S+`` skips ``<s>``. One STEP skips
  whole tokens different from q (``(?!\1(?:\s|$))``: the token is not exactly q; a token with q as a
  proper prefix is skipped) and then consumes the next token equal to q; it cannot skip a q, and
  stopping early leaves a non-q token for ``\s\1(?=\s)``, so the only way through k STEPs ends at the
  k-th occurrence of the token q in the text (no backtracking choices: linear time). END demands two
  more tokens after it, true exactly for data tokens (the query q and the threshold token T follow
  every x_j; the query is followed by T only, T by nothing). The occurrences are in text order, so
  the k-th is a data token iff q occurs at least k = t + 1 times in x_1..x_m: a match (group(1) = q)
  iff the answer is YES, FAILED iff NO. t = n gives {n + 1}: Counting needs K = n + 1 quantifiers.
* **Counting, unary form**: ``\S(?= (\S+) )`` (group 1 = the token after the character matched by
  ``\S``), the literal q (so group 1 = q, a whole token: the joining space follows it), t copies of
  REPEAT = ``(?:(?!\1 )\S+ )*\1(?= )`` and ``(?=\S+ \S)``. Each REPEAT starts at a token start (the
  joining space consumed the text's space), skips whole tokens other than q (``(?!\1 )``), then
  consumes the next q; as for STEP there is one way through, ending at the next occurrence of q. The
  final lookahead demands two more tokens (a data token). So a match starts at some occurrence of q
  and counts t more after it, all data: it exists iff q occurs at least t + 1 times among the data.
  The first version, REPEAT = ``(?:\S+ )*?\1(?= )``, could lazily skip over occurrences, so a failing
  search backtracked through up to 2^count choices (0.4 s at 20 equal tokens, doubling per token).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theory.rag.quantifiers import quantifier, with_quantifiers
from theory.tokens import BOS, END_SEARCH, FAILED, START_SEARCH, YES, Vocab

# -- Index ------------------------------------------------------------------------------------------
IDXQ_OPEN = r"(?x)^(?:\S+\s)"   # verbose mode; the repeated group "one token and its space"
IDX_OPEN = r"^\S+"              # unary: anchor at the start and skip <s>
IDX_SKIP = r"\S+"               # unary: skip one more token (the joining space separates tokens)
IDX_CAPTURE = r"(\S+)"          # the token wanted
INDEX_FRAGMENTS: tuple[str, ...] = (IDXQ_OPEN, IDX_CAPTURE)
INDEX_UNARY_FRAGMENTS: tuple[str, ...] = (IDX_OPEN, IDX_SKIP, IDX_CAPTURE)


def index_query(i: int) -> list[str]:
    """Quantifier Index pattern for the i-th input token (i >= 1): ``(?x)^(?:\\S+\\s) {i} (\\S+)``."""
    return [IDXQ_OPEN, quantifier(i), IDX_CAPTURE]


def index_query_unary(i: int) -> list[str]:
    """Unary Index pattern for the i-th input token (i >= 1): ``^\\S+ \\S+ .. (\\S+)`` (i + 1 tokens)."""
    if i < 1:
        raise ValueError(f"index queries start at 1, got {i}")
    return [IDX_OPEN] + [IDX_SKIP] * (i - 1) + [IDX_CAPTURE]


# -- AR and c-gram ------------------------------------------------------------------------------------
GRAM_LEFT = r"\S"   # "the key starts a token": used by Thm 5.3's record lookups (theory.rag.istree)


def gram_pattern(c: int) -> str:
    """The one-token first-occurrence pattern for (c-1)-gram keys (c >= 2); see the module docstring."""
    if isinstance(c, bool) or not isinstance(c, (int, np.integer)) or c < 2:
        raise ValueError(f"the gram length c must be an integer >= 2, got {c!r}")
    skip = r"(?:\S+\s)"
    key = (skip + "{" + str(c - 2) + "}" if c > 2 else "") + r"\S+"
    value = skip + ("{" + str(c - 1) + "}" if c > 2 else "")
    return r"^.*?\s(?=" + value + r"(\S+))(" + key + r")\s.*\s\2$"


def gram_query(c: int) -> list[str]:
    return [gram_pattern(c)]


# -- Counting -------------------------------------------------------------------------------------------
COUNTQ_OPEN = r"(?x)^(?=.*\s(\S+)\s\S+$)\S+"          # group 1 = the query q; skip <s>
COUNTQ_STEP = r"(?:(?:\s(?!\1(?:\s|$))\S+)*\s\1(?=\s))"  # to the next occurrence of q, no choices
COUNTQ_END = r"(?=\s\S+\s\S)"                           # that occurrence is a data token
COUNTING_FRAGMENTS: tuple[str, ...] = (COUNTQ_OPEN, COUNTQ_STEP, COUNTQ_END)

COUNT_OPEN = r"\S(?= (\S+) )"       # unary form
COUNT_REPEAT = r"(?:(?!\1 )\S+ )*\1(?= )"   # to the next occurrence of q, no choices
COUNT_END = r"(?=\S+ \S)"
COUNTING_UNARY_FRAGMENTS: tuple[str, ...] = (COUNT_OPEN, COUNT_REPEAT, COUNT_END)


def count_query(t: int) -> list[str]:
    """Quantifier Counting pattern for threshold t >= 0 (the query is read from the text)."""
    return [COUNTQ_OPEN, COUNTQ_STEP, quantifier(t + 1), COUNTQ_END]


def count_query_unary(q: int, t: int) -> list:
    return [COUNT_OPEN, q, *[COUNT_REPEAT] * t, COUNT_END]


# -- vocabularies ----------------------------------------------------------------------------------------
def fragments(task: str, c: int | None = None, unary: bool = False) -> tuple[str, ...]:
    if task == "index":
        return INDEX_UNARY_FRAGMENTS if unary else INDEX_FRAGMENTS
    if task == "counting":
        return COUNTING_UNARY_FRAGMENTS if unary else COUNTING_FRAGMENTS
    if task in ("ar", "cgram") and not unary:
        return (gram_pattern(2 if task == "ar" else c),)
    raise ValueError(f"no Thm 5.2 {'unary ' if unary else ''}patterns for task {task!r}")


def quantifiers_needed(task: str, n: int) -> int:
    """K: Index asks for {1}..{n}, Counting for {1}..{n + 1} (t + 1 with t <= n)."""
    return {"index": n, "counting": n + 1}[task]


def rag_vocabulary(task: str, task_vocab: Vocab, c: int | None = None, unary: bool = False) -> Vocab:
    """The model's vocabulary: the task's tokens (ids shared with the task's batches), then the regex
    fragments, then (Index and Counting, quantifier form) the quantifier tokens."""
    extra = tuple(task_vocab.extra) + fragments(task, c, unary)
    if task in ("index", "counting") and not unary:
        return with_quantifiers(task_vocab.n, extra, quantifiers_needed(task, task_vocab.n))
    return Vocab(task_vocab.n, extra)


# -- sequences ----------------------------------------------------------------------------------------------
def index_rag_trace(n: int, x, i: int, unary: bool = False) -> list:
    from theory.tasks import index

    answer = index.solve(n, x, i)
    query = index_query_unary(i) if unary else index_query(i)
    return [START_SEARCH, *query, END_SEARCH, answer, answer]


def cgram_rag_trace(n: int, c: int, x, q) -> list:
    from theory.tasks import cgram

    answer = cgram.solve(n, c, x, list(q))
    return [START_SEARCH, *gram_query(c), END_SEARCH, answer, answer]


def ar_rag_trace(n: int, x, q: int) -> list:
    from theory.tasks import ar

    answer = ar.solve(n, x, q)
    return [START_SEARCH, *gram_query(2), END_SEARCH, answer, answer]


def counting_rag_trace(n: int, x, q: int, t: int, unary: bool = False) -> list:
    from theory.tasks import counting

    answer = counting.solve(n, x, q, t)
    found = q if answer == YES else FAILED
    query = count_query_unary(q, t) if unary else count_query(t)
    return [START_SEARCH, *query, END_SEARCH, found, answer]


def retrieval_rag_trace(task: str, n: int, c: int | None, prompt: Sequence, unary: bool = False) -> list:
    """The Thm 5.2 tokens after ``prompt`` (``<s>``, data, query tokens as in theory.tasks.<task>;
    numbers as ints or decimal strings, the Counting threshold 0 as ``"0"``), the answer last.
    ``unary``: the patterns for a vocabulary without quantifier tokens (Index and Counting)."""
    toks = list(prompt)
    if not toks or toks[0] != BOS:
        raise ValueError("a retrieval prompt starts with <s>")

    def num(tok) -> int:
        if isinstance(tok, str) and tok.isdigit():
            return int(tok)
        if isinstance(tok, (int, np.integer)) and not isinstance(tok, bool):
            return int(tok)
        raise ValueError(f"expected a number token, got {tok!r}")

    body = toks[1:]
    if unary and task not in ("index", "counting"):
        raise ValueError(f"task {task!r} has no unary variant (its pattern has no count)")
    if task == "index":
        return index_rag_trace(n, [num(v) for v in body[:-1]], num(body[-1]), unary)
    if task == "ar":
        return ar_rag_trace(n, [num(v) for v in body[:-1]], num(body[-1]))
    if task == "cgram":
        return cgram_rag_trace(n, c, [num(v) for v in body[:-(c - 1)]], [num(v) for v in body[-(c - 1):]])
    if task == "counting":
        t = 0 if body[-1] == "0" else num(body[-1])
        return counting_rag_trace(n, [num(v) for v in body[:-2]], num(body[-2]), t, unary)
    raise ValueError(f"no Thm 5.2 sequence for task {task!r}")
