"""The printed RAG regexes (Thms 5.2 and 5.4) fail under the paper's own detokenisation
(tokens joined by single spaces, Python ``re``, first match, group 1) or under its stop rule (decoding
stops at the first answer-set token); ours succeed."""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from constructions import registry
from constructions.runtime.retrieve import Retriever
from theory.rag import retrieval as rr
from theory.rag import turing as rt
from theory.rag.quantifiers import with_quantifiers
from theory.tasks.ar import ARTask
from theory.tasks.base import Chunk
from theory.tasks.common import Batch
from theory.tokens import BOS, END_SEARCH, FAILED, START_SEARCH, Vocab
from verify import core


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
    # ours: a quantifier token {k} (one token per k) in verbose mode, or the unary pattern
    quant = with_quantifiers(8, ("sym:a", "sym:b", *rt.TM_FRAGMENTS, *rr.INDEX_UNARY_FRAGMENTS[:2]), 3)
    assert rr.index_query(2) == [rr.IDXQ_OPEN, "{2}", rr.IDX_CAPTURE]
    assert _retrieve(quant, context, rr.index_query(2)) == ["sym:b"]
    assert _retrieve(quant, context, rr.index_query_unary(2)) == ["sym:b"]


def test_quantifier_token_needs_verbose_mode():
    # joined by a space, a bare {k} quantifies the space before it; (?x) drops the joining spaces
    text = "<s> 4 5 6"
    assert re.search(r"^(?:\S+\s) {2} (\S+)", text) is None
    assert re.search(" ".join(rr.index_query(2)), text).group(1) == "5"


def test_old_ar_pattern_breaks_the_stop_rule():
    """The paper's AR pattern (and our earlier `\\S q (\\S+)`) writes the key q, a number: under the
    stop rule decoding stops there and answers q. The retriever itself would find the right value."""
    n, x, q = 6, [3, 5, 2, 6, 1, 4], 2          # the answer is 6
    old = [START_SEARCH, r"\S", q, r"(\S+)", END_SEARCH, 6, 6]
    vocab = Vocab(n, (r"\S", r"(\S+)"))
    assert _retrieve(vocab, [BOS, *x, q], old[1:4]) == ["6"]
    task = ARTask(n)
    construction = dataclasses.replace(registry.get("ar", "rag"), reference=lambda t, inst: old)
    stub = type("Stub", (), {"vocab": vocab})()
    batch = Batch.from_sequences(vocab, [[BOS, *x, q, 6]])
    seqs = core.build_sequences(construction, task, stub, Chunk(np.arange(1), batch))
    # prompt: 8 tokens; <StartSearch> is position 9, \S 10, the key 2 position 11
    assert seqs.problems[0] == ("stop rule: the model writes 2, a token of the answer set, at position 11, "
                                "before the answer; decoding would stop there")
    # ours passes the same check
    ours = registry.get("ar", "rag")
    model = ours.build(task)
    good = core.build_sequences(ours, task, model, Chunk(np.arange(1), Batch.from_sequences(model.vocab,
                                                                                             [[BOS, *x, q, 6]])))
    assert good.problems == [None]


def test_printed_ar_regex_fails_right_after_bos():
    text = "<s> 3 5 3 7 3"  # AR: the key 3 directly follows <s>; the answer is 5
    assert re.search(r"\b 3 \b(\S+)\b", text).group(1) == "7"  # skips the first 3: wrong answer
    assert re.search(r"(?:^| )3 (\S+)", text).group(1) == "5"


def test_printed_counting_regex_needs_adjacent_repeats():
    text = "<s> 4 1 4 2 4"  # 4 occurs three times, never adjacent
    assert re.search(r"(\b 4 \b){2}", text) is None  # "more than 1 time" is missed
    assert re.search(r"((?:.*?(?:^| )4(?= |$)){2})", text) is not None


def test_spec_safe_forms_fail_when_emitted_as_tokens():
    text = "<s> 3 5 3 7 3"
    # the usual safe form `(?:^| )q (\S+)`; emitted as tokens it becomes `(?:^| ) 3 (\S+)` (two spaces)
    assert re.search(r"(?:^| ) 3 (\S+)", text) is None
    assert re.search(rr.gram_pattern(2), text).group(1) == "5"
    # Counting: without a guard the query token itself is counted (q = 4 occurs twice in the data)
    text = "<s> 4 1 4 4 2"  # data 4 1 4, query 4, threshold 2
    unguarded = " ".join([rr.COUNT_OPEN, "4", rr.COUNT_REPEAT, rr.COUNT_REPEAT])
    assert re.search(unguarded, text) is not None            # would say "more than 2": wrong
    assert re.search(" ".join(map(str, rr.count_query_unary(4, 2))), text) is None   # ours: FAILED -> NO
    assert re.search(" ".join(rr.count_query(2)), text) is None
    assert re.search(" ".join(rr.count_query(1)), text).group(1) == "4"
    # `((?:.*?(?:^| )v(?= |$)){t+1})` needs the number t+1 inside {}: as tokens it is literal text
    assert re.search(r"((?:.*?(?:^| )4(?= |$)){ 2 })", "<s> 4 1 4 4 1") is None


def _horner(k: int) -> list[str]:
    """Tokens of a verbose-mode regex that skips exactly k >= 1 tokens, from the fixed fragments
    `(?:`, `){2}` and `\\S+\\s`: S(1) = \\S+\\s, S(2m) = (?: S(m) ){2}, S(2m+1) = S(2m) \\S+\\s."""
    if k == 1:
        return [r"\S+\s"]
    return ["(?:", *_horner(k // 2), "){2}"] + ([r"\S+\s"] if k % 2 else [])


def test_index_in_log_n_tokens_from_a_fixed_vocabulary():
    """What the O(log n) variant needs: three fixed fragments and verbose mode give the i-th token with
    O(log i) pattern tokens (binary, most significant bit outermost); no quantifier-token family."""
    rng = np.random.default_rng(0)
    n = 300
    x = [int(v) for v in rng.integers(1, n + 1, n)]
    text = " ".join(["<s>", *map(str, x), "7"])
    for i in list(range(1, 40)) + [255, 256, 300]:
        pattern = ["(?x)^", *_horner(i), r"(\S+)"]
        assert re.search(" ".join(pattern), text).group(1) == str(x[i - 1])
        assert len(pattern) <= 3 * i.bit_length() + 2
