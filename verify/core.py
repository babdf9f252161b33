"""The checker core: every construction is checked one way.

For each instance of a domain the reference sequence is the task's prompt followed by the
construction's reference chain of thought and the answer (:mod:`constructions.registry`). The model
runs once over the whole sequence (teacher forcing). An instance passes iff

* the reference is sound: its last token is the task's independent answer (networkx, the
  Turing-machine interpreter, the task's definition), and with in-context RAG (Def A.5) the real
  regex retriever returns exactly the tokens the reference has after each ``<EndSearch>``;
* at every position from the last prompt token on whose next token the model must produce (all but
  the retrieved ones), the model's arg-max is unique and equals the next reference token.

If every position passes, greedy decoding reproduces the reference exactly (induction on the
position); at the first position that fails, greedy decoding diverges there. A tie is a failure.

**Position convention** (one for every checker and certificate): a failure's ``position`` is the
1-based index, in the full sequence (prompt, then chain of thought and answer), of the token the
model had to produce and did not. ``<s>`` is position 1; with a prompt of P tokens the first
chain-of-thought token is position P + 1.

This module holds the one teacher-forced batch loop (:func:`check_chunk`), the failure record, the
first-failure trace, the run over a domain with shards and worker processes (:func:`run`), the
``--min-precision`` search, shard merging, and the model section of certificates. The checkers
``verify.istree``, ``verify.retrieval`` and ``verify.turing`` only choose the domain and print.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from constructions.registry import Construction
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64, Mode, Rp
from constructions.runtime.decode import greedy, retrieval_positions, teacher_force
from constructions.runtime.retrieve import Retriever
from theory.precision import P_MAX
from theory.tasks.base import Chunk, Domain, Task
from verify import cli, engine

MAX_FAILURES_KEPT = 20
TOKEN_BUDGET = 24_000   # tokens per forward batch: bounds the (rows, L, L) attention and (rows, L, w) FFN arrays
MAX_ROWS = 128          # rows per forward batch (cache-sized attention arrays; fastest on the IsTree check)
ATTENTION_BUDGET = 4_000_000  # attention entries (rows x L x L) per batch: long chains of thought stay in memory
CONTEXT_SHOWN = 30      # reference tokens shown before a failing position

POSITION_CONVENTION = ("1-based index, in prompt + chain of thought + answer, of the token the model "
                       "had to produce; <s> is position 1")
STOP_RULE = ("enforced: decoding stops at the first arg-max in the task's answer set V_A (Sec 3, App. A.4), so "
             "every reference was checked to end with a V_A token and to have none among the model's tokens before it")


# -- reference sequences -----------------------------------------------------------------------------
@dataclass
class Sequences:
    """Reference sequences of one chunk: ids (B, L) right-padded with 0, lengths, the index of each
    last prompt token (0-based), retriever-supplied tokens, and why a reference is unsound (or None)."""

    ids: np.ndarray
    lengths: np.ndarray
    starts: np.ndarray
    supplied: np.ndarray | None
    problems: list[str | None]

    def __len__(self) -> int:
        return len(self.lengths)

    def row(self, r: int) -> np.ndarray:
        return self.ids[r, : self.lengths[r]]


def check_vocabulary(task: Task, model) -> None:
    """The model must read the task's prompts with the task's token ids (its vocabulary may add more)."""
    tv, mv = task.vocab(), model.vocab
    if mv.n < tv.n or tuple(mv.extra[: len(tv.extra)]) != tuple(tv.extra):
        raise ValueError(f"the model's vocabulary (numbers 1..{mv.n}, specials {list(mv.extra)[:6]}...) does "
                         f"not extend the task's (numbers 1..{tv.n}, specials {list(tv.extra)})")


def prompt_ids(construction: Construction, task: Task, chunk: Chunk, vocab) -> tuple[np.ndarray, np.ndarray]:
    """The chunk's prompts (the task's, or the construction's own input format) as padded ids."""
    if construction.prompt is None:
        return task.prompt_ids(chunk, vocab)
    rows = [vocab.ids(construction.prompt(task, task.instance(chunk, r))) for r in range(len(chunk))]
    lengths = np.array([len(r) for r in rows], dtype=np.int64)
    ids = np.zeros((len(rows), int(lengths.max()) if rows else 1), dtype=np.int64)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = row
    return ids, lengths


