"""Memory accounting of the Thm 5.4 RAG RNN: Lambda is constant and the bits per state number grow
like log n (n = 8 .. 256), while theory.bounds says a retrieval-free RNN needs n bits for Index,
the primitive phase 1 performs n times (every simulation must be able to read input cell i).

Measured on parity (T = n + 1 steps): the state holds c_ss <= n + T, |moves| <= T, n and indices,
so max |state| <= 2n + 1 and R_p needs p_state = 2 ceil(log2(max + 1)) + 1 bits.
"""

from __future__ import annotations

import math

import numpy as np

from constructions.rag.turing import build_rag_turing
from constructions.runtime.decode import model_check_mask, retrieval_positions, teacher_force
from constructions.runtime.retrieve import Retriever
from theory import bounds
from theory.rag import turing as rt
from theory.tasks.turing import tm_prompt
from theory.turing import load_machine


def _measure(n: int, rng) -> tuple[int, int, bool]:
    machine = load_machine("parity")
    model = build_rag_turing(machine, n, offset=0, n_vocab=n + 2)
    word = [str(b) for b in rng.integers(0, 2, n)]
    prompt = tm_prompt(machine, word)
    ids = model.vocab.ids(prompt + rt.tm_rag_trace(machine, word))
    x = model.forward(ids[None])
    rows = sorted({int(r) for b in model.blocks for r in b.unit.state_rows()})
    peak = float(np.abs(x[0][:, rows]).max())
    p_state = 2 * math.ceil(math.log2(peak + 1)) + 1
    ok = True
    if n <= 32:  # the whole sequence is right, retrievals by the real retriever
        sup, problems = retrieval_positions(list(ids), Retriever(model.vocab))
        check = model_check_mask([len(ids)], [len(prompt) - 1], sup[None])
        ok = not problems and bool(teacher_force(model, ids[None], check).ok[0])
    return len(rows), p_state, ok


def test_state_is_constant_numbers_of_log_n_bits():
    rng = np.random.default_rng(0)
    rows = []
    for n in (8, 16, 32, 64, 128, 256):
        lam, p_state, ok = _measure(n, rng)
        assert ok
        rows.append((n, lam, p_state, bounds.bits("index", n)))
    assert {lam for _, lam, _, _ in rows} == {21}
    for (n, _, p, _), (n2, _, p2, _) in zip(rows, rows[1:]):
        assert n2 == 2 * n and p2 - p <= 2          # one more integer bit per doubling
    for n, lam, p, lower in rows:
        assert p <= 2 * math.ceil(math.log2(2 * n + 2)) + 1
        assert lower == n                           # retrieval-free: Omega(n) bits
    # Lambda * p = 21 (2 log2(2n+2) + 1) stays above n = 256 here; the closed form drops below the
    # retrieval-free bound from n = 2^10 on.
    n = 1024
    assert 21 * (2 * math.ceil(math.log2(2 * n + 2)) + 1) < bounds.bits("index", n)
