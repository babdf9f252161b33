"""Vocabulary and the fixed embeddings shared by every model (Sec 3, App. A.3).

Token ids: the number tokens ``1..n`` have ids ``1..n``; the k-th special token (k = 1, 2, ...) has
id ``n + k``. Id 0 is never used, so a zero in an id array always means "padding".

Embeddings (fixed, never parameters):

* number ``i``      -> ``i * w_num - (i^2 / 2) * w_num_sq``  (docs/errata.md, number read-out: the second
  coordinate lets a tied read-out peak at an interior number; see :func:`number_logit_target`);
* special token k   -> ``w_{2+k}``, i.e. its own indicator coordinate ``tok:<name>``;
* quantifier ``{k}``  -> ``k * w_qnt - (k^2 / 2) * w_qnt_sq``, only in a vocabulary whose ``extra`` holds
  the family declaration ``{1..K}`` (the tokens ``{1} .. {K}``, ids after the specials; a second
  number-like family for regex counts, theory/rag/quantifiers.py);
* position ``l``    -> ``l * w_pos`` (the last coordinate).

The read-out is tied: ``logits = W_E x`` over the token coordinates of the residual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

# Order fixed by the paper (App. A.3): <s>, ~, YES, NO, <StartSearch>, <EndSearch>. FAILED comes
# from Def A.5 (the retriever's answer when nothing matches) and <sep> is the separator after the
# IsTree edge list (docs/istree.md, problem 5).
BASE_SPECIALS: tuple[str, ...] = ("<s>", "~", "YES", "NO", "<StartSearch>", "<EndSearch>", "FAILED", "<sep>")

BOS, TILDE, YES, NO, START_SEARCH, END_SEARCH, FAILED, SEP = BASE_SPECIALS


QUANTIFIER_FAMILY = re.compile(r"\{1\.\.(0|[1-9][0-9]*)\}")   # the declaration "{1..K}" in ``extra``
QUANTIFIER_TOKEN = re.compile(r"\{([1-9][0-9]*)\}")          # one quantifier token "{k}"
QUANTIFIER_COORDINATES = ("qnt", "qnt_sq")


def tok(name: str) -> str:
    """The residual coordinate of special token ``name``: ``tok:<name>`` (its embedding indicator)."""
    return f"tok:{name}"


def embedding_coordinates(specials: tuple[str, ...]) -> list[str]:
    """Names of the embedding coordinates, in order: ``num``, ``num_sq``, ``tok:<name>`` ..."""
    return ["num", "num_sq"] + [tok(name) for name in specials]


@dataclass(frozen=True)
class Vocab:
    """Number tokens ``1..n`` followed by special tokens.

    ``extra`` names further special tokens (regex fragments, tape symbols, ...); they come after
    :data:`BASE_SPECIALS` so the paper's six keep their coordinates ``w_3 .. w_8``. An entry ``{1..K}``
    is not a token: it declares the quantifier tokens ``{1} .. {K}`` (ids ``n + len(specials) + k``)
    with the two embedding coordinates ``qnt``, ``qnt_sq``; being part of ``extra``, it is saved and
    hashed with the model like every other token name.
    """

    n: int
    extra: tuple[str, ...] = ()
    specials: tuple[str, ...] = field(init=False)
    quantifiers: int | None = field(init=False)   # K, or None without a quantifier family

    def __post_init__(self) -> None:
        if not isinstance(self.n, (int, np.integer)) or isinstance(self.n, bool) or self.n < 1:
            raise ValueError(f"vocabulary size n must be a positive integer, got {self.n!r}")
        clash = [name for name in self.extra if name in BASE_SPECIALS or _is_number(name)
                 or QUANTIFIER_TOKEN.fullmatch(name)]
        if clash or len(set(self.extra)) != len(self.extra):
            raise ValueError(f"extra special tokens must be new, non-numeric and distinct: {list(self.extra)}")
        families = [int(m.group(1)) for m in map(QUANTIFIER_FAMILY.fullmatch, self.extra) if m]
        if len(families) > 1:
            raise ValueError(f"at most one quantifier family may be declared: {list(self.extra)}")
        object.__setattr__(self, "quantifiers", families[0] if families else None)
        object.__setattr__(self, "specials", BASE_SPECIALS + tuple(e for e in self.extra
                                                                   if not QUANTIFIER_FAMILY.fullmatch(e)))

    # -- ids ----------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """|V| = n + n_S (+ K quantifier tokens)."""
        return self.n + len(self.specials) + (self.quantifiers or 0)

    def id(self, token: str | int) -> int:
        """The id of a token given as an int (a number) or a string (a number or a special)."""
        if isinstance(token, (int, np.integer)) and not isinstance(token, bool):
            if not 1 <= token <= self.n:
                raise ValueError(f"number token {int(token)} is outside 1..{self.n}")
            return int(token)
        if isinstance(token, str):
            if _is_number(token):
                return self.id(int(token))
            quant = QUANTIFIER_TOKEN.fullmatch(token)
            if quant and self.quantifiers is not None:
                if int(quant.group(1)) > self.quantifiers:
                    raise ValueError(f"quantifier token {token} is outside {{1}}..{{{self.quantifiers}}}")
                return self.n + len(self.specials) + int(quant.group(1))
            try:
                return self.n + 1 + self.specials.index(token)
            except ValueError:
                raise ValueError(f"unknown token {token!r}") from None
        raise ValueError(f"unknown token {token!r}")

    def ids(self, tokens) -> np.ndarray:
        return np.array([self.id(t) for t in tokens], dtype=np.int64)

    def token(self, token_id: int) -> str:
        token_id = int(token_id)
        if 1 <= token_id <= self.n:
            return str(token_id)
        k = token_id - self.n - 1
        if 0 <= k < len(self.specials):
            return self.specials[k]
        if len(self.specials) <= k < self.size - self.n:
            return "{" + str(k - len(self.specials) + 1) + "}"
        raise ValueError(f"token id {token_id} is outside 1..{self.size}")

    def tokens(self, ids) -> list[str]:
        return [self.token(i) for i in ids]

    def is_number(self, token_id) -> np.ndarray:
        token_id = np.asarray(token_id)
        return (token_id >= 1) & (token_id <= self.n)

    # -- embeddings ---------------------------------------------------------------------------
    @property
    def coordinates(self) -> list[str]:
        quant = list(QUANTIFIER_COORDINATES) if self.quantifiers is not None else []
        return embedding_coordinates(self.specials) + quant

    def embedding_matrix(self) -> np.ndarray:
        """``E[id, j]``: row ``id`` is the embedding of token ``id`` over :attr:`coordinates`.

        Row 0 (padding) is zero.
        """
        e = np.zeros((self.size + 1, len(self.coordinates)))
        numbers = np.arange(1, self.n + 1, dtype=float)
        e[1:self.n + 1, 0] = numbers
        e[1:self.n + 1, 1] = -numbers**2 / 2
        for k in range(len(self.specials)):
            e[self.n + 1 + k, 2 + k] = 1.0
        if self.quantifiers:
            ks = np.arange(1, self.quantifiers + 1, dtype=float)
            first = self.n + len(self.specials) + 1
            e[first:, 2 + len(self.specials)] = ks
            e[first:, 3 + len(self.specials)] = -ks**2 / 2
        return e


def _is_number(text: str) -> bool:
    return text.isdigit() and not text.startswith("0")


def number_logit_target(value: float, scale: float = 2.0) -> tuple[float, float]:
    """Residual values ``(num, num_sq)`` that make the tied read-out choose number ``value``.

    With ``num = scale * v`` and ``num_sq = scale``, the logit of number ``i`` is
    ``scale * (i v - i^2 / 2) = scale * v^2 / 2 - (scale / 2) (i - v)^2``: it peaks at ``i = v`` and
    beats ``v +- 1`` by ``scale / 2``. Special tokens read their own coordinates.
    """
    return scale * value, scale