def build_sequences(construction: Construction, task: Task, model, chunk: Chunk) -> Sequences:
    """Prompt + reference (or the answer alone, for a construction without CoT) for every instance."""
    vocab = model.vocab
    prompt, plen = prompt_ids(construction, task, chunk, vocab)
    answers = task.answer_ids(chunk, vocab)
    rows = len(chunk)
    problems: list[str | None] = [None] * rows
    if construction.reference is None:  # the answer follows the prompt: fill it in with array operations
        width = int(plen.max()) + 1 if rows else 1
        ids = np.zeros((rows, width), dtype=np.int64)
        ids[:, : prompt.shape[1]] = prompt[:, :width]
        ids[np.arange(rows), plen] = answers
        seqs = Sequences(ids, plen + 1, plen - 1, None, problems)
        stop_rule_problems(seqs, task.answer_set_ids(vocab), vocab)
        return seqs
    cots = []
    token_ids = _TokenIds(vocab)
    for r in range(rows):
        ref = construction.reference(task, task.instance(chunk, r))
        try:
            cot = token_ids(ref)
        except ValueError as exc:
            raise ValueError(f"{construction.name}: the reference uses a token outside the model's "
                             f"vocabulary ({exc})") from None
        if cot[-1] != answers[r]:
            problems[r] = (f"the reference answer {vocab.token(cot[-1])} differs from the task's solver "
                           f"({vocab.token(answers[r])})")
        cots.append(cot)
    cot_lengths = np.array([len(c) for c in cots], dtype=np.int64)
    lengths = plen + cot_lengths
    ids = np.zeros((rows, int(lengths.max()) if rows else 1), dtype=np.int64)
    width = min(ids.shape[1], prompt.shape[1])  # each prompt, then its reference right after it
    ids[:, :width] = np.where(np.arange(width) < plen[:, None], prompt[:, :width], 0)
    if rows:
        at = np.repeat(plen - np.cumsum(cot_lengths) + cot_lengths, cot_lengths) + np.arange(cot_lengths.sum())
        ids[np.repeat(np.arange(rows), cot_lengths), at] = np.concatenate(cots)
    supplied = None
    if construction.retrieval:
        retriever = Retriever(vocab)
        supplied = np.zeros(ids.shape, dtype=bool)
        for r in range(rows):
            sup, found = retrieval_positions(ids[r, : lengths[r]].tolist(), retriever)
            supplied[r, : lengths[r]] = sup
            if found and problems[r] is None:
                problems[r] = "the retriever disagrees with the reference: " + found[0]
    seqs = Sequences(ids, lengths, plen - 1, supplied, problems)
    stop_rule_problems(seqs, task.answer_set_ids(vocab), vocab)
    return seqs


def stop_rule_problems(seqs: Sequences, stop_ids: np.ndarray, vocab) -> None:
    """The paper's stop rule (Sec 3, App. A.4): greedy decoding stops at the first arg-max in the
    answer set V_A. So a reference is unsound if one of the tokens the model writes (from the first
    token after the prompt on, retriever-supplied tokens excepted) lies in V_A before the last token,
    or if the last token is not in V_A; the problem names the token and its position (1-based, as
    in :data:`POSITION_CONVENTION`)."""
    k = np.arange(seqs.ids.shape[1])[None, :]
    in_va = np.isin(seqs.ids, stop_ids)
    early = in_va & (k > seqs.starts[:, None]) & (k < seqs.lengths[:, None] - 1)
    if seqs.supplied is not None:
        early &= ~seqs.supplied
    last = seqs.ids[np.arange(len(seqs)), seqs.lengths - 1]
    for r in np.flatnonzero(early.any(axis=1) | ~np.isin(last, stop_ids)):
        if seqs.problems[r] is not None:
            continue
        if early[r].any():
            at = int(early[r].argmax())
            seqs.problems[r] = (f"stop rule: the model writes {vocab.token(seqs.ids[r, at])}, a token of the "
                                f"answer set, at position {at + 1}, before the answer; decoding would stop there")
        else:
            seqs.problems[r] = (f"stop rule: the last token {vocab.token(last[r])} is not in the answer set, "
                                f"so decoding would not stop at it")


