"""Export a construction to TransformerLens or PyTorch, and check the export against the runtime:
``python -m verify.export --construction istree --n 8 --format transformer-lens --out m.pt --check``.

Writes FILE.pt (load it with constructions.export.load, or torch.load(FILE, weights_only=True)) and a
JSON sidecar beside it (m.pt -> m.json): the construction, theorem and size, the residual layout's
coordinate names, the heads by block, the sha256 of the weights (the checkers' weights hash) and of
the file, and package versions.

Formats:
  transformer-lens  a float64 HookedTransformer (Transformer constructions only: --model transformer).
                    Blocks with fewer heads or a narrower FFN are padded with zero heads and units,
                    and the residual gets one constant coordinate, export:one, for the FFN biases.
  torch             a small torch.nn.Module written from Defs 3.1, 3.4 and 5.5 (every family).

--check loads the written file back and runs it on the checker's own sequences (prompt + reference
chain of thought, exactly what python -m verify.<task> checks) next to the numpy runtime. It prints
the largest logit difference (absolute, and relative to the position's largest logit) and fails if
that exceeds --tol or if the arg-max differs at any position where the runtime's arg-max is strict.
By default it compares --instances 4096 instances drawn with --seed from the checker's domain
(every graph, every input, ... of that size); --instances all takes the whole domain.

Sizes: --n is the number of vertices (istree), of data tokens (index, ar, cgram, counting), or the
longest input (turing, with --machine). --weights FILE.npz exports edited or trained weights instead
of the built ones.
Exit codes: 0 exported (and the check passed), 1 the check found a difference, 2 bad usage or input.
Needs the optional extra: pip install -e ".[interp]".
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

from constructions import registry
from constructions.runtime import io as model_io
from verify import cli, core

FORMATS = ("transformer-lens", "torch")
DEFAULT_INSTANCES = 4096
DEFAULT_TOL = 1e-9
MAX_N = 4096
MAX_INSTANCES = 1_000_000
SPREAD_CHUNKS = 16  # a sample of K instances is taken from up to this many chunks of the domain


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.export", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--construction", required=True, choices=registry.tasks(),
                   help="which task's construction to export")
    p.add_argument("--model", choices=list(registry.FAMILIES), default="transformer",
                   help="which family: transformer (default), rag (Linear RNN with regex retrieval) or hybrid")
    p.add_argument("--n", type=int, required=True,
                   help="size: vertices (istree), data tokens (index/ar/cgram/counting), longest input (turing)")
    p.add_argument("--c", type=int, help="gram length for --construction cgram (default 3)")
    p.add_argument("--machine", help="Turing machine for --construction turing: a library name or a .json "
                                     "file (default palindrome)")
    p.add_argument("--format", required=True, choices=FORMATS, help="transformer-lens or torch")
    p.add_argument("--out", required=True, metavar="FILE.pt", help="where to write the model (sidecar: FILE.json)")
    p.add_argument("--n-ctx", type=int, help="transformer-lens: longest sequence the model accepts (default: "
                                             "1024, or the longest checked sequence if longer)")
    p.add_argument("--weights", metavar="FILE.npz",
                   help="export weights loaded from FILE.npz instead of the built ones")
    p.add_argument("--check", action="store_true",
                   help="compare the written model's logits with the runtime's on the checker's sequences")
    p.add_argument("--instances", default=str(DEFAULT_INSTANCES), metavar="K|all",
                   help=f"--check: how many instances of the checker's domain to compare (default "
                        f"{DEFAULT_INSTANCES}; 'all' for the whole domain)")
    p.add_argument("--tol", type=float, default=DEFAULT_TOL,
                   help=f"--check: largest relative logit difference allowed (default {DEFAULT_TOL:g})")
    cli.add_common_arguments(p)
    return p.parse_args(argv)


def _validate(a):
    construction = registry.get(a.construction, a.model)  # a ValueError names what exists
    if a.format == "transformer-lens" and a.model != "transformer":
        raise cli.UsageError(f"--format transformer-lens exports Transformers only; the {a.model} construction "
                             "is not one (use --format torch)")
    if a.construction == "turing":
        from theory.tasks.turing import MAX_LEN

        cli.check_range("--n (the longest input)", a.n, 0, MAX_LEN)
    else:
        cli.check_range("--n", a.n, 2, MAX_N)
    if a.c is not None and a.construction != "cgram":
        raise cli.UsageError("--c only applies to --construction cgram")
    if a.machine is not None and a.construction != "turing":
        raise cli.UsageError("--machine only applies to --construction turing")
    if a.n_ctx is not None:
        if a.format != "transformer-lens":
            raise cli.UsageError("--n-ctx only applies to --format transformer-lens")
        cli.check_range("--n-ctx", a.n_ctx, 1, 1 << 20)
    if not (a.tol >= 0 and np.isfinite(a.tol)):
        raise cli.UsageError(f"--tol must be a non-negative number, got {a.tol}")
    if a.instances != "all":
        try:
            count = int(a.instances)
        except ValueError:
            raise cli.UsageError(f"--instances must be a positive integer or 'all', got {a.instances!r}") from None
        cli.check_range("--instances", count, 1, MAX_INSTANCES)
    if a.out.endswith(".json"):
        raise cli.UsageError(f"--out {a.out}: the model file must not end in .json (that is the sidecar's name)")
    cli.check_output_path(a.out, "--out")
    cli.check_output_path(a.json)
    if a.weights is not None and not os.path.isfile(a.weights):
        raise cli.UsageError(f"weights file not found: {a.weights}")
    _require_extra()
    return construction


def _require_extra() -> None:
    from constructions.export import INSTALL_HINT

    for module in ("torch", "transformer_lens"):
        try:
            __import__(module)
        except ImportError:
            raise cli.UsageError(f"{INSTALL_HINT} ({module} is not installed)") from None


def make_task(a):
    cls = registry.task_class(a.construction)
    if a.construction == "turing":
        from theory.tasks.turing import TuringTask

        return TuringTask(a.machine or "palindrome", a.n)
    if a.construction == "cgram":
        c = 3 if a.c is None else a.c
        cli.check_range("--c", c, 2, a.n)
        return cls(a.n, c)
    return registry.task_of_size(cls, a.n)


def checker_domain(task, seed: int, want: int | None):
    """The domain ``python -m verify.<task>`` checks at this size; seeded random instances when the
    exhaustive one is beyond what that checker enumerates."""
    if task.name == "istree":
        from verify.istree import EXHAUSTIVE_LIMIT

        if task.n > 12 or task.domain_size(task.n - 1) > EXHAUSTIVE_LIMIT:
            return task.domain(samples=want or DEFAULT_INSTANCES, seed=seed)
        return task.domain(seed=seed)
    if task.name == "turing":
        return task.domain()
    from verify.retrieval import EXHAUSTIVE_LIMIT

    if task.exhaustive_size() > EXHAUSTIVE_LIMIT:
        return task.domain(samples=want or DEFAULT_INSTANCES, seed=seed)
    return task.domain(seed=seed)


def pick(task, domain, want: int | None, seed: int):
    """Chunks of the checker's domain to compare: all of it, or ``want`` instances spread over up to
    SPREAD_CHUNKS seeded chunks (seeded rows within each)."""
    if want is None or want >= domain.size:
        for c in range(domain.n_chunks):
            yield domain.chunk(c)[1]
        return
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(domain.n_chunks, size=min(domain.n_chunks, SPREAD_CHUNKS), replace=False))
    sizes = np.array([domain.chunk_size_of(int(c)) for c in chosen])
    share = np.minimum(sizes, np.maximum(1, want * sizes // sizes.sum()))
    left = want - int(share.sum())
    for i in range(len(share)):  # hand out what rounding left over, chunk by chunk
        extra = min(left, int(sizes[i] - share[i])) if left > 0 else 0
        share[i] += extra
        left -= extra
    for c, k in zip(chosen, share):
        chunk = domain.chunk(int(c))[1]
        rows = np.sort(rng.choice(len(chunk), size=int(k), replace=False))
        yield task.subchunk(chunk, rows)


def export(model, fmt: str, n_ctx: int):
    from constructions.export import to_torch, to_transformer_lens

    return to_transformer_lens(model, n_ctx=n_ctx) if fmt == "transformer-lens" else to_torch(model)


def describe_export(exported, fmt: str) -> dict:
    if fmt == "transformer-lens":
        cfg = exported.cfg
        return {"class": "transformer_lens.HookedTransformer", "n_layers": cfg.n_layers, "n_heads": cfg.n_heads,
                "d_head": cfg.d_head, "d_mlp": cfg.d_mlp, "d_model": cfg.d_model, "n_ctx": cfg.n_ctx,
                "d_vocab": cfg.d_vocab, "dtype": str(cfg.dtype), "normalization_type": None,
                "act_fn": "relu (gated)", "use_attn_scale": bool(cfg.use_attn_scale)}
    return {"class": f"constructions.export.torch_models.{type(exported).__name__}",
            "parameters": int(sum(p.numel() for p in exported.parameters())), "dtype": "torch.float64"}


def versions() -> dict:
    from importlib import metadata

    out = cli.package_versions()
    for name in ("torch", "transformer-lens"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    construction = _validate(a)
    started, command = cli.start_run("verify.export", argv, a.json)
    want = None if a.instances == "all" else int(a.instances)
    task = make_task(a)
    model = model_io.load_or_build(a.weights, construction.build(task))
    core.check_vocabulary(task, model)

    sequences = []
    if a.check:
        domain = checker_domain(task, a.seed, want)
        sequences = [core.build_sequences(construction, task, model, chunk)
                     for chunk in pick(task, domain, want, a.seed)]
    longest = max((int(s.lengths.max()) for s in sequences if len(s)), default=0)
    n_ctx = a.n_ctx if a.n_ctx is not None else max(1024, longest)
    if longest > n_ctx:
        raise cli.UsageError(f"--n-ctx {n_ctx} is shorter than the longest checked sequence ({longest} tokens)")

    import torch

    from constructions.export import files

    # One torch thread, like the checkers' single-threaded BLAS: on a shared 2-core machine two threads
    # made the comparison of 1,024 IsTree sequences 10x slower (22 s instead of 2 s).
    torch.set_num_threads(1)
    exported = export(model, a.format, n_ctx)
    files.save(exported, a.out)
    side = files.sidecar_path(a.out)
    weights_sha = model_io.weights_sha256(model)
    names = list(exported.cfg.residual_names) if a.format == "transformer-lens" else list(model.layout.names)
    sidecar = {
        "format": a.format, "file": os.path.basename(a.out), "file_sha256": cli.sha256_file(a.out),
        "construction": construction.name, "theorem": construction.theorem, "task": task.params(),
        "kind": model.kind, "weights_sha256": weights_sha, "weights_file": a.weights,
        "residual_names": names, "layout": list(model.layout.names),
        "heads": _heads(model), "model": describe_export(exported, a.format), "shape": model.shape(),
        "load": "constructions.export.load(FILE) (or torch.load(FILE, weights_only=True) for the raw data)",
        "command": " ".join(command), "versions": versions(),
    }
    cli.say(f"wrote {a.out}: {construction.name} ({construction.theorem}), {_summary(exported, a.format, model)}")
    cli.say(f"  sidecar {side}: {len(names)} residual coordinate names, weights sha256 {weights_sha[:16]}...")

    result = None
    if a.check:
        from constructions.export import compare_logits
        from constructions.export.parity import Parity

        loaded = files.load(a.out)
        result = Parity()
        bar = cli.progress(sum(len(s) for s in sequences), "compare", disable=a.no_progress)
        for s in sequences:
            result.add(compare_logits(model, loaded, s.ids, s.lengths, tol=a.tol, progress=bar.update))
        bar.close()
        _print_check(result, domain, a.tol)
        sidecar["check"] = {**result.as_dict(), "tolerance": a.tol, "domain": domain.describe(),
                            "instances_compared": result.sequences, "passed": result.ok(a.tol)}
    with open(side, "w") as handle:
        json.dump(sidecar, handle, indent=2, default=cli.jsonable)
        handle.write("\n")
    ok = result is None or result.ok(a.tol)
    cert = cli.certificate(command=command, domain=(domain.describe() if a.check else {"instances": 0}),
                           checked=result.sequences if result else 0, failures=[] if ok else [result.as_dict()],
                           verified=ok and result is not None, started=started, export=sidecar,
                           model=core.model_info(construction, model, a.weights))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if ok else cli.EXIT_COUNTEREXAMPLE


def _heads(model) -> list[list[str]]:
    blocks = model.blocks if hasattr(model, "blocks") and model.kind == "transformer" else [getattr(model, "top", None)]
    return [[h.name for h in b.heads] for b in blocks if b is not None]


def _summary(exported, fmt: str, model) -> str:
    if fmt == "transformer-lens":
        c = exported.cfg
        return (f"HookedTransformer, {c.n_layers} layers x {c.n_heads} heads (d_head {c.d_head}), d_mlp {c.d_mlp}, "
                f"d_model {c.d_model} = {c.d_model - 1} layout coordinates + export:one, float64")
    params = sum(p.numel() for p in exported.parameters())
    return f"torch {type(exported).__name__}, {params:,} parameters, float64"


def _print_check(r, domain, tol: float) -> None:
    text = domain.describe()["parts"][0].get("description", domain.describe()["parts"][0]["name"])
    cli.say(f"check: {r.sequences:,} of {domain.size:,} instances of the checker's domain ({text}), "
            f"{r.positions:,} positions")
    cli.say(f"  max logit difference: {r.max_abs:.3g} absolute, {r.max_rel:.3g} relative (tolerance {tol:g})")
    cli.say(f"  arg-max identical at {r.argmax_compared - r.argmax_differ:,} of {r.argmax_compared:,} positions "
            f"where the runtime's arg-max is strict (not compared: {r.near_ties:,} positions, mostly in prompts, "
            f"where the runtime's top logits tie)")
    if r.ok(tol):
        cli.say("parity: OK")
    else:
        where = r.first_argmax_difference or r.worst
        cli.say(f"parity: FAILED (first difference: instance row {where.get('row')}, position {where.get('position')})")


if __name__ == "__main__":
    sys.exit(main())
