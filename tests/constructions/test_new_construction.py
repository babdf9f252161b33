"""Adding a construction takes one builder and one catalogue entry (docs/adding-a-construction.md).

The toy here is a task whose answer is always the number 1 ("<s> x_1 .. x_n q" -> 1) and a one-block
Transformer that answers 1 whatever it reads. After one ``registry.register`` call the checker
(``verify.retrieval --task one``), the comparison table (``verify.compare``) and the catalogue test
pick it up with no other change; and a broken toy (answering 2) fails the checker with exit 1.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from constructions import registry
from constructions.gadgets.ffn import constant, emit_number
from constructions.runtime import io as model_io
from constructions.runtime.builder import FFNSpec
from constructions.runtime.layout import Layout
from constructions.runtime.transformer import Block, Transformer
from tests.constructions import test_registry
from theory.tasks.common import Batch, RetrievalTask, all_words, full_column, with_columns
from theory.tokens import BOS, Vocab, tok
from verify import compare, retrieval


# -- the toy task: the theory side --------------------------------------------------------------------
class OneTask(RetrievalTask):
    """Toy: the answer is always the number 1."""

    name = "one"

    def vocab(self) -> Vocab:
        return Vocab(self.n)

    def solve(self, instance) -> int:
        return 1

    def _batch(self, words: np.ndarray, queries: np.ndarray) -> Batch:
        rows = len(words)
        ids = with_columns(full_column(rows, self.vocab().id(BOS)), words, queries, full_column(rows, 1))
        return Batch(ids, full_column(rows, self.n + 2))

    def exhaustive_size(self) -> int:
        return 2**self.n

    def exhaustive_batches(self):
        words = all_words(2, self.n)
        return [("x in {1,2}^n, query 1", self._batch(words, full_column(len(words), 1)),
                 {"alphabet": "{1,2}", "queries": "1"})]

    def full_size(self) -> int:
        return self.n**self.n

    def full_batch(self) -> Batch:
        words = all_words(self.n, self.n)
        return self._batch(words, full_column(len(words), 1))

    def sample_batch(self, count: int, rng: np.random.Generator) -> Batch:
        return self._batch(rng.integers(1, self.n + 1, size=(count, self.n)), rng.integers(1, self.n + 1, size=count))


# -- the toy construction: one builder ------------------------------------------------------------------
def build_one_transformer(n: int, answer: float = 1.0) -> Transformer:
    """Two FFN blocks: the constant 1, then the tied read-out's number target ``answer`` (Lemma C.2)."""
    vocab = Vocab(n)
    layout = Layout.for_vocab(vocab, ["one"])
    ones = constant(FFNSpec(layout), "one", "one")
    emit = emit_number(FFNSpec(layout), "answer", {"bias": answer}, clear=tuple(tok(t) for t in vocab.specials))
    return Transformer(vocab, layout, [Block([], ones.build(), "1"), Block([], emit.build(), "answer")],
                       score_scale=1.0, meta={"builder": "build_one_transformer", "n": n})


TOY = registry.Construction(OneTask, "transformer", "toy: the constant answer 1",
                            lambda t: build_one_transformer(t.n), None,
                            lambda t: {"depth": 2, "heads": 0, "width": 2 + 8 + 2}, "0",
                            "python -m verify.retrieval --task one --n N")


@pytest.fixture
def toy():
    registry.register(TOY)
    yield TOY
    registry.unregister(TOY.name)


def test_the_checker_picks_it_up(toy, capsys, tmp_path):
    cert = tmp_path / "c.json"
    assert retrieval.main(["--task", "one", "--n", "5", "--no-progress", "--json", str(cert)]) == 0
    data = json.loads(cert.read_text())
    assert data["verified"] and data["instances_checked"] == 2**5 + OneTask.extra_samples
    assert data["model"]["construction"] == "one/transformer"


def test_the_comparison_table_and_the_catalogue_test_pick_it_up(toy, tmp_path):
    cert = tmp_path / "c.json"
    assert compare.main(["--n", "4", "--samples", "4", "--graphs", "1", "--no-progress", "--json", str(cert)]) == 0
    rows = {(r["task"], r["kind"]): r for r in json.loads(cert.read_text())["rows"]}
    assert rows[("one", "transformer")]["verdict"] == "verified"
    test_registry.test_claimed_shape_holds_for_every_n(toy)
    test_registry.test_one_hash_built_saved_and_loaded(toy, tmp_path)


def test_a_wrong_toy_fails(toy, tmp_path, capsys):
    path = tmp_path / "two.npz"
    model_io.save(build_one_transformer(5, answer=2.0), str(path))
    assert retrieval.main(["--task", "one", "--n", "5", "--weights", str(path), "--no-progress"]) == 1
    assert "expected 1, model chose 2" in capsys.readouterr().out


def test_unregistered_it_is_gone():
    assert "one" not in registry.tasks()
    with pytest.raises(ValueError, match="no construction for task 'one'"):
        registry.get("one", "transformer")
