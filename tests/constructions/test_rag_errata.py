"""The printed RAG regexes (Thms 5.2 and 5.4) fail under the paper's own detokenisation
(tokens joined by single spaces, Python ``re``, first match, group 1); ours succeed."""

from __future__ import annotations

import re

from constructions.runtime.retrieve import Retriever
from theory.rag import turing as rt
from theory.tokens import END_SEARCH, FAILED, START_SEARCH, Vocab


def _retrieve(vocab, context, pattern):
    ids = list(vocab.ids(context + [START_SEARCH] + pattern + [END_SEARCH]))
    return vocab.tokens(Retriever(vocab).retrieve(ids))


def test_printed_tm_lookup_returns_the_oldest_record():
    # cell 5 written twice: first a, then b. The printed `p (.) p .*?$` is leftmost: the OLD value.
    text = "<s> 5 a 5 state:q move:R 6 a 6 state:q move:L 5 b 5 state:q move:R"
    assert re.search(r"5 (.) 5 .*?$", text).group(1) == "a"
    # ours, greedy prefix: the newest record
    assert re.search(r"^.* 5 (\S+) 5", text).group(1) == "b"


def test_printed_tm_lookup_fails_on_multi_character_tokens():
    vocab = Vocab(8, ("sym:a", "sym:b", "(.)", ".*?$", *rt.TM_FRAGMENTS))
    context = ["<s>", "5", "sym:a", "5", "5", "sym:b", "5"]
    assert _retrieve(vocab, context, ["5", "(.)", "5", ".*?$"]) == [FAILED]
    assert _retrieve(vocab, context, rt.lookup_query("5")) == ["sym:b"]


def test_printed_index_regex_cannot_take_a_number_token():
    # `{k}` with k a number token detokenises to `{ k }`, which re reads as literal text
    vocab = Vocab(8, ("sym:a", "sym:b", r"^(?:\S\s*){", r"}(\S)", *rt.TM_FRAGMENTS))
    context = ["<s>", "sym:a", "sym:b", "sym:a"]
    assert _retrieve(vocab, context, [r"^(?:\S\s*){", "2", r"}(\S)"]) == [FAILED]
    assert re.search(r"(?x)^(?:\S+\s){ 2 }(\S+)", "<s> sym:a sym:b") is None  # verbose mode does not help
    # with the digits glued on it counts characters, not tokens
    assert re.search(r"^(?:\S\s*){2}(\S)", "<s> sym:a sym:b").group(1) == ">"
    assert _retrieve(vocab, context, rt.index_query(2)) == ["sym:b"]  # ours: unary


def test_printed_ar_regex_fails_right_after_bos():
    text = "<s> 3 5 3 7 3"  # AR: the key 3 directly follows <s>; the answer is 5
    assert re.search(r"\b 3 \b(\S+)\b", text).group(1) == "7"  # skips the first 3: wrong answer
    assert re.search(r"(?:^| )3 (\S+)", text).group(1) == "5"


def test_printed_counting_regex_needs_adjacent_repeats():
    text = "<s> 4 1 4 2 4"  # 4 occurs three times, never adjacent
    assert re.search(r"(\b 4 \b){2}", text) is None  # "more than 1 time" is missed
    assert re.search(r"((?:.*?(?:^| )4(?= |$)){2})", text) is not None