class _TokenIds:
    """``vocab.ids`` with each distinct token looked up once (the same ids and errors)."""

    def __init__(self, vocab):
        self.vocab, self.known = vocab, {}

    def __call__(self, tokens) -> np.ndarray:
        known, out = self.known, []
        for t in tokens:
            key = (t.__class__, t)
            i = known.get(key)
            if i is None:
                i = known[key] = self.vocab.id(t)
            out.append(i)
        return np.array(out, dtype=np.int64)


# -- teacher forcing ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    """Per row: passed, and for a model failure the 0-based index of the position whose next token is
    wrong (-1: none), the model's token there and the reference's."""

    ok: np.ndarray
    bad_at: np.ndarray
    got: np.ndarray
    expected: np.ndarray


def batches(lengths: np.ndarray) -> list[np.ndarray]:
    """Rows sorted by length, cut into batches of at most MAX_ROWS rows whose tokens (rows x L) stay
    within TOKEN_BUDGET and whose attention entries (rows x L^2) within ATTENTION_BUDGET, where L is
    the batch's longest row; rows of one length stay together, so padding is rare."""
    order = np.argsort(lengths, kind="stable")
    out, i = [], 0
    while i < len(order):
        j = i + 1
        while j < len(order) and j - i < MAX_ROWS:
            longest = int(lengths[order[j]])
            if (j - i + 1) * longest > TOKEN_BUDGET or (j - i + 1) * longest * longest > ATTENTION_BUDGET:
                break
            j += 1
        out.append(order[i:j])
        i = j
    return out


def check_mask(seqs: Sequences, rows: np.ndarray, width: int) -> np.ndarray:
    """Positions whose next token the model must produce: from the last prompt token to the second
    last token, except where the next token comes from the retriever."""
    k = np.arange(width)[None, :]
    mask = (k >= seqs.starts[rows][:, None]) & (k < seqs.lengths[rows][:, None] - 1)
    if seqs.supplied is not None:
        nxt = np.zeros((len(rows), width), dtype=bool)
        nxt[:, :-1] = seqs.supplied[rows, 1:width]
        mask &= ~nxt
    return mask


def forced_batches(model, seqs: Sequences, mode: Mode = FLOAT64, longest_first: bool = False):
    """(rows, teacher_force result) for each batch of :func:`batches`, the weights prepared once."""
    prepared = model.prepare(mode) if hasattr(model, "prepare") else None  # once per chunk
    order = batches(seqs.lengths)
    for rows in (reversed(order) if longest_first else order):
        width = int(seqs.lengths[rows].max())
        yield rows, teacher_force(model, seqs.ids[rows, :width], check_mask(seqs, rows, width), mode, prepared)


def teacher_force_all(model, seqs: Sequences, mode: Mode = FLOAT64) -> Outcome:
    """Teacher-force every sequence (one batching policy, :func:`batches`)."""
    n = len(seqs)
    ok = np.array([p is None for p in seqs.problems], dtype=bool)
    bad_at = np.full(n, -1, dtype=np.int64)
    got = np.zeros(n, dtype=np.int64)
    expected = np.zeros(n, dtype=np.int64)
    for rows, result in forced_batches(model, seqs, mode):
        bad = result.first_bad
        ok[rows] &= result.ok
        bad_at[rows] = bad
        hit = bad >= 0
        got[rows[hit]] = result.argmax[np.flatnonzero(hit), bad[hit]]
        expected[rows[hit]] = seqs.ids[rows[hit], bad[hit] + 1]
    return Outcome(ok, bad_at, got, expected)


# -- failure records ----------------------------------------------------------------------------------
def tie_tokens(model, ids: np.ndarray, at: int, mode: Mode) -> list[str]:
    """The tokens sharing the top logit after ``ids[: at + 1]`` (one token if there is no tie)."""
    logits = model.logits(model.forward(np.asarray(ids)[None, : at + 1], mode), mode)[0, at]
    return model.vocab.tokens(np.flatnonzero(logits == logits.max()))


