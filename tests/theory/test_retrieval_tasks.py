"""Retrieval tasks: reference solvers against independent implementations, batches, hard families, errata."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings

from tests.strategies import ar_instances, cgram_instances, counting_instances, index_instances
from theory.tasks import ar, cgram, counting, index
from theory.tasks.common import Batch, all_words
from theory.tokens import NO, YES


# -- independent references ------------------------------------------------------------------------
def regex_successor(x, key):
    """The token after the first occurrence of ``key`` (a tuple) in x, via a regex over the text."""
    text = " " + " ".join(map(str, x)) + " "
    m = re.search(r" " + " ".join(map(str, key)) + r" (\d+)(?= )", text)
    return int(m.group(1)) if m else None


@settings(max_examples=200, deadline=None)
@given(index_instances(max_n=64))
def test_index_solver(inst):
    n, x, i = inst
    assert index.solve(n, x, i) == dict(enumerate(x, start=1))[i]


@settings(max_examples=200, deadline=None)
@given(ar_instances(max_n=64))
def test_ar_solver_matches_regex(inst):
    n, x, q = inst
    assert ar.solve(n, x, q) == regex_successor(x, (q,))


@settings(max_examples=200, deadline=None)
@given(cgram_instances(max_n=64))
def test_cgram_solver_matches_regex(inst):
    n, c, x, q = inst
    assert cgram.solve(n, c, x, q) == regex_successor(x, tuple(q))


@settings(max_examples=200, deadline=None)
@given(counting_instances(max_n=64))
def test_counting_solver(inst):
    n, x, q, t = inst
    assert counting.solve(n, x, q, t) == (YES if x.count(q) > t else NO)


# -- batches agree with the solvers ----------------------------------------------------------------
def _rows(batch, voc):
    return [voc.tokens(batch.ids[r, : batch.answer_pos[r] + 1]) for r in range(len(batch))]


def test_index_exhaustive_domain():
    n = 5
    (_, b), = index.exhaustive(n)
    assert len(b) == n * 2**n
    rows = _rows(b, index.vocab(n))
    assert {tuple(r) for r in rows} == {tuple(map(str, index.sequence(n, x, i)))
                                       for x in all_words(2, n).tolist() for i in range(1, n + 1)}


def test_ar_exhaustive_domain_is_every_valid_instance():
    n = 4
    parts = dict(ar.exhaustive(n))
    b = parts["x in {1..4}^n, every query that occurs"]
    expect = set()
    for x in all_words(4, n).tolist():
        for q in range(1, 5):
            if q in x[:-1]:
                expect.add(tuple(map(str, ar.sequence(n, x, q))))
    assert {tuple(r) for r in _rows(b, ar.vocab(n))} == expect


def test_cgram_exhaustive_domain_is_every_valid_instance():
    n, c = 5, 3
    b = Batch.concat([p for name, p in cgram.exhaustive(n, c) if "every query" in name])
    expect = set()
    for x in all_words(4, n).tolist():
        for j in range(n - c + 1):
            expect.add(tuple(map(str, cgram.sequence(n, c, x, x[j:j + c - 1]))))
    got = [tuple(r) for r in _rows(b, cgram.vocab(n, c))]
    assert len(got) == len(set(got)) and set(got) == expect


def test_counting_exhaustive_domain():
    n = 3
    b = dict(counting.exhaustive(n))["x in {1,2}^n, every query and threshold 0..n"]
    assert len(b) == 2**n * n * (n + 1)
    voc = counting.vocab(n)
    for row in _rows(b, voc):
        x, q, t = [int(v) for v in row[1:n + 1]], int(row[n + 1]), row[n + 2]
        assert row[-1] == counting.solve(n, x, q, 0 if t == counting.ZERO else int(t))


@pytest.mark.parametrize("task,args", [(index, (7,)), (ar, (7,)), (cgram, (7, 3)), (counting, (7,))])
def test_samples_are_valid_and_seeded(task, args):
    b1 = task.sample(*args, 50, np.random.default_rng(3))
    b2 = task.sample(*args, 50, np.random.default_rng(3))
    assert np.array_equal(b1.ids, b2.ids) and len(b1) > 0
    n = args[0]
    voc = task.vocab(*args)
    for row in _rows(b1, voc):
        if task is cgram:
            c = args[1]
            assert str(cgram.solve(n, c, [int(v) for v in row[1:n + 1]], [int(v) for v in row[n + 1:-1]])) == row[-1]
        elif task is counting:
            t = row[-2]
            assert counting.solve(n, [int(v) for v in row[1:-3]], int(row[-3]),
                                  0 if t == counting.ZERO else int(t)) == row[-1]
        else:
            assert str(task.solve(n, [int(v) for v in row[1:-2]], int(row[-2]))) == row[-1]


# -- hard families -----------------------------------------------------------------------------------
def test_ar_hard_family_answers_are_the_bits():
    n = 8
    b = ar.hard_family(n)
    assert len(b) == 2 ** (n // 2) * (n // 2)
    queries = b.ids[:, n + 1]
    assert np.array_equal(b.answers, b.ids[np.arange(len(b)), 2 * queries])  # v_k sits at position 2k


def test_ar_printed_hard_family_is_wrong():
    """Erratum: v_i = n/2 + x_i collides with the key n/2, so the intended label v_k is not the AR answer."""
    b, intended = ar.printed_hard_family(8)
    assert np.any(b.answers != intended)


def test_cgram_hard_family():
    n, c = 9, 3
    b = cgram.hard_family(n, c)
    assert len(b) == 2 ** (n // c) * (n // c)
    k = b.ids[:, n + 1]
    assert np.array_equal(b.answers, b.ids[np.arange(len(b)), c * k])
    printed = cgram.hard_family(n, c, offset=0)
    assert np.any(printed.answers != printed.ids[np.arange(len(printed)), c * printed.ids[:, n + 1]])


def test_counting_hard_family_threshold_zero_reveals_bits():
    """Erratum 8: with t = 0 the answer is x_k; the paper's t = 1 is always NO."""
    n = 6
    voc = counting.vocab(n)
    b = counting.hard_family(n)
    rows = _rows(b, voc)
    for row in rows:
        ones = [int(v) for v in row[1:-3]]
        k = int(row[-3])
        assert row[-2] == counting.ZERO
        assert row[-1] == (YES if k in ones else NO)
        assert ones == sorted(set(ones))
    assert {row[-1] for row in _rows(counting.hard_family(n, t=1), voc)} == {NO}


