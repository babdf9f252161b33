"""Check the retrieval constructions (Thms 4.6, 5.2, 5.6): ``python -m verify.retrieval --task index --n 10``.

Every instance of the domain is appended with its reference (the answer for the Transformers of
Thm 4.6 and the hybrids of Thm 5.6; the regex search, the retrieved tokens and the answer for the
RAG Linear RNNs of Thm 5.2) and run through the model once (teacher forcing, verify/core.py). It
passes iff the model's arg-max is unique and equals the reference at every position the model must
produce, the answer is the task's own, and every retrieval is what the real retriever returns.

Tasks and default domains (data before the query, as in every hard instance):
  index      every x in {1,2}^n and every query i                         (n 2^n instances)
  ar         every x over {1..a}^n (a = 4, 3 or 2, the largest that fits) and every query that
             occurs, plus every instance of the paper's hard family (n even)
  cgram      likewise with (c-1)-gram queries (--c, default 3), plus the hard family (c | n)
  counting   every x in {1,2}^n, every query 1..n and threshold 0..n, plus the hard family (t = 0)
and, for every task, 2,000 seeded instances over the full alphabet 1..n (weights that only work on a
small alphabet fail there). --alphabet full checks every x in [n]^n instead (Index at n = 6:
279,936 instances). --samples K checks K seeded full-alphabet instances plus K/4 seeded instances of
the hard family (for n beyond the exhaustive range). The certificate names every part exactly.
Exit codes: 0 every instance verified, 1 a counterexample (the smallest is printed with a trace),
2 bad usage or input.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import parse_mode
from theory.tasks.common import RetrievalTask
from verify import cli, core

EXHAUSTIVE_LIMIT = 1 << 21   # instances an exhaustive run may hold in memory
MAX_N = 4096                 # prompts of n tokens; the constructions' sizes are checked up to here
MAX_SAMPLES = 1_000_000
DEFAULT_C = 3


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.retrieval", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", required=True, choices=registry.tasks(RetrievalTask), help="which retrieval task")
    p.add_argument("--n", type=int, required=True, help=f"problem size: the number of data tokens (2..{MAX_N})")
    p.add_argument("--c", type=int, help=f"gram length for --task cgram (default {DEFAULT_C})")
    p.add_argument("--samples", type=int, metavar="K",
                   help="check K seeded random instances (and K/4 of the hard family) instead of the exhaustive domain")
    p.add_argument("--alphabet", choices=["default", "full"], default="default",
                   help="default: small-alphabet exhaustive parts plus full-alphabet samples; full: every x in [n]^n")
    cli.add_common_arguments(p, model_kinds=list(registry.FAMILIES))
    cli.add_arithmetic_arguments(p)
    cli.add_run_arguments(p, shards=False)
    return p.parse_args(argv)


def make_task(a) -> RetrievalTask:
    if a.c is not None and a.task != "cgram":
        raise cli.UsageError("--c only applies to --task cgram")
    cli.check_range("--n", a.n, 2, MAX_N)
    cls = registry.task_class(a.task)
    if a.task == "cgram":
        c = DEFAULT_C if a.c is None else a.c
        cli.check_range("--c", c, 2, a.n)
        return cls(a.n, c)
    return cls(a.n)


def _validate(a, task: RetrievalTask) -> None:
    cli.validate_arithmetic(a)
    cli.check_output_path(a.json)
    if a.samples is not None:
        cli.check_range("--samples", a.samples, 1, MAX_SAMPLES)
        if a.alphabet == "full":
            raise cli.UsageError("--samples already draws from the full alphabet; drop --alphabet full")
    elif a.alphabet == "full" and task.full_size() > task.full_limit:
        raise cli.UsageError(f"n = {a.n} has {task.full_size():,} full-alphabet instances, beyond the limit "
                             f"{task.full_limit:,}; use --samples K")
    elif task.exhaustive_size() > EXHAUSTIVE_LIMIT:
        raise cli.UsageError(f"n = {a.n} has about {task.exhaustive_size():,} exhaustive instances, beyond the "
                             f"limit {EXHAUSTIVE_LIMIT:,}; use --samples K")


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    task = make_task(a)
    _validate(a, task)
    started, command = cli.start_run("verify.retrieval", argv, a.json)
    construction = registry.get(a.task, a.model)
    model = model_io.load_or_build(a.weights, construction.build(task))
    info = core.model_info(construction, model, a.weights)
    domain = task.domain(samples=a.samples, seed=a.seed, alphabet=a.alphabet)
    mode = parse_mode(a.mode, a.p)
    what = f"{a.task} instances (n = {a.n}{f', c = {task.c}' if a.task == 'cgram' else ''})"

    if a.min_precision:
        found = core.search_precision(construction, task, model, domain, workers=a.workers,
                                      scheduler=a.scheduler)
        return core.precision_verdict(found, f"{domain.size:,} {what}", command=command, domain=domain,
                                      started=started, model=info, json_path=a.json)

    res = core.run(construction, task, model, domain, mode, workers=a.workers, scheduler=a.scheduler,
                   progress=not a.no_progress, desc=a.task)
    seconds = time.time() - started
    if res.failed == 0:
        cli.say(f"verified: {res.checked:,} {what}, mode {mode}, {seconds:.2f} s")
        for part in domain.describe()["parts"]:
            cli.say(f"  {part['name']}: {part['instances']:,}")
    else:
        cli.say(f"FAILED: {res.failed:,} of {res.checked:,} {what}, mode {mode}")
        f = res.failures[0]
        cli.say(f"  smallest counterexample: {' '.join(f['prompt'])}")
        cli.say(f"  {core.describe_failure(f)}")
        if f["reason"] == "model":
            ids = np.array(model.vocab.ids(f["prompt"] + f["reference"]))
            for line in core.attention_trace(model, ids, f["position"] - 2, mode):
                cli.say(line)
    cert = cli.certificate(command=command, domain=domain.describe(), checked=res.checked, failures=res.failures,
                           verified=res.failed == 0, started=started, **core.result_fields(res),
                           model=info, mode=str(mode), arithmetic=core.arithmetic(mode))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if res.failed == 0 else cli.EXIT_COUNTEREXAMPLE


if __name__ == "__main__":
    sys.exit(main())