def failure_record(task: Task, model, chunk: Chunk, r: int, seqs: Sequences, out: Outcome, mode: Mode) -> dict:
    """One failure, in one format for every checker (see the module docstring for ``position``)."""
    vocab = model.vocab
    toks = vocab.tokens(seqs.row(r))
    start = int(seqs.starts[r])
    record = {"instance": int(chunk.keys[r]), **task.describe_instance(task.instance(chunk, r)),
              "reference": toks[start + 1:]}
    if seqs.problems[r] is not None:
        return {**record, "reason": "reference", "detail": seqs.problems[r], "position": None}
    at = int(out.bad_at[r])
    tied = tie_tokens(model, seqs.row(r), at, mode)
    record.update(reason="model", position=at + 2, expected=toks[at + 1], got=vocab.token(out.got[r]),
                  context=toks[max(0, at + 1 - CONTEXT_SHOWN): at + 1])
    if len(tied) > 1:
        record["tie"] = tied
    return record


def describe_failure(f: dict) -> str:
    """One line for a failure record."""
    if f["reason"] == "reference":
        return f"the reference itself is unsound: {f['detail']}"
    if "tie" in f:
        return (f"at position {f['position']}: expected {f['expected']}, but the top logit is a tie between "
                f"{', '.join(f['tie'])}")
    return f"at position {f['position']}: expected {f['expected']}, model chose {f['got']}"


# -- one chunk -----------------------------------------------------------------------------------------
@dataclass
class ChunkResult:
    checked: int = 0
    failed: int = 0
    failures: list[dict] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)
    cot_max: int = 0
    cot_total: int = 0
    tokens: int = 0
    longest: int = 0
    longest_keys: dict = field(default_factory=dict)  # prompt length -> (sequence length, instance key)
    parts: dict = field(default_factory=dict)  # part name -> {"instances", "failures", "answers"}

    def add(self, other: "ChunkResult") -> None:
        self.checked += other.checked
        self.failed += other.failed
        self.failures = smallest(self.failures + other.failures)
        self.answers.update(other.answers)
        self.cot_max = max(self.cot_max, other.cot_max)
        self.cot_total += other.cot_total
        self.tokens += other.tokens
        self.longest = max(self.longest, other.longest)
        for plen, best in other.longest_keys.items():
            self.longest_keys[plen] = max(self.longest_keys.get(plen, best), best)
        for name, row in other.parts.items():
            mine = self.parts.setdefault(name, {"instances": 0, "failures": 0, "answers": {}})
            mine["instances"] += row["instances"]
            mine["failures"] += row["failures"]
            for tok, count in row["answers"].items():
                mine["answers"][tok] = mine["answers"].get(tok, 0) + count


def smallest(failures: list[dict]) -> list[dict]:
    """The MAX_FAILURES_KEPT smallest failures: shortest reference first, then by instance number."""
    failures.sort(key=lambda f: (len(f["reference"]), f["instance"]))
    return failures[:MAX_FAILURES_KEPT]


def check_chunk(construction: Construction, task: Task, model, chunk: Chunk, mode: Mode = FLOAT64,
                part: str = "") -> ChunkResult:
    seqs = build_sequences(construction, task, model, chunk)
    out = teacher_force_all(model, seqs, mode)
    bad = np.flatnonzero(~out.ok)
    fails = []
    for r in bad:  # keep only the smallest few, but order first: failure records cost a forward pass
        fails.append((int(seqs.lengths[r] - seqs.starts[r]), int(chunk.keys[r]), int(r)))
    fails.sort()
    records = [failure_record(task, model, chunk, r, seqs, out, mode) for _, _, r in fails[:MAX_FAILURES_KEPT]]
    last = seqs.ids[np.arange(len(seqs)), seqs.lengths - 1]
    cot = seqs.lengths - seqs.starts - 2  # tokens after the prompt, before the answer
    longest: dict = {}  # per prompt length, the largest (sequence length, instance key)
    plens = seqs.starts + 1
    order = np.lexsort((chunk.keys, seqs.lengths, plens))
    ends = np.flatnonzero(np.r_[plens[order][1:] != plens[order][:-1], True]) if len(seqs) else []
    for i in order[ends]:
        longest[int(plens[i])] = (int(seqs.lengths[i]), int(chunk.keys[i]))
    answer_ids, counts = np.unique(last, return_counts=True)
    answers = Counter(dict(zip(model.vocab.tokens(answer_ids), counts.tolist())))
    return ChunkResult(len(seqs), len(bad), records, answers,
                       int(cot.max()) if len(seqs) else 0, int(cot.sum()), int(seqs.lengths.sum()),
                       int(seqs.lengths.max()) if len(seqs) else 0, longest,
                       {part: {"instances": len(seqs), "failures": len(bad), "answers": dict(answers)}})


