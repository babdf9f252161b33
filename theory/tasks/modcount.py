"""Small tasks for the toolkit's small RNNs (Thm 4.8's library): count the 1s of a bit string modulo k.

Prompt ``<s> sym:b_1 .. sym:b_l`` with bits ``b_i`` in {0, 1} (any l >= 0).

* **parity** (k = 2): the answer YES iff the number of 1s is odd; no chain of thought.
* **mod k**: the chain of thought is the number token ``(c mod k) + 1`` (c = the number of 1s), then
  YES iff ``c mod k == 0``. The number token exercises number outputs of an RNN; the answer stops
  decoding.

The references below are plain Python (the independent side of every check).
"""

from __future__ import annotations

import itertools

from theory.tokens import BOS, NO, YES

ALPHABET = ("0", "1")


def prompt(word) -> list[str]:
    bits = tuple(word)
    for k, b in enumerate(bits):
        if b not in ALPHABET:
            raise ValueError(f"input[{k}] = {b!r} is not a bit ('0' or '1')")
    return [BOS] + ["sym:" + b for b in bits]


def ones(word) -> int:
    return sum(1 for b in word if b == "1")


def parity_trace(word) -> list[str]:
    return [YES if ones(word) % 2 else NO]


def mod_trace(word, k: int) -> list[str]:
    if k < 2:
        raise ValueError(f"k must be >= 2, got {k}")
    r = ones(word) % k
    return [str(r + 1), YES if r == 0 else NO]


def words_up_to(max_len: int):
    for n in range(max_len + 1):
        yield from itertools.product(ALPHABET, repeat=n)


def vocabulary() -> tuple[str, ...]:
    return tuple("sym:" + b for b in ALPHABET)
