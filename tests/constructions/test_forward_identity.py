"""The fast forward pass gives the same logits as the forward pass it replaced, on real sequences.

The runtime's forward got faster (queries only at the rows the check reads, heads that read
positions only computed once per batch, weights prepared once per chunk, in-place residual updates).
Each of these is exact by construction; this test pins that down against the previous
implementation, kept verbatim below, on the reference sequences of every construction of the
catalogue (float64 and hard attention; R_p keeps its own exactness tests in test_arithmetic.py, and
here its row-restricted pass is compared with its full pass). ``np.array_equal`` compares numbers:
a signed zero is the only difference it would let through, and no arg-max can tell those apart.
"""

from __future__ import annotations

import numpy as np
import pytest

from constructions import registry
from constructions.runtime.arithmetic import FLOAT64, HARD, Rp
from constructions.runtime.decode import teacher_force
from constructions.runtime.rnn import Hybrid
from constructions.runtime.transformer import Transformer
from verify import core

SIZES = {"istree": 5, "turing": 3}


# -- the previous forward pass, verbatim (float64 and hard) -------------------------------------------
def _old_weights(mode, scores, causal):
    if mode.name == "float64":
        d = scores + np.where(causal, 0.0, -np.inf)
        d -= d.max(axis=-1, keepdims=True)
        keep = d > -700.0
        np.maximum(d, -700.0, out=d)
        np.exp(d, out=d)
        d *= keep
        d /= d.sum(axis=-1, keepdims=True)
        return d
    masked = np.where(causal, scores, -np.inf)
    hit = masked == masked.max(axis=-1, keepdims=True)
    return hit / hit.sum(axis=-1, keepdims=True)


def _old_block(block, x, causal, scale, mode):
    y = x.copy()
    for head in block.heads:
        cols, wq, wk, v_cols, v_rows, wv = head.sparse()
        xs = x[..., cols]
        q, k, v = xs @ (wq * scale), xs @ wk, x[..., v_cols] @ wv
        w = _old_weights(mode, q @ np.swapaxes(k, -1, -2), causal)
        y[..., v_rows] = y[..., v_rows] + w @ v
    if block.ffn is not None:
        cols, w1, w2, rows, w3, b3 = block.ffn.sparse()
        xs = y[..., cols]
        hidden = np.maximum(xs @ w1 + block.ffn.b_1, 0.0) * (xs @ w2 + block.ffn.b_2)
        y[..., rows] = y[..., rows] + (hidden @ w3 + b3)
    return y


def old_logits(model, ids, mode):
    if isinstance(model, Hybrid):
        x = model.rnn.forward(ids, mode)
        blocks, scale = [model.top], model._as_transformer().scale
    else:
        x, blocks, scale = model.embed(ids), model.blocks, model.scale
    causal = np.tril(np.ones((x.shape[1], x.shape[1]), dtype=bool))
    for block in blocks:
        x = _old_block(block, x, causal, scale, mode)
    return model.logits(x, mode)


# -- real sequences ------------------------------------------------------------------------------------
def _batches(construction, limit=600):
    task = registry.task_of_size(construction.task, SIZES.get(construction.task.name, 5))
    model = construction.build(task)
    domain = task.domain()
    out, taken = [], 0
    for c in range(domain.n_chunks):
        seqs = core.build_sequences(construction, task, model, domain.chunk(c)[1])
        for rows in core.batches(seqs.lengths):
            rows = rows[: limit - taken]
            width = int(seqs.lengths[rows].max())
            out.append((seqs.ids[rows, :width], core.check_mask(seqs, rows, width)))
            taken += len(rows)
            if taken >= limit:
                return model, out
    return model, out


ATTENTION = [c for c in registry.CATALOGUE if c.family in ("transformer", "hybrid")]


