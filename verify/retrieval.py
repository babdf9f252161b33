"""Check the Theorem 4.6 constructions: ``python -m verify.retrieval --task index --n 10``.

Every instance of the domain is appended with its reference answer and run through the model once
(teacher forcing); it passes iff the model's arg-max at the last prompt position is unique and equals
the reference answer (theory.tasks.<task>.solve gives the same answers one instance at a time).

Tasks and exhaustive domains (data before the query, as in every hard instance):
  index      every x in {1,2}^n and every query i                         (n 2^n instances)
  ar         every x over {1..a}^n (a = 4, 3 or 2, the largest that fits) and every query that
             occurs, plus every instance of the paper's hard family (n even)
  cgram      likewise with (c-1)-gram queries (--c, default 3), plus the hard family (c | n)
  counting   every x in {1,2}^n, every query 1..n and threshold 0..n, plus the hard family (t = 0)
--samples K checks K seeded random instances instead (for n beyond the exhaustive range).
Exit codes: 0 every instance verified, 1 a counterexample (the smallest is printed with a trace),
2 bad usage or input.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import Mode, parse_mode
from constructions.runtime.decode import teacher_force
from theory.precision import P_MAX
from theory.tasks import ar, cgram, counting, index
from theory.tasks.common import Batch
from verify import cli

CHUNK = 8192                 # instances per forward pass
EXHAUSTIVE_LIMIT = 1 << 21   # instances an exhaustive run may hold in memory
MAX_FAILURES_KEPT = 20
DEFAULT_C = 3


# -- tasks ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    """The checker's view of a task: everything takes (n, c); c is ignored except for cgram."""

    name: str
    check: Callable[[int, int], None]
    exhaustive_size: Callable[[int, int], int]      # an upper bound, computed without enumerating
    exhaustive: Callable[[int, int], list[tuple[str, Batch]]]
    sample: Callable[[int, int, int, np.random.Generator], Batch]


