"""The runtime's semantics pinned against direct formulas (Defs 3.1-3.5, 5.5, A.5).

Each reference below is written out by hand with explicit loops over positions, independent of the
vectorised runtime: column-wise causal softmax, ReGLU, the block's residual order, hard-mode tie
averaging, the Linear RNN recurrence, teacher forcing vs greedy decoding, and the .npz round trip.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import HARD, Rp
from constructions.runtime.builder import FFNSpec, HeadSpec, LinearUnitSpec
from constructions.runtime.decode import greedy, teacher_force
from constructions.runtime.layout import Layout
from constructions.runtime.rnn import Hybrid, LinearRNN, RNNBlock
from constructions.runtime.transformer import FFN, Block, Head, Transformer
from theory.tokens import Vocab


def random_transformer(rng, n=5, d_scratch=3, heads=2, width=4, blocks=2, score_scale=None):
    vocab = Vocab(n)
    layout = Layout.for_vocab(vocab, [f"s{i}" for i in range(d_scratch)])
    d = len(layout)
    out = []
    for _ in range(blocks):
        hs = [Head(rng.normal(size=(2, d)) * 0.3, rng.normal(size=(2, d)) * 0.3, rng.normal(size=(d, d)) * 0.3)
              for _ in range(heads)]
        ffn = FFN(rng.normal(size=(width, d)) * 0.3, rng.normal(size=width), rng.normal(size=(width, d)) * 0.3,
                  rng.normal(size=width), rng.normal(size=(d, width)) * 0.3, rng.normal(size=d))
        out.append(Block(hs, ffn))
    return Transformer(vocab, layout, out, score_scale=score_scale)


def reference_forward(model: Transformer, ids: list[int]) -> np.ndarray:
    """Def 3.1 with tokens as columns, one query column at a time."""
    e = model.vocab.embedding_matrix()
    d, L = model.d, len(ids)
    X = np.zeros((d, L))
    for k, t in enumerate(ids):
        X[: e.shape[1], k] = e[t]
        X[model.layout["pos"], k] = k + 1
    for block in model.blocks:
        A = np.zeros_like(X)
        for h in block.heads:
            for k in range(L):  # query column k attends to keys 1..k
                scores = np.array([(h.W_K @ X[:, j]) @ (h.W_Q @ X[:, k]) * model.scale for j in range(k + 1)])
                w = np.exp(scores - scores.max())
                w /= w.sum()
                A[:, k] += sum(w[j] * (h.W_V @ X[:, j]) for j in range(k + 1))
        Y = X + A
        f = block.ffn
        G = np.zeros_like(Y)
        for k in range(L):
            hidden = np.maximum(f.W_1 @ Y[:, k] + f.b_1, 0) * (f.W_2 @ Y[:, k] + f.b_2)
            G[:, k] = f.W_3 @ hidden + f.b_3
        X = Y + G
    return X.T


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(1, 7), st.sampled_from([None, 1.0]))
def test_transformer_matches_definition(seed, length, scale):
    rng = np.random.default_rng(seed)
    model = random_transformer(rng, score_scale=scale)
    ids = list(rng.integers(1, model.vocab.size + 1, size=length))
    got = model.forward(np.array([ids]))[0]
    np.testing.assert_allclose(got, reference_forward(model, ids), rtol=1e-9, atol=1e-9)


def test_default_score_scale_is_paper_one_over_sqrt_d():
    model = random_transformer(np.random.default_rng(0))
    assert model.scale == pytest.approx(1 / np.sqrt(model.d))


def test_batch_rows_are_independent_and_causal():
    rng = np.random.default_rng(1)
    model = random_transformer(rng)
    a = rng.integers(1, model.vocab.size + 1, size=(3, 6))
    b = a.copy()
    b[:, 4:] = rng.integers(1, model.vocab.size + 1, size=(3, 2))  # change only the future
    xa, xb = model.forward(a), model.forward(b)
    np.testing.assert_array_equal(xa[:, :4], xb[:, :4])
    np.testing.assert_allclose(model.forward(a[1:2])[0], xa[1])


def tie_model(n=4):
    """One head whose scores are all equal: hard mode and softmax both give the uniform average."""
    vocab = Vocab(n)
    lay = Layout.for_vocab(vocab, ["avg"])
    h = HeadSpec(lay, "uniform").term(key={"num": 0.0}, query={"num": 0.0}).value("num", "avg")
    return Transformer(vocab, lay, [Block([h.build()])], score_scale=1.0), lay


def test_hard_mode_averages_ties_and_picks_unique_max():
    model, lay = tie_model()
    x = model.forward(np.array([[1, 2, 3, 4]]), HARD)[0, :, lay["avg"]]
    np.testing.assert_allclose(x, [1, 1.5, 2, 2.5])
    # a head that prefers the largest num: hard mode puts all weight on it, softmax almost all
    vocab = model.vocab
    h = HeadSpec(lay, "max").term(key={"num": 1.0}, query={"num": 0.0, "pos": 1.0}).value("num", "avg")
    sharp = Transformer(vocab, lay, [Block([h.build()])], score_scale=1.0)
    got = sharp.forward(np.array([[2, 4, 1, 4]]), HARD)[0, :, lay["avg"]]
    np.testing.assert_allclose(got, [2, 4, 4, 4])


def test_reglu_unit_and_block_order():
    vocab = Vocab(3)
    lay = Layout.for_vocab(vocab, ["a", "b"])
    f = FFNSpec(lay).unit("u", {"num": 1.0, "bias": -1.0}, {"num": 2.0, "bias": 1.0}, {"b": 1.0})
    f.out_bias("a", 0.5)
    model = Transformer(vocab, lay, [Block([], f.build())], score_scale=1.0)
    x = model.forward(np.array([[1, 2, 3]]))[0]
    num = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(x[:, lay["b"]], np.maximum(num - 1, 0) * (2 * num + 1))
    np.testing.assert_allclose(x[:, lay["a"]], 0.5)


def test_rp_mode_rounds_every_result():
    model, lay = tie_model()
    x = model.forward(np.array([[1, 2, 2, 2]]), Rp(5))[0, :, lay["avg"]]
    # q = 2 fractional bits: at k = 3 each weight 1/3 rounds to 1/4, so the "average" of 1, 2, 2 is
    # (1 + 2 + 2) / 4 = 1.25 (float64 would give 5/3); at k = 4 the weights 1/4 are exact: 7/4.
    np.testing.assert_array_equal(x, [1.0, 1.5, 1.25, 1.75])
    assert model.forward(np.array([[1, 2, 2]]))[0, 2, lay["avg"]] == pytest.approx(5 / 3)


def test_linear_rnn_recurrence_and_state_bits():
    vocab = Vocab(6)
    lay = Layout.for_vocab(vocab, ["acc", "prev"])
    u = LinearUnitSpec(lay, "u").keep("acc", coef=0.5).read("acc", "num").read("prev", "num")
    rnn = LinearRNN(vocab, lay, [RNNBlock(u.build(), None, "b")])
    seq = [3, 1, 4, 1, 5]
    got = rnn.forward(np.array([seq]))[0, :, lay["acc"]]
    h, want = 0.0, []
    for t in seq:  # h_t = 0.5 h_{t-1} + x_t, added to the residual (which holds 0 there)
        h = 0.5 * h + t
        want.append(h)
    np.testing.assert_allclose(got, want)
    assert rnn.state_dim == 2 and rnn.state_bits(17) == 34


def test_hybrid_is_rnn_then_one_block_and_counts_kv_cache():
    vocab = Vocab(4)
    lay = Layout.for_vocab(vocab, ["prev", "avg"])
    u = LinearUnitSpec(lay).read("prev", "num")
    rnn = LinearRNN(vocab, lay, [RNNBlock(u.build(), None)])
    h = HeadSpec(lay, "uniform").term(key={"prev": 0.0}, query={"prev": 0.0}).value("prev", "avg")
    hyb = Hybrid(rnn, Block([h.build()]), score_scale=1.0)
    x = hyb.forward(np.array([[4, 2, 3]]))[0, :, lay["avg"]]
    np.testing.assert_allclose(x, [4, 3, 3])
    assert hyb.shape()["kv_per_position"] == 1 + 1  # one key feature, one value row


def counter_model():
    """Emits (last token + 1) as a number, and YES once the last token is n."""
    n = 5
    vocab = Vocab(n)
    lay = Layout.for_vocab(vocab, ["is_top"])
    f = FFNSpec(lay)
    for c in vocab.coordinates:
        f.linear(f"cancel {c}", {c: 1.0}, {c: -1.0})
    f.linear("next", {"num": 2.0, "bias": 2.0}, {"num": 1.0})
    f.linear("sq", {"bias": 2.0}, {"num_sq": 1.0})
    # [num = n] for num in 0..n: R(num - n + 1)
    f.unit("top", {"num": 1.0, "bias": -(n - 1.0)}, {"bias": 100.0}, {"tok:YES": 1.0})
    return Transformer(vocab, lay, [Block([], f.build())], score_scale=1.0)


def test_teacher_forcing_agrees_with_greedy():
    model = counter_model()
    v = model.vocab
    out, stopped = greedy(model, [v.id(2)], {v.id("YES")}, 10)
    assert stopped and v.tokens(out) == ["3", "4", "5", "YES"]
    good = np.array([[v.id(t) for t in ["2", "3", "4", "5", "YES"]]])
    check = np.zeros(good.shape, bool)
    check[0, :-1] = True
    r = teacher_force(model, good, check)
    assert r.ok[0] and r.first_bad[0] == -1 and np.all(r.gap[0, :-1] > 0)
    bad = good.copy()
    bad[0, 2] = v.id(1)  # the reference says 1 where greedy says 4
    r = teacher_force(model, bad, check)
    assert not r.ok[0] and r.first_bad[0] == 1


def test_teacher_forcing_counts_ties_as_failures():
    model, lay = tie_model()
    ids = np.array([[1, 1]])
    check = np.array([[True, False]])
    # a residual cancelled to zero makes every logit 0: an exact tie, which must not pass
    f = FFNSpec(lay)
    for c in model.vocab.coordinates:
        f.linear(f"cancel {c}", {c: 1.0}, {c: -1.0})
    zero = Transformer(model.vocab, lay, [Block([], f.build())], score_scale=1.0)
    r = teacher_force(zero, ids, check)
    assert not r.unique[0, 0] and not r.ok[0]


def test_npz_round_trip(tmp_path):
    model = random_transformer(np.random.default_rng(3))
    model.meta = {"builder": "random", "n": 5}
    path = tmp_path / "m.npz"
    model_io.save(model, str(path))
    back = model_io.load(str(path))
    ids = np.array([[1, 2, 3, 4]])
    np.testing.assert_array_equal(model.forward(ids), back.forward(ids))
    assert back.meta == model.meta and model_io.weights_sha256(back) == model_io.weights_sha256(model)
    hyb = Hybrid(LinearRNN(model.vocab, model.layout, [RNNBlock(LinearUnitSpec(model.layout).read("s0", "num")
                                                                .build(), None)]), model.blocks[0])
    model_io.save(hyb, str(path))
    np.testing.assert_array_equal(model_io.load(str(path)).forward(ids), hyb.forward(ids))


def test_npz_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        model_io.load(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="cannot read"):
        model_io.load(str(bad))


def test_layout_names_residuals_and_rejects_duplicates():
    model = random_transformer(np.random.default_rng(4))
    x, dump = model.forward(np.array([[1, 2]]), dump=True)
    named = model.layout.named(dump[0]["residual"][0, 1])
    assert named["num"] == 2 and named["num_sq"] == -2 and named["pos"] == 2
    assert "pos" in model.layout.describe().splitlines()[-1]
    assert [d["block"] for d in dump][0] == "embedding" and len(dump) == len(model.blocks) + 1
    with pytest.raises(ValueError, match="distinct"):
        Layout(["a", "b", "a"])
    with pytest.raises(KeyError, match="no residual coordinate"):
        model.layout["nope"]