@pytest.mark.parametrize("construction", ATTENTION, ids=lambda c: f"{c.task.name}-{c.family}")
@pytest.mark.parametrize("mode", [FLOAT64, HARD], ids=str)
def test_logits_equal_the_previous_forward_pass(construction, mode):
    model, batches = _batches(construction)
    prepared = model.prepare(mode) if hasattr(model, "prepare") else None
    for ids, check in batches:
        start = int(np.flatnonzero(check.any(axis=0))[0])
        old = old_logits(model, ids, mode)
        assert np.array_equal(model.logits(model.forward(ids, mode), mode), old)
        extra = {"prepared": prepared} if prepared is not None else {}
        new = model.logits(model.forward(ids, mode, rows_from=start, **extra), mode)
        assert np.array_equal(new, old[:, start:])
        res = teacher_force(model, ids, check, mode)
        target = np.zeros_like(ids)
        target[:, :-1] = ids[:, 1:]
        top = np.sort(old, axis=-1)
        good = (old.argmax(-1) == target) & (top[..., -1] > top[..., -2])
        assert np.array_equal(res.ok, ~(check & ~good).any(axis=1))


def test_rows_from_in_rp_equals_the_full_pass():
    construction = registry.get("istree", "transformer")
    model, batches = _batches(construction, limit=12)
    mode = Rp(31)
    for ids, check in batches[:2]:
        start = int(np.flatnonzero(check.any(axis=0))[0])
        full = model.forward(ids[:3], mode)
        assert np.array_equal(model.forward(ids[:3], mode, rows_from=start), full[:, start:])


def test_a_position_only_head_is_computed_once_and_still_per_sequence():
    """The COPY heads read positions only: one softmax serves the batch, values stay per sequence."""
    construction = registry.get("istree", "transformer")
    model, batches = _batches(construction, limit=64)
    ids = batches[-1][0]
    assert isinstance(model, Transformer)
    alone = np.concatenate([model.forward(ids[i:i + 1]) for i in range(len(ids))])
    assert np.array_equal(model.forward(ids), alone)


def test_every_coordinate_of_the_checked_rows_equals_the_previous_pass():
    """Not only the logits: the whole residual at the rows the check reads (and at every row
    without rows_from) is the previous pass's, on real IsTree sequences at n = 6."""
    construction = registry.get("istree", "transformer")
    task = registry.task_of_size(construction.task, 6)
    model = construction.build(task)
    seqs = core.build_sequences(construction, task, model, task.domain().chunk(0)[1])
    for rows in core.batches(seqs.lengths)[::3]:
        width = int(seqs.lengths[rows].max())
        ids = seqs.ids[rows, :width]
        start = int(seqs.starts[rows].min())
        x = model.embed(ids)
        causal = np.tril(np.ones((width, width), dtype=bool))
        for block in model.blocks:
            x = _old_block(block, x, causal, model.scale, FLOAT64)
        assert np.array_equal(model.forward(ids), x)
        assert np.array_equal(model.forward(ids, rows_from=start), x[:, start:])


@pytest.mark.parametrize("seed", range(4))
def test_random_weights_and_a_silent_head(seed):
    """Random dense weights (every coordinate read and written, runs of any shape) and a head whose
    W_V is zero: the same residual as the previous pass, at every row and from any row on."""
    from tests.constructions.test_runtime import random_transformer

    rng = np.random.default_rng(seed)
    model = random_transformer(rng, heads=3, blocks=3)
    model.blocks[1].heads[2].W_V[:] = 0.0
    ids = rng.integers(1, model.vocab.size + 1, size=(5, 9))
    for mode in (FLOAT64, HARD):
        x = model.embed(ids)
        causal = np.tril(np.ones((9, 9), dtype=bool))
        for block in model.blocks:
            x = _old_block(block, x, causal, model.scale, mode)
        assert np.array_equal(model.forward(ids, mode), x)
        assert np.array_equal(model.forward(ids, mode, rows_from=4), x[:, 4:])
