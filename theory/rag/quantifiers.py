"""Quantifier tokens: a vocabulary with a second number-like family ``{1} .. {K}`` (Thm 5.2, Def A.5).

Why a family of tokens. A regex selects "the i-th token" or "at least t + 1 occurrences" in O(1)
pattern tokens only with a counted repetition ``{k}``. A number token cannot play that part: the
retriever joins pattern tokens with single spaces, so ``{``, ``k``, ``}`` would read ``{ k }``,
which Python's ``re`` takes as literal text (docs/errata.md). The token ``{k}`` itself, one token
per k, is what the paper's printed Index regex ``^(?:\\S\\s*){k-1}(\\S)`` needs.

Why this is faithful to Def A.5. The paper already assumes the number tokens 1..n are in the
vocabulary, with the fixed embedding ``i w_1`` (App. A.3): an O(n) family read and written in two
coordinates. The quantifier family is the same device once more: ``K = O(n)`` tokens, a fixed
embedding in two new coordinates,

    {k}  ->  k w_qnt - (k^2 / 2) w_qnt_sq,

and the tied read-out. The residual width grows by 2 whatever n is, so a constant-size model can
emit ``{k}`` for a k held in its state exactly as it emits a number: write ``qnt = 2k, qnt_sq = 2``
(and nothing else); the logit of ``{j}`` is then ``2jk - j^2 = k^2 - (j - k)^2``, largest at j = k,
``k^2 >= 1`` above every other token (which read 0) and 1 above ``{k +- 1}``. k = 0 would tie with
every token at logit 0, so the family starts at 1, like the number tokens. Retrieval, regex
semantics and the model classes are untouched; only the vocabulary is larger. A vocabulary without
such a family is still served by the unary models (``rag-unary`` in the catalogue).

The family lives in :class:`theory.tokens.Vocab`: an ``extra`` entry ``{1..K}`` declares it (so it is
saved, loaded and hashed with the model like every token name); :func:`with_quantifiers` builds such a
vocabulary.
"""

from __future__ import annotations

import numpy as np

from theory.tokens import QUANTIFIER_COORDINATES, Vocab

__all__ = ["QUANTIFIER_COORDINATES", "family", "quantifier", "with_quantifiers"]


def quantifier(k: int) -> str:
    """The text of the quantifier token for k (k >= 1): ``{k}``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"quantifier tokens are {{1}}, {{2}}, ...; got k = {k!r}")
    return "{" + str(int(k)) + "}"


def family(k_max: int) -> str:
    """The ``extra`` entry that declares the quantifier tokens ``{1} .. {k_max}``."""
    return "{1.." + str(int(k_max)) + "}"


def with_quantifiers(n: int, extra: tuple[str, ...], k_max: int) -> Vocab:
    """Numbers 1..n, the special tokens ``extra``, and the quantifier tokens {1}..{k_max}."""
    return Vocab(n, tuple(extra) + (family(k_max),))
