"""Reference sequences for Thm 5.2: Index, AR, c-gram retrieval and Counting with in-context RAG.

Written from each task's reference solver (theory.tasks.<task>.solve), never from weights. Regex
fragments are special tokens; the retriever (constructions.runtime.retrieve, Def A.5) joins the
tokens between ``<StartSearch>`` and ``<EndSearch>`` with single spaces, so every space in a pattern
is a token boundary. ``docs/rag.md`` and ``docs/errata.md`` say why the patterns differ from the
printed ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from theory.tokens import BOS, END_SEARCH, FAILED, START_SEARCH, YES

# Index fragments (also used by Thm 5.4's phase 1, theory.rag.turing)
IDX_OPEN = r"^\S+"          # anchor at the start and skip <s>
IDX_SKIP = r"\S+"           # skip one more token (the joining space separates tokens)
IDX_CAPTURE = r"(\S+)"      # the token wanted


def index_query(i: int) -> list[str]:
    """Unary Index pattern for the i-th input token (i >= 1): ``^\\S+ \\S+ .. (\\S+)``."""
    if i < 1:
        raise ValueError(f"index queries start at 1, got {i}")
    return [IDX_OPEN] + [IDX_SKIP] * (i - 1) + [IDX_CAPTURE]

# Every pattern token is a whole token of the searched text or a fragment that starts and ends at a
# token boundary, so the single joining spaces line up with the text's separators.
#
# * Index: the unary pattern above (``^\S+``, i - 1 times ``\S+``, ``(\S+)``): the quantifier
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