# -- validation ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("call,message", [
    (lambda: index.solve(1, [1], 1), "at least 2"),
    (lambda: index.solve(3, [1, 2], 1), "exactly n = 3"),
    (lambda: index.solve(3, [1, 2, 4], 1), "outside the number tokens"),
    (lambda: index.solve(3, [1, 2, 3], 0), "outside"),
    (lambda: ar.solve(3, [1, 2, 3], 3), "does not occur"),
    (lambda: ar.solve(3, [1, True, 3], 1), "not an integer"),
    (lambda: cgram.solve(4, 1, [1, 2, 3, 4], []), "at least 2"),
    (lambda: cgram.solve(3, 4, [1, 2, 3], [1, 2, 3]), "at least 4"),
    (lambda: cgram.solve(4, 3, [1, 2, 3, 4], [1]), "c - 1 = 2"),
    (lambda: cgram.solve(4, 3, [1, 2, 3, 4], [3, 4]), "prefixes no"),
    (lambda: counting.solve(3, [1, 2, 3, 1], 1, 0), "at most n"),
    (lambda: counting.solve(3, [1], 1, 4), "exceeds"),
    (lambda: counting.solve(3, [1], 1, -1), "at least 0"),
    (lambda: ar.hard_family(5), "even"),
    (lambda: cgram.hard_family(8, 3), "c | n"),
])
def test_bad_input_raises_clear_errors(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
