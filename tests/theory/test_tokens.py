"""Vocabulary ids and fixed embeddings (App. A.3)."""

from __future__ import annotations

import numpy as np
import pytest

from theory.tokens import BASE_SPECIALS, Vocab, number_logit_target


def test_ids_round_trip_and_special_coordinates():
    v = Vocab(7, extra=("-",))
    assert v.size == 7 + len(BASE_SPECIALS) + 1
    for tok in ["1", "7", "<s>", "~", "YES", "NO", "<StartSearch>", "<EndSearch>", "FAILED", "<sep>", "-"]:
        assert v.token(v.id(tok)) == tok
    e = v.embedding_matrix()
    # the k-th special token embeds as w_{2+k}: <s> -> w_3, ~ -> w_4, YES -> w_5 (1-based)
    assert e[v.id("<s>")].nonzero()[0].tolist() == [2]
    assert e[v.id("~")].nonzero()[0].tolist() == [3]
    assert e[v.id("YES")].nonzero()[0].tolist() == [4]
    assert e[v.id(3)].tolist()[:2] == [3.0, -4.5]


@pytest.mark.parametrize("v_target", [1, 2, 5, 9])
def test_number_logit_target_peaks_at_interior_number(v_target):
    v = Vocab(9)
    e = v.embedding_matrix()
    num, sq = number_logit_target(v_target)
    x = np.zeros(e.shape[1])
    x[0], x[1] = num, sq
    logits = e[1:] @ x
    assert int(np.argmax(logits)) + 1 == v.id(v_target)
    assert np.sort(logits)[-1] - np.sort(logits)[-2] >= 1.0 - 1e-12


@pytest.mark.parametrize("bad", [0, 8, "0", "08", "foo", 2.5, None])
def test_unknown_tokens_are_rejected(bad):
    with pytest.raises(ValueError):
        Vocab(7).id(bad)


@pytest.mark.parametrize("n,extra", [(0, ()), (-1, ()), (3, ("YES",)), (3, ("5",)), (3, ("a", "a"))])
def test_bad_vocabularies_are_rejected(n, extra):
    with pytest.raises(ValueError):
        Vocab(n, extra=extra)
