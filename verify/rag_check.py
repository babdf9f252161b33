"""Check a Thm 5.2 RAG model on a batch of retrieval instances (used by ``python -m verify.retrieval
--model rag`` through its check hook).

For every instance (prompt + the task's answer, theory.tasks.<task>) the reference sequence
theory.rag_trace.retrieval_rag_trace is appended to the prompt. The instance passes iff

* the reference's last token is the task's answer (the batch's, computed by array operations);
* the real regex retriever (constructions.runtime.retrieve) returns exactly the reference's tokens
  after ``<EndSearch>`` (so the corrected pattern really finds the answer); and
* at every other position from the last prompt token on, the model's arg-max is unique and equals the
  next reference token (teacher forcing; the retrieved tokens are excluded).

By induction, greedy decoding with the retriever then reproduces the sequence and its answer.
"""

from __future__ import annotations

import numpy as np

from constructions.runtime.arithmetic import Mode
from constructions.runtime.decode import model_check_mask, retrieval_positions, teacher_force
from constructions.runtime.retrieve import Retriever
from theory import rag_trace as rt
from theory.tasks.common import Batch
from verify import cli


def reference_rows(model, batch: Batch):
    """(ids per row, index of the last prompt token, retriever-supplied mask, row is consistent)."""
    vocab = model.vocab
    task, n, c = model.meta["rag_task"], int(model.meta["n"]), model.meta.get("c")
    retriever = Retriever(vocab)
    names = [""] + vocab.tokens(range(1, vocab.size + 1))   # id -> token string, looked up once
    answers = batch.answers                                  # (a property: computed once here)
    seqs, starts, supplied, consistent = [], [], [], []
    for r in range(len(batch)):
        prompt = batch.ids[r, : batch.answer_pos[r]].tolist()
        ref = rt.retrieval_rag_trace(task, n, c, [names[t] for t in prompt])
        seq = prompt + [t if isinstance(t, int) else vocab.id(t) for t in ref]
        sup, problems = retrieval_positions(seq, retriever)
        seqs.append(seq)
        starts.append(len(prompt) - 1)
        supplied.append(sup)
        consistent.append(not problems and seq[-1] == int(answers[r]))
    return seqs, starts, supplied, np.array(consistent, dtype=bool)


def check_batch(model, batch: Batch, mode: Mode, show_progress: bool = False, desc: str = ""):
    """(ok per row, the model's token at the first wrong position (or at the answer if none), and the
    reference token at that position)."""
    seqs, starts, supplied, consistent = reference_rows(model, batch)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    width = int(lengths.max()) if len(seqs) else 1
    ids = np.zeros((len(seqs), width), dtype=np.int64)
    sup = np.zeros((len(seqs), width), dtype=bool)
    for r, (s, m) in enumerate(zip(seqs, supplied)):
        ids[r, :len(s)], sup[r, :len(s)] = s, m
    ok = consistent.copy()
    got = np.zeros(len(seqs), dtype=np.int64)
    expected = np.zeros(len(seqs), dtype=np.int64)
    bar = cli.progress(len(seqs), desc, disable=not show_progress)
    if len(seqs):
        check = model_check_mask(lengths, np.array(starts), sup)
        result = teacher_force(model, ids, check, mode)
        ok &= result.ok
        rows = np.arange(len(seqs))
        pos = np.where(result.first_bad >= 0, result.first_bad, lengths - 2)
        got = result.argmax[rows, pos]
        expected = ids[rows, pos + 1]
    bar.update(len(seqs))
    bar.close()
    return ok, got, expected
