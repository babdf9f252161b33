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
    claim: dict[str, Any]  # depth / heads / width / ...: constants independent of n
    sizes: tuple[int, ...] = (6, 12, 24)  # n for which the registry test builds and compares

    def build(self, n: int, **kwargs) -> Any:
        module, func = self.builder.split(":")
        builder: Callable = getattr(import_module(module), func)
        return builder(n, **kwargs)


ENTRIES: list[Entry] = [
    Entry("istree/transformer", "Thm 4.7 (Lemma C.27), corrected schedule",
          "constructions.transformer.istree:build_istree_transformer",
          "python -m verify.istree --n N", {"depth": 7, "heads": 3, "width": 58}),
    Entry("index/transformer", "Thm 4.6 (Index), App. C.4",
          "constructions.transformer.index:build_index_transformer",
          "python -m verify.retrieval --task index --n N", {"depth": 2, "heads": 1, "width": 14}),
    Entry("ar/transformer", "Thm 4.6 (Associative Recall), App. C.4",
          "constructions.transformer.ar:build_ar_transformer",
          "python -m verify.retrieval --task ar --n N", {"depth": 3, "heads": 1, "width": 16}),
    Entry("cgram/transformer", "Thm 4.6 (c-gram retrieval), App. C.4; c = 3 (heads c-1, width 14+2(c-1))",
          "constructions.transformer.cgram:build_cgram_transformer",
          "python -m verify.retrieval --task cgram --n N --c 3", {"depth": 3, "heads": 2, "width": 18}),
    Entry("counting/transformer", "Thm 4.6 (Counting), App. C.4",
          "constructions.transformer.counting:build_counting_transformer",
          "python -m verify.retrieval --task counting --n N", {"depth": 4, "heads": 1, "width": 17}),
    Entry("turing/rag", "Thm 5.4 (RAG Linear RNN simulating a TM; here palindrome), corrected regexes",
          "constructions.rag.turing:build_rag_palindrome",
          "python -m verify.turing --machine palindrome --max-len L --model rag",
          {"depth": 4, "state_dim": 21, "ffn_width": 111}, sizes=(2, 4, 6)),
    Entry("index/hybrid", "Thm 5.6 (Index): Linear RNN (position by a running sum) + one Match layer",
          "constructions.hybrid.retrieval:build_index_hybrid",
          "python -m verify.retrieval --task index --n N --model hybrid",
          {"depth": 2, "top_heads": 1, "width": 15, "state_dim": 1}),
    Entry("ar/hybrid", "Thm 5.6 (Associative Recall): shift register + one Match layer",
          "constructions.hybrid.retrieval:build_ar_hybrid",
          "python -m verify.retrieval --task ar --n N --model hybrid",
          {"depth": 2, "top_heads": 1, "width": 19, "state_dim": 5}),
    Entry("cgram/hybrid", "Thm 5.6 (c-gram retrieval, c = 3): shift register + one Match layer",
          "constructions.hybrid.retrieval:build_cgram_hybrid",
          "python -m verify.retrieval --task cgram --n N --c 3 --model hybrid",
          {"depth": 2, "top_heads": 1, "width": 21, "state_dim": 7}),
    Entry("counting/hybrid", "Thm 5.6 (Counting): query held in the RNN state + one COUNT layer",
          "constructions.hybrid.retrieval:build_counting_hybrid",
          "python -m verify.retrieval --task counting --n N --model hybrid",
          {"depth": 1, "top_heads": 1, "width": 18, "state_dim": 4}),
    Entry("istree/hybrid", "Thm 5.7: doubling MatchNearest search, O(n log n) CoT",
          "constructions.hybrid.istree:build_istree_hybrid",
          "python -m verify.istree --n N --model hybrid",
          {"depth": 2, "top_heads": 3, "width": 77, "state_dim": 37}),
    Entry("turing/hybrid", "Thm 5.8 (hybrid TM simulation; here palindrome): one MatchClose head",
          "constructions.hybrid.turing:build_hybrid_palindrome",
          "python -m verify.turing --machine palindrome --max-len L --model hybrid",
          {"depth": 2, "top_heads": 1, "width": 59, "state_dim": 24}, sizes=(2, 4, 6)),
    Entry("index/rag", "Thm 5.2 (Index, RAG Linear RNN): unary regex, CoT i + 5",
          "constructions.rag.retrieval:build_rag_index",
          "python -m verify.retrieval --task index --n N --model rag",
          {"depth": 2, "state_dim": 5, "width": 24, "ffn_width": 39}),
    Entry("ar/rag", "Thm 5.2 (AR, RAG Linear RNN): \\S q (\\S+), CoT 7",
          "constructions.rag.retrieval:build_rag_ar",
          "python -m verify.retrieval --task ar --n N --model rag",
          {"depth": 1, "state_dim": 5, "width": 23, "ffn_width": 43}),
    Entry("cgram/rag", "Thm 5.2 (c-gram, c = 3, RAG Linear RNN): \\S q1 q2 (\\S+), CoT c + 5",
          "constructions.rag.retrieval:build_rag_cgram",
          "python -m verify.retrieval --task cgram --n N --c 3 --model rag",
          {"depth": 1, "state_dim": 6, "width": 24, "ffn_width": 43}),
    Entry("counting/rag", "Thm 5.2 (Counting, RAG Linear RNN): backreference regex, CoT t + 7",
          "constructions.rag.retrieval:build_rag_counting",
          "python -m verify.retrieval --task counting --n N --model rag",
          {"depth": 2, "state_dim": 7, "width": 28, "ffn_width": 46}),
    Entry("istree/rag", "Thm 5.3 (RAG Linear RNN, retrieval DFS with parent records), O(n) CoT",
          "constructions.rag.istree:build_rag_istree",
          "python -m verify.istree --n N --model rag",
          {"depth": 4, "state_dim": 39, "width": 187, "ffn_width": 213}),
]


def get(name: str) -> Entry:
    for entry in ENTRIES:
        if entry.name == name:
            return entry
    raise ValueError(f"no construction named {name!r}; known: {[e.name for e in ENTRIES]}")
