"""The quantifier-token family {1}..{K} (Thm 5.2 with O(1) CoT): ids, embedding, the tied read-out's
margin, and that a model using it survives saving and loading."""

from __future__ import annotations

import numpy as np
import pytest

from constructions.rag.retrieval import build_rag_counting, build_rag_index
from constructions.runtime import io as model_io
from theory.rag.quantifiers import family, quantifier, with_quantifiers
from theory.tokens import Vocab


def test_ids_tokens_and_embedding():
    plain = Vocab(5, ("a", "b"))
    v = with_quantifiers(5, ("a", "b"), 3)
    assert v.extra == ("a", "b", "{1..3}") and v.specials == plain.specials and v.quantifiers == 3
    assert v.size == plain.size + 3
    assert v.coordinates == plain.coordinates + ["qnt", "qnt_sq"]
    ids = v.ids(["1", "5", "a", "b", "{1}", "{3}"])
    assert list(ids) == [1, 5, 5 + 10 - 1, 5 + 10, plain.size + 1, plain.size + 3]
    assert v.tokens(range(1, v.size + 1))[-3:] == ["{1}", "{2}", "{3}"]
    e = v.embedding_matrix()
    assert e.shape == (v.size + 1, len(v.coordinates))
    np.testing.assert_array_equal(e[: plain.size + 1, : len(plain.coordinates)], plain.embedding_matrix())
    for k in (1, 2, 3):
        row = e[v.id(quantifier(k))]
        assert row[-2] == k and row[-1] == -k * k / 2 and not row[:-2].any()
    assert plain.quantifiers is None and "qnt" not in plain.coordinates


def test_invalid_declarations():
    with pytest.raises(ValueError, match="outside"):
        with_quantifiers(4, (), 2).id("{3}")
    with pytest.raises(ValueError):
        Vocab(4, ("{3}",))                       # a quantifier token cannot be an ordinary special
    with pytest.raises(ValueError, match="at most one"):
        Vocab(4, (family(2), family(3)))
    with pytest.raises(ValueError):
        Vocab(4, ()).id("{1}")                   # no family declared
    with pytest.raises(ValueError):
        quantifier(0)


@pytest.mark.parametrize("k", [1, 2, 7, 40])
def test_readout_picks_k_with_margin_one(k):
    """Writing qnt = 2k, qnt_sq = 2 (everything else 0) makes {k} the arg-max, 1 above the next token."""
    v = with_quantifiers(50, ("a",), 50)
    x = np.zeros(len(v.coordinates))
    x[v.coordinates.index("qnt")], x[v.coordinates.index("qnt_sq")] = 2 * k, 2
    logits = v.embedding_matrix()[1:] @ x
    top = np.argsort(logits)[::-1]
    assert v.token(top[0] + 1) == quantifier(k)
    assert logits[top[0]] - logits[top[1]] == 1.0 and logits[top[0]] == k * k


@pytest.mark.parametrize("build", [build_rag_index, build_rag_counting])
def test_models_with_quantifiers_save_and_load(build, tmp_path):
    model = build(6)
    path = tmp_path / "w.npz"
    model_io.save(model, str(path))
    loaded = model_io.load(str(path))
    assert loaded.vocab == model.vocab and loaded.vocab.quantifiers == model.vocab.quantifiers
    assert model_io.weights_sha256(loaded) == model_io.weights_sha256(model)
    model_io.check_compatible(loaded, model)
    ids = model.vocab.ids(["<s>", 1, 2, 3, "{2}"])[None]
    np.testing.assert_array_equal(loaded.forward(ids), model.forward(ids))
