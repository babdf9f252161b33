"""Theorem -> builder -> checker -> claimed size: one row per construction.

Builders are named by dotted path so that importing the registry stays cheap. ``claim`` is what the
builder's docstring promises; ``tests/constructions/test_registry.py`` builds each model for several
n and compares the claim with the built model (depth, heads and width must not change with n).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any, Callable


@dataclass(frozen=True)
class Entry:
    name: str          # e.g. "istree/transformer"
    theorem: str       # e.g. "Thm 4.7 (Lemma C.27)"
    builder: str       # "module:function", called as builder(n, **kwargs)
    checker: str       # the command that checks it
    claim: dict[str, Any]  # depth / heads / width: constants independent of n

    def build(self, n: int, **kwargs) -> Any:
        module, func = self.builder.split(":")
        builder: Callable = getattr(import_module(module), func)
        return builder(n, **kwargs)


ENTRIES: list[Entry] = [
    Entry("istree/transformer", "Thm 4.7 (Lemma C.27), corrected schedule",
          "constructions.transformer.istree:build_istree_transformer",
          "python -m verify.istree --n N", {"depth": 7, "heads": 3, "width": 66}),
]


def get(name: str) -> Entry:
    for entry in ENTRIES:
        if entry.name == name:
            return entry
    raise ValueError(f"no construction named {name!r}; known: {[e.name for e in ENTRIES]}")