def check(construction: Construction, task: Task, model, instances, mode: Mode = FLOAT64) -> ChunkResult:
    """Check a list of instances (a Batch for retrieval tasks), numbered from 0: for tests and tools."""
    check_vocabulary(task, model)
    return check_chunk(construction, task, model, Chunk(np.arange(len(instances)), instances), mode)


# -- a whole domain -------------------------------------------------------------------------------------
def check_domain_chunk(context: tuple, c: int) -> ChunkResult:
    """Chunk ``c`` of the domain in ``context = (construction, task, model, domain, mode)``: one engine
    task (verify/engine.py), run in this process or on a Dask worker, one BLAS thread either way."""
    construction, task, model, domain, mode = context
    engine.tune_process()
    with cli.single_threaded_blas():
        part, chunk = domain.chunk(c)
        return check_chunk(construction, task, model, chunk, mode, part.name)


def shard_chunks(domain: Domain, shard: tuple[int, int]) -> list[int]:
    return [c for c in range(domain.n_chunks) if c % shard[1] == shard[0]]


def run(construction: Construction, task: Task, model, domain: Domain, mode: Mode = FLOAT64, *,
        shard: tuple[int, int] = (0, 1), workers: int = 1, scheduler: str | None = None,
        progress: bool = True, desc: str = "") -> ChunkResult:
    """Check the shard's chunks of the domain: in this process (``workers=1``), on a local Dask
    cluster of ``workers`` processes, or on the Dask cluster at ``scheduler`` (verify/engine.py).
    One progress bar counts instances over all chunks; every chunk is merged exactly once."""
    check_vocabulary(task, model)
    chunks = shard_chunks(domain, shard)
    total = ChunkResult()
    size = sum(domain.chunk_size_of(c) for c in chunks)
    bar = cli.progress(size, desc or construction.name, disable=not progress)

    def merge(c: int, res: ChunkResult) -> None:
        total.add(res)
        bar.update(res.checked)

    try:
        engine.run_chunks(check_domain_chunk, (construction, task, model, domain, mode), chunks,
                          on_result=merge, workers=workers, scheduler=scheduler, name=task.name or "chunk",
                          instances=size)
    finally:
        bar.close()
    return total


# -- memory -----------------------------------------------------------------------------------------------
def state_memory(construction: Construction, task: Task, model, domain: Domain, res: ChunkResult,
                 mode: Mode = FLOAT64, count: int = 8) -> dict:
    """The RNN state on the longest sequences (one per prompt length, the ``count`` longest of those):
    Lambda, the largest |state value|, the R_p precision whose integer range holds it
    (``p = 2 ceil(log2(max + 1)) + 1``: R_p has (p-1)/2 integer bits) and the KV cache of a hybrid."""
    shape = model.shape()
    rnn = getattr(model, "rnn", model)
    if shape["state_dim"] == 0 or not res.longest_keys:
        return {}
    rows = sorted({int(r) for b in rnn.blocks for r in b.unit.state_rows()})
    keys = sorted(k for _, k in sorted(res.longest_keys.values())[-count:])
    peak = 0.0
    for key in keys:
        _, chunk, r = domain.locate(key)
        seqs = build_sequences(construction, task, model, task.subchunk(chunk, [r]))
        x = model.forward(seqs.ids, mode)
        peak = max(peak, float(np.abs(x[0][:, rows]).max()) if rows else 0.0)
    int_bits = int(np.ceil(np.log2(peak + 1))) if peak > 0 else 0
    p = 2 * int_bits + 1
    out = {"Lambda": len(rows), "max_abs_state": peak, "p_state": p, "state_bits": len(rows) * p}
    if shape["kv_per_position"]:
        out["kv_cache_numbers"] = shape["kv_per_position"] * res.longest
    return out


