"""Named residual layout: every coordinate of the residual stream has a name.

Builders never write ``W[17, 3]``; they ask the layout for ``layout["pos"]`` and write maps between
named coordinates. The embedding coordinates (``num``, ``num_sq``, ``tok:<name>``) come first, in
the vocabulary's order, and ``pos`` is always last (paper: the position sits in ``w_d``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from theory.tokens import Vocab


@dataclass
class Layout:
    """An ordered list of coordinate names; ``layout[name]`` is the index."""

    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(set(self.names)) != len(self.names):
            dupes = sorted({n for n in self.names if self.names.count(n) > 1})
            raise ValueError(f"layout names must be distinct, repeated: {dupes}")
        self._index = {name: i for i, name in enumerate(self.names)}

    @classmethod
    def for_vocab(cls, vocab: Vocab, scratch: list[str]) -> "Layout":
        """Embedding coordinates, then ``scratch``, then ``pos``."""
        return cls(vocab.coordinates + list(scratch) + ["pos"])

    def __getitem__(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"no residual coordinate named {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self.names)

    def indices(self, names) -> list[int]:
        return [self[n] for n in names]

    def named(self, vector) -> dict[str, float]:
        """One residual column as ``{name: value}`` (e.g. a row of a ``forward(..., dump=True)`` residual)."""
        if len(vector) != len(self.names):
            raise ValueError(f"expected a vector of width {len(self.names)}, got {len(vector)}")
        return {name: float(v) for name, v in zip(self.names, vector)}

    def describe(self) -> str:
        width = len(str(len(self.names) - 1))
        return "\n".join(f"{i:>{width}}  {name}" for i, name in enumerate(self.names))
