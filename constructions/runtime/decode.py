"""Greedy chain-of-thought decoding and teacher-forced checking (Sec 3 and App. A.4).

Teacher forcing checks greedy decoding: if at every prefix of the reference sequence the model's
arg-max is unique and equals the next reference token, greedy decoding reproduces the reference
exactly (induction on the position); at the first position where it does not, greedy decoding
diverges there. So one batched forward pass over the whole reference sequence checks every step;
a tie counts as a failure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from constructions.runtime.arithmetic import FLOAT64, Mode
from constructions.runtime.retrieve import RetrievalError


@dataclass
class ForcedResult:
    argmax: np.ndarray   # (B, L) the model's choice after each prefix
    unique: np.ndarray   # (B, L) the arg-max is strict
    gap: np.ndarray      # (B, L) top-1 minus top-2 logit
    ok: np.ndarray       # (B,) every checked position right and unique
    first_bad: np.ndarray  # (B,) first checked position that fails, -1 if none


SUB_BATCH = 128  # rows per forward pass: keeps the (rows, L, L) attention arrays cache-sized


def teacher_force(model, ids: np.ndarray, check: np.ndarray, mode: Mode = FLOAT64, prepared=None) -> ForcedResult:
    """Check ``argmax logits[b, k] == ids[b, k + 1]`` (uniquely) wherever ``check[b, k]``.

    ``ids`` is a (B, L) batch padded with 0; ``check`` a (B, L) boolean mask of the positions whose
    next token the model must produce (the last checked position of a row must have a next token).
    The batch is run in slices of :data:`SUB_BATCH` rows (rows are independent, so this changes
    nothing but speed). A Transformer's weights are prepared once for all slices (``prepared``:
    ``model.prepare(mode)``, made here when not given).
    """
    ids = np.asarray(ids)
    check = np.asarray(check, dtype=bool)
    if check.shape != ids.shape:
        raise ValueError("check mask must have the shape of ids")
    if np.any(check[:, -1]):
        raise ValueError("the last column has no next token to check")
    if prepared is None and hasattr(model, "prepare"):
        prepared = model.prepare(mode)
    if ids.shape[0] > SUB_BATCH:
        parts = [teacher_force(model, ids[i:i + SUB_BATCH], check[i:i + SUB_BATCH], mode, prepared)
                 for i in range(0, ids.shape[0], SUB_BATCH)]
        return ForcedResult(*(np.concatenate([getattr(p, f) for p in parts])
                              for f in ("argmax", "unique", "gap", "ok", "first_bad")))
    # Only the columns from the first checked one on are computed (rows_from: the model skips what
    # no such position depends on); earlier columns report argmax 0 (no token), unique False, gap nan.
    checked_cols = np.flatnonzero(check.any(axis=0))
    start = int(checked_cols[0]) if len(checked_cols) else 0
    # R_p: the logits stay grid integers (mode.raw()), so the arg-max, a tie and the gap are exact;
    # the gap is reported as a float64 value (exact for p <= 53, the nearest float above).
    raw = mode.raw()
    extra = {"prepared": prepared} if prepared is not None else {}
    logits = model.logits(model.forward(ids, raw, rows_from=start, **extra), raw)
    top2 = np.partition(logits, -2, axis=-1)[..., -2:]
    diff = top2[..., 1] - top2[..., 0]
    argmax = np.zeros(ids.shape, dtype=np.int64)
    unique = np.zeros(ids.shape, dtype=bool)
    gap = np.full(ids.shape, np.nan)
    argmax[:, start:] = logits.argmax(axis=-1)
    unique[:, start:] = diff > 0
    gap[:, start:] = diff if raw is mode else diff.astype(float) * 2.0**-raw.grid.q
    target = np.zeros_like(ids)
    target[:, :-1] = ids[:, 1:]
    good = (argmax == target) & unique
    bad = check & ~good
    first_bad = np.where(bad.any(axis=1), bad.argmax(axis=1), -1)
    return ForcedResult(argmax, unique, gap, ~bad.any(axis=1), first_bad)


def greedy(model, prompt: list[int], stop_ids: set[int], max_steps: int, mode: Mode = FLOAT64,
           retriever=None, retrieval_errors: list | None = None) -> tuple[list[int], bool]:
    """Greedy CoT from ``prompt`` until a token in ``stop_ids`` (included) or ``max_steps`` tokens.

    With a ``retriever`` (see :mod:`constructions.runtime.retrieve`) each generated ``<EndSearch>``
    is followed by the retrieved tokens (Def A.5). Returns (generated tokens, stopped).
    A tie for the arg-max resolves to the smallest id (numpy's argmax); checkers never rely on it.
    A pattern the retriever cannot run (the model wrote a malformed regex) raises RetrievalError,
    or, when a ``retrieval_errors`` list is given, ends decoding with the message appended to it.
    """
    seq = list(prompt)
    out: list[int] = []
    for _ in range(max_steps):
        logits = model.logits(model.forward(np.array([seq]), mode), mode)[0, -1]
        nxt = int(np.argmax(logits))
        seq.append(nxt)
        out.append(nxt)
        if nxt in stop_ids:
            return out, True
        if retriever is not None and retriever.is_end(nxt):
            try:
                found = retriever.retrieve(seq)
            except RetrievalError as exc:
                if retrieval_errors is None:
                    raise
                retrieval_errors.append(str(exc))
                return out, False
            seq += found
            out += found
    return out, False


def retrieval_positions(seq: list[int], retriever) -> tuple[np.ndarray, list[str]]:
    """For a reference sequence with in-context RAG (Def A.5): which tokens the *retriever* supplies.

    Every ``<EndSearch>`` is followed by ``RETRIEVE(prefix)``; those tokens are not the model's to
    predict. Returns a boolean mask over positions (True = token produced by the retriever) and a
    list of problems where the reference's tokens after an ``<EndSearch>`` differ from what the real
    retriever returns (an empty list means every retrieval in the reference is reproduced).
    """
    seq = [int(t) for t in seq]
    supplied = np.zeros(len(seq), dtype=bool)
    problems: list[str] = []
    # Detokenise once; the context of a query starting at position ls is text[:starts[ls] - 1]
    # (the tokens before it joined by spaces), exactly what Retriever.query builds for seq[:k+1].
    toks = retriever.vocab.tokens(seq)
    text = " ".join(toks)
    starts = np.concatenate([[0], np.cumsum([len(t) + 1 for t in toks])])
    last_start = None
    for k, tok in enumerate(seq):
        if tok == retriever.start_id:
            last_start = k
        if not retriever.is_end(tok):
            continue
        try:
            if last_start is None:
                raise RetrievalError("<EndSearch> without a preceding <StartSearch>")
            pattern = " ".join(toks[last_start + 1:k])
            found = retriever.search(pattern, text[: max(starts[last_start] - 1, 0)])
        except RetrievalError as exc:
            problems.append(f"position {k + 1}: {exc}")
            continue
        if seq[k + 1: k + 1 + len(found)] != found:
            problems.append(f"position {k + 1}: retriever returns {retriever.vocab.tokens(found)}, "
                            f"reference has {retriever.vocab.tokens(seq[k + 1: k + 1 + len(found)])}")
        supplied[k + 1: k + 1 + len(found)] = True
    return supplied, problems


def model_check_mask(lengths, starts, supplied=None) -> np.ndarray:
    """Positions whose next token the model must produce: from ``starts[b]`` to the second-to-last
    token of each row, except where the next token is supplied by the retriever."""
    lengths = np.asarray(lengths)
    width = int(lengths.max())
    k = np.arange(width)[None, :]
    mask = (k >= np.asarray(starts)[:, None]) & (k < lengths[:, None] - 1)
    if supplied is not None:
        nxt = np.zeros_like(supplied)
        nxt[:, :-1] = supplied[:, 1:]
        mask &= ~nxt
    return mask