# -- one instance: greedy decoding with the retriever and the stop rule ----------------------------------
def decode_one(construction: Construction, task: Task, model, instance, mode: Mode = FLOAT64) -> dict:
    """Decode greedily from the prompt until a token of the answer set (Sec 3, App. A.4), with the real
    retriever for RAG models; compare with the reference and the task's answer."""
    vocab = model.vocab
    prompt = construction.prompt(task, instance) if construction.prompt else task.prompt(instance)
    answer = task.solve(instance)
    reference = [str(t) for t in (construction.reference(task, instance) if construction.reference
                                  else [answer])]
    stop = set(task.answer_set_ids(vocab).tolist())
    errors: list[str] = []
    generated, stopped = greedy(model, list(vocab.ids(prompt)), stop, len(reference) + 1, mode,
                                Retriever(vocab) if construction.retrieval else None, errors)
    gen = vocab.tokens(generated)
    report = {**task.describe_instance(instance), "prompt": [str(t) for t in prompt], "generated": gen,
              "reference": reference, "answer": str(answer), "stopped": stopped,
              "match": gen == reference and reference[-1] == str(answer)}
    if errors:  # the model wrote a pattern the retriever cannot run: a counterexample, not bad input
        report["retriever_error"] = errors[0]
    if not report["match"]:
        k = next((i for i, (g, r) in enumerate(zip(gen, reference)) if g != r), min(len(gen), len(reference)))
        report["position"] = len(prompt) + k + 1
        report["expected"] = reference[k] if k < len(reference) else "(end)"
        report["got"] = gen[k] if k < len(gen) else "(end)"
        ids = list(vocab.ids(prompt)) + list(vocab.ids(reference[:k]))
        report["trace"] = attention_trace(model, np.array(ids), len(ids) - 1, mode)
    return report


def attention_trace(model, ids: np.ndarray, pos: int, mode: Mode) -> list[str]:
    """Where each head of every block attends from position ``pos`` (0-based), the nonzero scratch
    coordinates after each block, and the top logits: the one first-failure trace of every checker."""
    _, dump = model.forward(np.asarray(ids)[None], mode, dump=True)
    toks = model.vocab.tokens(ids)
    lines = []
    embedding = set(model.vocab.coordinates) | {"pos"}
    for layer in dump[1:]:
        for name, w in (layer.get("attention") or {}).items():
            col = w[0, pos]
            key = int(np.argmax(col))
            lines.append(f"  {layer['block']}: head {name!r} attends position {key + 1} ({toks[key]}) "
                         f"with weight {float(col[key]):.6g}")
        res = layer["residual"][0, pos]
        shown = ", ".join(f"{nm}={float(res[i]):.6g}" for i, nm in enumerate(model.layout.names)
                          if nm not in embedding and res[i] != 0)
        lines.append(f"  {layer['block']}: residual {shown or '(scratch all zero)'}")
    logits = model.logits(dump[-1]["residual"], mode)[0, pos]
    top = np.argsort(logits)[::-1][:3]
    lines.append("  top logits: " + ", ".join(f"{model.vocab.token(int(t))}={float(logits[t]):.6g}" for t in top))
    return lines