def _ar_size(n: int, c: int) -> int:
    a = ar.alphabet_for(n)
    return (a ** (n + 1) if a else 0) + (2 ** (n // 2) * (n // 2) if n % 2 == 0 else 0)


def _cgram_size(n: int, c: int) -> int:
    a = cgram.alphabet_for(n, c)
    return (a**n * (n - c + 1) if a else 0) + (2 ** (n // c) * (n // c) if n % c == 0 else 0)


TASKS: dict[str, Task] = {
    "index": Task("index", lambda n, c: index.check_n(n), lambda n, c: n * 2**n,
                  lambda n, c: index.exhaustive(n), lambda n, c, k, rng: index.sample(n, k, rng)),
    "ar": Task("ar", lambda n, c: ar.check_n(n), _ar_size,
               lambda n, c: ar.exhaustive(n), lambda n, c, k, rng: ar.sample(n, k, rng)),
    "cgram": Task("cgram", lambda n, c: cgram.check_n(n, c), _cgram_size,
                  cgram.exhaustive, cgram.sample),
    "counting": Task("counting", lambda n, c: counting.check_n(n),
                     lambda n, c: 2**n * n * (n + 1) + 2**n * n,
                     lambda n, c: counting.exhaustive(n), lambda n, c, k, rng: counting.sample(n, k, rng)),
}


# -- models: kind -> task -> builder(n, c) ----------------------------------------------------------------
def _transformer_builders() -> dict[str, Callable[[int, int], object]]:
    from constructions.transformer.ar import build_ar_transformer
    from constructions.transformer.cgram import build_cgram_transformer
    from constructions.transformer.counting import build_counting_transformer
    from constructions.transformer.index import build_index_transformer

    return {"index": lambda n, c: build_index_transformer(n),
            "ar": lambda n, c: build_ar_transformer(n),
            "cgram": lambda n, c: build_cgram_transformer(n, c),
            "counting": lambda n, c: build_counting_transformer(n)}


# Other model kinds (RAG, hybrid) register a function returning their task -> builder map here.
MODEL_BUILDERS: dict[str, Callable[[], dict[str, Callable[[int, int], object]]]] = {
    "transformer": _transformer_builders,
    "hybrid": lambda: __import__("constructions.hybrid.retrieval", fromlist=["_"]).hybrid_retrieval_builders(),
    "rag": lambda: __import__("constructions.rag.retrieval", fromlist=["_"]).rag_retrieval_builders(),
}


def build_model(kind: str, task: str, n: int, c: int):
    builders = MODEL_BUILDERS[kind]()
    if task not in builders:
        raise cli.UsageError(f"model {kind!r} has no construction for task {task!r}")
    return builders[task](n, c)


def weights_sha256(model) -> str:
    """sha256 over the layout names, the score scale and every parameter array (float64, C order)."""
    if not hasattr(model, "parameters"):  # Linear RNNs (RAG): the runtime's hash of every weight array
        return model_io.weights_sha256(model)
    digest = hashlib.sha256()
    digest.update("|".join(model.layout.names).encode())
    digest.update(repr(model.score_scale).encode())
    for arr in model.parameters():
        arr = np.ascontiguousarray(arr, dtype=np.float64)
        digest.update(repr(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()


# -- checking -------------------------------------------------------------------------------------------
def check_batch(model, batch: Batch, mode: Mode, show_progress: bool = False, desc: str = ""):
    """Teacher-force every instance (chunks of CHUNK rows).

    Returns (ok, the model's token at the first wrong position, the reference token there); for
    models without CoT that position is the answer's.
    """
    if model.meta.get("rag_task"):  # RAG models: the whole CoT and the retrievals (verify/rag_check.py)
        from verify.rag_check import check_batch as rag_check_batch
        return rag_check_batch(model, batch, mode, show_progress, desc)
    ok = np.zeros(len(batch), dtype=bool)
    got = np.zeros(len(batch), dtype=np.int64)
    bar = cli.progress(len(batch), desc, disable=not show_progress)
    for start in range(0, len(batch), CHUNK):
        part = batch.take(np.arange(start, min(start + CHUNK, len(batch))))
        result = teacher_force(model, part.ids, part.check_mask(), mode)
        ok[start:start + len(part)] = result.ok
        got[start:start + len(part)] = result.argmax[np.arange(len(part)), part.answer_pos - 1]
        bar.update(len(part))
    bar.close()
    return ok, got, np.asarray(batch.answers)


def smallest_first(batch: Batch, rows: np.ndarray) -> np.ndarray:
    """``rows`` ordered by (length, token ids): the smallest counterexample comes first."""
    if rows.size == 0:
        return rows
    ids = batch.ids[rows]
    keys = [ids[:, j] for j in range(ids.shape[1] - 1, -1, -1)] + [batch.answer_pos[rows]]
    return rows[np.lexsort(keys)]


def trace(model, ids: np.ndarray, pos: int, mode: Mode) -> list[str]:
    """Per block at the checked position: where each head attends, and the scratch coordinates."""
    _, dump = model.forward(ids[None], mode, dump=True)
    toks = model.vocab.tokens(ids)
    lines = []
    embedding = set(model.vocab.coordinates) | {"pos"}
    for layer in dump[1:]:
        for name, w in layer.get("attention", {}).items():
            col = w[0, pos]
            key = int(np.argmax(col))
            lines.append(f"  {layer['block']}: head {name!r} attends position {key + 1} ({toks[key]}) "
                         f"with weight {col[key]:.6g}")
        res = layer["residual"][0, pos]
        shown = ", ".join(f"{nm}={res[i]:.6g}" for i, nm in enumerate(model.layout.names)
                          if nm not in embedding and res[i] != 0)
        lines.append(f"  {layer['block']}: residual {shown or '(scratch all zero)'}")
    logits = model.logits(dump[-1]["residual"], mode)[0, pos]
    top = np.argsort(logits)[::-1][:3]
    lines.append("  top logits: " + ", ".join(f"{model.vocab.token(int(t))}={logits[t]:.6g}" for t in top))
    return lines


def run(model, parts: list[tuple[str, Batch]], mode: Mode, show_progress: bool):
    """Check every part; returns (checked, failure count, failures kept (smallest first), per-part counts)."""
    checked = bad = 0
    fails: list[tuple[Batch, np.ndarray, np.ndarray]] = []
    counts = []
    for name, batch in parts:
        ok, got, expected = check_batch(model, batch, mode, show_progress, name[:30])
        rows = np.flatnonzero(~ok)
        checked += len(batch)
        bad += rows.size
        counts.append({"part": name, "instances": len(batch), "failures": int(rows.size)})
        if rows.size:
            fails.append((batch, smallest_first(batch, rows)[:MAX_FAILURES_KEPT], got, expected))
    failures = []
    for batch, rows, got, expected in fails:
        for r in rows:
            failures.append({"prompt": model.vocab.tokens(batch.prompt(r)),
                             "expected": model.vocab.token(expected[r]),
                             "got": model.vocab.token(got[r]), "length": int(batch.answer_pos[r] + 1),
                             "_ids": batch.ids[r, : batch.answer_pos[r] + 1]})
    failures.sort(key=lambda f: (f["length"], tuple(f["_ids"])))
    return checked, bad, failures[:MAX_FAILURES_KEPT], counts


def min_precision(model, parts, show_progress: bool) -> tuple[int | None, list[dict]]:
    """Smallest odd p with every instance passing in R_p, by bisection over the odd p in 3..P_MAX.

    The reported p passed and p - 2 failed (both were run). Bisection assumes that passing is
    monotone in p between the probes; every p tried is returned so a reader can see the evidence.
    """
    tried: list[dict] = []

    def passes(p: int) -> bool:
        ok = all(check_batch(model, b, Mode("rp", p))[0].all() for _, b in parts)
        tried.append({"p": p, "pass": ok})
        print(f"  p = {p}: {'pass' if ok else 'fail'}", file=sys.stderr)
        return ok

    odd = list(range(3, P_MAX + 1, 2))
    if not passes(odd[-1]):
        return None, tried
    lo, hi = -1, len(odd) - 1  # invariant: odd[hi] passes; odd[lo] fails (index -1: below the range)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if passes(odd[mid]):
            hi = mid
        else:
            lo = mid
    return odd[hi], tried


# -- command line -------------------------------------------------------------------------------------
def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.retrieval", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=sorted(TASKS), help="which retrieval task")
    p.add_argument("--n", type=int, required=True, help="problem size: the number of data tokens")
    p.add_argument("--c", type=int, help=f"gram length for --task cgram (default {DEFAULT_C})")
    p.add_argument("--samples", type=int, metavar="K",
                   help="check K seeded random instances instead of the exhaustive domain")
    cli.add_common_arguments(p, model_kinds=MODEL_BUILDERS)
    cli.add_arithmetic_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> int:
    if a.c is not None and a.task != "cgram":
        raise cli.UsageError("--c only applies to --task cgram")
    c = DEFAULT_C if a.c is None else a.c
    TASKS[a.task].check(a.n, c)
    if a.samples is not None and a.samples < 1:
        raise cli.UsageError("--samples must be positive")
    if a.mode == "rp" and a.p is None:
        raise cli.UsageError("--mode rp needs --p (an odd number of bits)")
    if a.p is not None and a.mode != "rp":
        raise cli.UsageError("--p only applies to --mode rp")
    if a.min_precision and a.mode != "float64":
        raise cli.UsageError("--min-precision searches rp itself; drop --mode")
    if a.samples is None:
        size = TASKS[a.task].exhaustive_size(a.n, c)
        if size > EXHAUSTIVE_LIMIT:
            raise cli.UsageError(f"n = {a.n} has about {size:,} exhaustive instances, beyond the limit "
                                 f"{EXHAUSTIVE_LIMIT:,}; use --samples K")
    return c


def load_model(a, c: int):
    return model_io.load_or_build(a.weights, build_model(a.model, a.task, a.n, c))


def domain_parts(a, c: int) -> tuple[list[tuple[str, Batch]], dict]:
    task = TASKS[a.task]
    if a.samples is not None:
        batch = task.sample(a.n, c, a.samples, np.random.default_rng(a.seed))
        parts = [(f"{a.samples} random instances, seed {a.seed}", batch)]
    else:
        parts = task.exhaustive(a.n, c)
    domain = {"task": a.task, "n": a.n, "c": c if a.task == "cgram" else None,
              "kind": "random" if a.samples is not None else "exhaustive", "seed": a.seed,
              "parts": [{"name": name, "instances": len(b)} for name, b in parts]}
    return parts, domain


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    c = _validate(a)
    started = time.time()
    command = ["python -m verify.retrieval"] + (sys.argv[1:] if argv is None else list(argv))
    mode = parse_mode(a.mode, a.p)
    model = load_model(a, c)
    parts, domain = domain_parts(a, c)
    model_info = {"kind": a.model, "size": model.size(), "weights_sha256": weights_sha256(model),
                  "weights_file": a.weights,
                  "weights_file_sha256": cli.sha256_file(a.weights) if a.weights else None,
                  "meta": model.meta}
    total = sum(len(b) for _, b in parts)

    if a.min_precision:
        p, tried = min_precision(model, parts, not a.no_progress)
        if p is None:
            print(f"no p <= {P_MAX} passes every one of {total:,} instances")
        else:
            print(f"minimum precision: p = {p} bits passes all {total:,} {a.task} instances (n = {a.n}); "
                  f"p = {p - 2} fails" if p > 3 else f"minimum precision: p = {p}")
        cert = cli.certificate(command=command, domain=domain, checked=total, failures=[],
                               verified=p is not None, started=started, min_precision=p, tried=tried,
                               model=model_info, mode="rp (searched)")
        cli.write_json(a.json, cert)
        return cli.EXIT_OK if p is not None else cli.EXIT_COUNTEREXAMPLE

    checked, bad, failures, counts = run(model, parts, mode, not a.no_progress)
    seconds = time.time() - started
    if bad == 0:
        print(f"verified: {checked:,} {a.task} instances (n = {a.n}"
              f"{f', c = {c}' if a.task == 'cgram' else ''}), mode {mode}, {seconds:.2f} s")
        for row in counts:
            print(f"  {row['part']}: {row['instances']:,}")
    else:
        print(f"FAILED: {bad:,} of {checked:,} {a.task} instances (n = {a.n}), mode {mode}")
        f = failures[0]
        print(f"  smallest counterexample: {' '.join(f['prompt'])}")
        print(f"  expected {f['expected']}, model chose {f['got']}")
        for line in trace(model, f["_ids"], len(f["_ids"]) - 2, mode):
            print(line)
    for f in failures:
        f.pop("_ids")
    cert = cli.certificate(command=command, domain=domain, checked=checked, failures=failures,
                           verified=bad == 0, started=started, failure_count=bad, parts=counts,
                           model=model_info, mode=str(mode))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if bad == 0 else cli.EXIT_COUNTEREXAMPLE


if __name__ == "__main__":
    sys.exit(main())
