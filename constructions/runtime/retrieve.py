"""In-context RAG with regular expressions (Sec 5.1, Def A.5).

After the model emits ``<EndSearch>``, the retriever takes the tokens strictly between the last
``<StartSearch>`` and that ``<EndSearch>`` as the pattern (Def A.5: the printed definition includes
the delimiters, which cannot be intended), detokenises the context *before* that ``<StartSearch>``
(all earlier context, earlier queries and results included) with single spaces, and returns
``re.search(pattern, context).group(1)`` re-tokenised on spaces, or the single token ``FAILED`` when
nothing matches.
"""

from __future__ import annotations

import re

from theory.tokens import END_SEARCH, FAILED, START_SEARCH, Vocab


class RetrievalError(ValueError):
    """The pattern is not a valid regex, has no group 1, or captured text that is not tokens."""


def detokenize(tokens: list[str]) -> str:
    return " ".join(tokens)


class Retriever:
    def __init__(self, vocab: Vocab):
        self.vocab = vocab
        self.start_id = vocab.id(START_SEARCH)
        self.end_id = vocab.id(END_SEARCH)
        self.failed_id = vocab.id(FAILED)

    def is_end(self, token_id: int) -> bool:
        return int(token_id) == self.end_id

    def query(self, seq: list[int]) -> tuple[str, str]:
        """(pattern, searched text) for a sequence ending with ``<EndSearch>``."""
        if not seq or int(seq[-1]) != self.end_id:
            raise RetrievalError("retrieval needs a sequence ending with <EndSearch>")
        starts = [i for i, t in enumerate(seq) if int(t) == self.start_id]
        if not starts:
            raise RetrievalError("<EndSearch> without a preceding <StartSearch>")
        ls = starts[-1]
        pattern = detokenize(self.vocab.tokens(seq[ls + 1:-1]))
        context = detokenize(self.vocab.tokens(seq[:ls]))
        return pattern, context

    def retrieve(self, seq: list[int]) -> list[int]:
        return self.search(*self.query(seq))

    def search(self, pattern: str, context: str) -> list[int]:
        """``re.search(pattern, context).group(1)`` as token ids, or ``[FAILED]`` when nothing matches."""
        try:
            match = re.search(pattern, context)
        except re.error as exc:
            raise RetrievalError(f"bad regex {pattern!r}: {exc}") from None
        if match is None:
            return [self.failed_id]
        try:
            text = match.group(1)
        except IndexError:
            raise RetrievalError(f"regex {pattern!r} has no capturing group 1") from None
        if text is None or text == "":
            raise RetrievalError(f"regex {pattern!r} matched but group 1 captured nothing")
        try:
            return [self.vocab.id(tok) for tok in text.split(" ")]
        except ValueError as exc:
            raise RetrievalError(f"regex {pattern!r} captured {text!r}, which is not tokens ({exc})") from None