# -- the smallest precision that passes -----------------------------------------------------------------
def min_precision(passes: Callable[[int], bool], p_max: int = P_MAX, report: Callable[[str], None] = print):
    """Smallest odd p in 3..p_max for which ``passes(p)``, and every p tried.

    Probes p = 15, 31, 63, ... (doubling + 1) up to p_max until one passes, then searches between the
    last failing and the first passing probe, probing the first quartile of the odd p left rather
    than the middle: a failing probe stops at its first failure (:func:`passes_everywhere`) while a
    passing one checks everything, and the quartile needs fewer passing probes (over every answer
    from 17 to 129: at most 4 instead of 7, 2.6 instead of 3.3 on average). The result passed and
    p - 2 failed (both were run). Like every such search it assumes that passing is monotone in p
    between the probes; the list of probes is returned so a reader can see the evidence.
    """
    tried: list[dict] = []

    def probe(p: int) -> bool:
        ok = bool(passes(p))
        tried.append({"p": p, "pass": ok})
        report(f"  p = {p}: {'pass' if ok else 'fail'}")
        return ok

    lo, hi, p = 1, None, 15  # invariant: lo failed (1: below the range), hi passed
    while hi is None:
        p = min(p, p_max)
        if probe(p):
            hi = p
        elif p >= p_max:
            return None, tried
        else:
            lo, p = p, 2 * p + 1
    while hi - lo > 2:  # over the odd p strictly between lo and hi, at the first quartile
        between = list(range(lo + 2, hi, 2))
        mid = between[len(between) // 4]
        if probe(mid):
            hi = mid
        else:
            lo = mid
    return hi, tried


@dataclass
class PrecisionSearch:
    """The outcome of :func:`search_precision`: the smallest passing odd p (None: none up to P_MAX),
    every probe, and the instances the last probe checked."""
    p: int | None
    tried: list[dict]
    checked: int


def passes_everywhere(construction: Construction, task: Task, model, domain: Domain, mode: Mode,
                      chunks: list[int]) -> tuple[bool, int]:
    """(every instance of the chunks passes, how many were checked), in this process, stopping at
    the first failing batch: the same test as :func:`check_chunk` (a sound reference, every checked
    token the unique arg-max), longest sequences first, where low precision fails first. A failing
    --min-precision probe needs one failure, not all of them."""
    check_vocabulary(task, model)
    checked = 0
    with cli.single_threaded_blas():
        for c in chunks:
            seqs = build_sequences(construction, task, model, domain.chunk(c)[1])
            if any(p is not None for p in seqs.problems):
                return False, checked
            for rows, result in forced_batches(model, seqs, mode, longest_first=True):
                if not result.ok.all():
                    return False, checked
                checked += len(rows)
    return True, checked


def search_precision(construction: Construction, task: Task, model, domain: Domain, *,
                     shard: tuple[int, int] = (0, 1), workers: int = 1, scheduler: str | None = None,
                     report: Callable[[str], None] | None = None) -> PrecisionSearch:
    """``--min-precision`` of every checker: :func:`min_precision` over checks of the (shard of the)
    domain in the paper's exact R_p. A probe that runs in this process stops at its first failure
    (:func:`passes_everywhere`); one on a cluster checks every chunk. Each probe is reported on
    stderr unless ``report`` is given. ``checked`` counts the instances of the last passing probe."""
    if report is None:
        def report(line: str) -> None:
            print(line, file=sys.stderr)
    checked = []
    chunks = shard_chunks(domain, shard)
    size = sum(domain.chunk_size_of(c) for c in chunks)
    here = engine.runs_in_process(len(chunks), size, workers, scheduler)

    def passes(p: int) -> bool:
        if here:
            ok, n = passes_everywhere(construction, task, model, domain, Rp(p), chunks)
        else:
            res = run(construction, task, model, domain, Rp(p), shard=shard, workers=workers,
                      scheduler=scheduler, progress=False)
            ok, n = res.failed == 0, res.checked
        if ok:
            checked.append(n)
        return ok

    p, tried = min_precision(passes, report=report)
    return PrecisionSearch(p, tried, checked[-1] if checked else 0)


def precision_verdict(found: PrecisionSearch, what: str, *, command: list[str], domain: Domain, started: float,
                      model: dict, json_path: str | None, notes: list[str] = (), **extra) -> int:
    """Print the outcome of a ``--min-precision`` search over ``what`` (e.g. "56,264 instances"), write
    its certificate, and return the exit code (0: some p passes; 1: none up to P_MAX does)."""
    p, tried = found.p, found.tried
    if p is None:
        cli.say(f"no odd p <= {tried[-1]['p']} passes all {what}")
    else:
        cli.say(f"minimum precision: p = {p} bits passes all {what}" + (f"; p = {p - 2} fails" if p > 3 else ""))
        for line in notes:
            cli.say(f"  {line}")
    described = domain.describe()
    cert = cli.certificate(command=command, domain=described, checked=found.checked, failures=[],
                           verified=p is not None, started=started, min_precision=p, tried=tried,
                           search="exhaustive" if described["kind"] == "exhaustive" else "samples",
                           model=model, mode="rp (searched)", **extra)
    cli.write_json(json_path, cert)
    return cli.EXIT_OK if p is not None else cli.EXIT_COUNTEREXAMPLE


# -- certificates ------------------------------------------------------------------------------------------
def model_info(construction: Construction, model, weights_file: str | None) -> dict:
    return {"construction": construction.name, "theorem": construction.theorem, "kind": model.kind,
            "shape": model.shape(), "weights_sha256": model_io.weights_sha256(model),
            "weights_file": weights_file,
            "weights_file_sha256": cli.sha256_file(weights_file) if weights_file else None,
            "claimed_cot": construction.cot, "meta": model.meta}


def result_fields(res: ChunkResult) -> dict:
    return {"failure_count": res.failed, "answers": dict(res.answers), "parts": res.parts,
            "cot_length": {"max": res.cot_max, "total": res.cot_total,
                           "mean": round(res.cot_total / res.checked, 3) if res.checked else None},
            "tokens_checked": res.tokens, "longest_sequence": res.longest,
            "position_convention": POSITION_CONVENTION, "stop_rule": STOP_RULE}


def arithmetic(mode: Mode) -> str:
    """What the arithmetic of a run was, for the certificate (float64 is a fast path, not the model)."""
    if mode.name == "rp":
        return f"R_p with p = {mode.p}: the paper's fixed point (App. A.2), rounded after every operation"
    if mode.name == "hard":
        return "float64 with hard attention (uniform over the arg-max keys): the limit the constructions aim at"
    return "float64 (IEEE double), a fast path; the paper's model is R_p (use --mode rp or --min-precision)"


def merge(certs: list[dict], paths: list[str]) -> dict:
    """Combine shard certificates of one run; refuses anything else with a one-line UsageError."""
    for cert, path in zip(certs, paths):
        if not isinstance(cert, dict) or "shard" not in cert or "instances_checked" not in cert:
            raise cli.UsageError(f"{path} is not a shard certificate (written by --shard I/K --json)")
        if cert.get("min_precision") is not None or "merged_from" in cert:
            raise cli.UsageError(f"{path} is not a shard certificate (it is a merged or --min-precision one)")
        if cli.certificate_checksum(cert) != cert.get("checksum"):
            raise cli.UsageError(f"{path} has been edited since it was written (its checksum does not match)")
    keys = {(repr(c["domain"]), c["model"]["weights_sha256"], c["mode"], c["command_kind"]) for c in certs}
    if len(keys) != 1:
        raise cli.UsageError("the certificates differ in domain, weights, mode or checker; they cannot be merged")
    counts = {c["shard"]["count"] for c in certs}
    indices = sorted(c["shard"]["index"] for c in certs)
    if len(counts) != 1:
        raise cli.UsageError(f"the certificates come from different shard counts {sorted(counts)}")
    k = counts.pop()
    if len(set(indices)) != len(indices):
        raise cli.UsageError(f"shards overlap: indices {indices}")
    if indices != list(range(k)):
        missing = sorted(set(range(k)) - set(indices))
        raise cli.UsageError(f"shards {missing} of {k} are missing")
    total = ChunkResult()
    for c in certs:
        total.add(ChunkResult(c["instances_checked"], c["failure_count"], list(c["failures"]),
                              Counter(c["answers"]), c["cot_length"]["max"], c["cot_length"]["total"],
                              c["tokens_checked"], c["longest_sequence"], {}, c["parts"]))
    return {"result": total, "domain": certs[0]["domain"], "model": certs[0]["model"], "mode": certs[0]["mode"],
            "arithmetic": certs[0].get("arithmetic"), "complete": total.checked == certs[0]["domain"]["instances"]}

