"""Check the IsTree constructions on every graph of a size: ``python -m verify.istree --n 8``.

For each graph the construction's reference chain of thought (for the Transformer of Thm 4.7: the
DFS tour of Lemma C.27, then YES/NO) is appended to the prompt ``<s> u ~ v ... <sep>`` and the model
runs once over the whole sequence (teacher forcing, verify/core.py). The check passes iff at every
position from ``<sep>`` on the model's arg-max is unique and equals the next reference token, which
is exactly "greedy decoding reproduces the reference trace and answer"; every reference answer must
also equal ``networkx.is_tree``. RAG models (Thm 5.3) get their retrieved tokens from the real regex
retriever; hybrids (Thm 5.7) write their own O(n log n) search trace.

Domains:
  default        every simple graph on N labelled vertices with N - 1 edges (or --edges M), each in
                 one edge order drawn from --seed
  --orders all   every edge order of every such graph (N <= 6)
  --samples K    K seeded random graphs, a mix of the uniform, hard (two-hub), binary and random
                 families, for N beyond the exhaustive range
  --graph G      one graph, e.g. --graph "1-2,2-3" (decoded greedily; --trace prints every head)
Chunks of the domain run on a local Dask cluster of --workers processes (default 2; --workers 1
runs in this process) or on an existing cluster with --scheduler ADDRESS (docs/scaling.md).
Batch schedulers without Dask split the run with --shard I/K; --merge combines the certificates.
Exit codes: 0 everything verified, 1 a counterexample (the smallest is printed), 2 bad usage.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from constructions import registry
from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import parse_mode
from theory.tasks.istree import IstreeTask, parse_graph
from verify import cli, core

EXHAUSTIVE_LIMIT = 1_000_000_000  # chunks stream (no list of all graphs): n = 10 fits; time is the limit
MAX_N = 4096          # --graph and --samples: prompts of 3 C(n,2) tokens stay within memory below this
MAX_SAMPLES = 10_000_000


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.istree", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, help=f"number of vertices (exhaustive up to 10: n = 9 takes about half an hour on 2 cores; up to {MAX_N} with --samples)")
    p.add_argument("--edges", type=int, help="number of edges (default n - 1)")
    p.add_argument("--orders", choices=["one", "all"], default="one",
                   help="one seeded edge order per graph (default) or every order")
    p.add_argument("--samples", type=int, help="check K seeded random graphs instead of all graphs")
    p.add_argument("--graph", help='check one graph, e.g. "1-2,2-3,3-4"')
    p.add_argument("--trace", action="store_true", help="with --graph: print every head at the first error")
    cli.add_run_arguments(p)
    cli.add_common_arguments(p, model_kinds=registry.families("istree"))
    cli.add_arithmetic_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> None:
    if a.merge:
        return
    if a.n is None:
        raise cli.UsageError("--n is required (number of vertices)")
    cli.check_range("--n", a.n, 2, MAX_N)
    cli.check_range("--workers", a.workers, 1, 256)
    cli.validate_arithmetic(a)
    cli.check_output_path(a.json)
    if a.graph is not None:
        if a.samples is not None or a.edges is not None or a.orders != "one" or a.shard or a.min_precision:
            raise cli.UsageError("--graph checks one graph; drop --samples/--edges/--orders/--shard/--min-precision")
        return
    if a.trace:
        raise cli.UsageError("--trace needs --graph")
    if a.samples is not None:
        cli.check_range("--samples", a.samples, 1, MAX_SAMPLES)
        if a.edges is not None or a.orders != "one":
            raise cli.UsageError("--samples draws its own graphs; drop --edges/--orders")
        if a.n < 4:
            raise cli.UsageError("--samples needs n >= 4 (the hard and binary families)")
        return
    m = a.n - 1 if a.edges is None else a.edges
    if not 0 <= m <= math.comb(a.n, 2):
        raise cli.UsageError(f"--edges must lie in 0..{math.comb(a.n, 2)} for n = {a.n}, got {m}")
    if a.n > 12 or IstreeTask(a.n).domain_size(m, a.orders) > EXHAUSTIVE_LIMIT:
        raise cli.UsageError(f"n = {a.n} has more than {EXHAUSTIVE_LIMIT:,} instances, beyond the exhaustive "
                             f"limit; use --samples K")


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    _validate(a)
    started, command = cli.start_run("verify.istree", argv, a.json)
    if a.merge:
        return merge(a.merge, a.json, command, started)
    construction = registry.get("istree", a.model)
    task = IstreeTask(a.n)
    model = model_io.load_or_build(a.weights, construction.build(task))
    info = core.model_info(construction, model, a.weights)
    mode = parse_mode(a.mode, a.p)

    if a.graph is not None:
        report = core.decode_one(construction, task, model, parse_graph(a.graph, a.n), mode)
        _print_one(report, a.trace)
        cert = cli.certificate(command=command, domain={"task": "istree", "n": a.n, "graph": report["edges"],
                                                        "instances": 1},
                               checked=1, failures=[] if report["match"] else [report], verified=report["match"],
                               started=started, model=info, mode=str(mode), arithmetic=core.arithmetic(mode),
                               trace=report)
        cli.write_json(a.json, cert)
        return cli.EXIT_OK if report["match"] else cli.EXIT_COUNTEREXAMPLE

    domain = task.domain(edges=a.edges, orders=a.orders, samples=a.samples, seed=a.seed)
    shard = cli.parse_shard(a.shard)
    if not core.shard_chunks(domain, shard):
        raise cli.UsageError(f"shard {shard[0]}/{shard[1]} of this domain is empty ({domain.n_chunks} chunks)")
    if a.min_precision:
        return min_precision(construction, task, model, domain, shard, a, command, started, info)
    res = core.run(construction, task, model, domain, mode, shard=shard, workers=a.workers,
                   scheduler=a.scheduler, progress=not a.no_progress, desc=f"istree n={a.n}")
    verified = res.failed == 0 and res.checked > 0
    _print_summary(domain, shard, mode, res, time.time() - started)
    cert = cli.certificate(command=command, domain=domain.describe(), checked=res.checked, failures=res.failures,
                           verified=verified, started=started, **core.result_fields(res),
                           trees=_trees(domain.describe(), res), shard={"index": shard[0], "count": shard[1]},
                           model=info, mode=str(mode), arithmetic=core.arithmetic(mode))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if verified else cli.EXIT_COUNTEREXAMPLE


def _trees(domain: dict, res) -> int:
    """Trees in the domain's first part (every graph with n - 1 edges: n^(n-2), Cayley's formula)."""
    return res.parts.get(domain["parts"][0]["name"], {"answers": {}})["answers"].get("YES", 0)


def _print_summary(domain, shard, mode, res, seconds):
    d = domain.describe()
    where = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
    text = d["parts"][0]["description"]
    if res.failed == 0:
        cli.say(f"verified: {res.checked:,} instances{where}: {text}, and seeded samples")
        for part in d["parts"]:
            row = res.parts.get(part["name"], {"instances": 0, "answers": {}})
            cli.say(f"  {part['description']}: {row['instances']:,} ({row['answers'].get('YES', 0):,} trees)")
        cli.say(f"  every CoT token and answer is the unique arg-max and equals the reference trace; "
                f"answers agree with networkx; mode {mode}; {seconds:.1f} s")
    else:
        cli.say(f"FAILED: {res.failed:,} of {res.checked:,} instances{where} disagree ({text})")
        f = res.failures[0]
        cli.say(f"  smallest counterexample: edges {' '.join(f'{u}-{v}' for u, v in f['edges']) or '(none)'}")
        cli.say(f"  {core.describe_failure(f)}")
        cli.say(f"  reference CoT: {' '.join(f['reference'])}")


def _print_one(report, verbose):
    cli.say(f"graph: {' '.join(f'{u}-{v}' for u, v in report['edges']) or '(no edges)'}")
    cli.say(f"generated: {' '.join(report['generated'])}")
    cli.say(f"reference: {' '.join(report['reference'])}")
    cli.say(f"networkx is_tree: {report['answer'] == 'YES'}")
    if report["match"]:
        cli.say("match")
    else:
        cli.say(f"MISMATCH at position {report['position']}: expected {report['expected']}, "
                f"generated {report['got']}")
    if not report["match"] or verbose:
        for line in report.get("trace", []):
            cli.say(line)


def min_precision(construction, task, model, domain, shard, a, command, started, info) -> int:
    """Smallest odd p for which every instance of the (shard of the) domain passes in R_p."""
    found = core.search_precision(construction, task, model, domain, shard=shard, workers=a.workers,
                                  scheduler=a.scheduler)
    where = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
    parts = domain.describe()["parts"]
    text = parts[0]["description"] + (", and seeded samples" if len(parts) > 1 else "")
    what = f"{found.checked:,} instances{where} ({text})"
    return core.precision_verdict(found, what, command=command, domain=domain, started=started, model=info,
                                  json_path=a.json, shard={"index": shard[0], "count": shard[1]})


def merge(paths, out, command, started) -> int:
    cli.check_output_path(out)
    m = core.merge(cli.read_certificates(paths), paths)
    res = m["result"]
    verified = res.failed == 0 and m["complete"] and res.checked > 0
    merged = cli.certificate(command=command, domain=m["domain"], checked=res.checked, failures=res.failures,
                             verified=verified, started=started, **core.result_fields(res),
                             trees=_trees(m["domain"], res), merged_from=list(paths), model=m["model"],
                             mode=m["mode"], arithmetic=m["arithmetic"])
    cli.write_json(out, merged)
    state = "verified" if verified else ("FAILED" if res.failed else "INCOMPLETE")
    cli.say(f"{state}: merged {len(paths)} shards, {res.checked:,} of {m['domain']['instances']:,} instances, "
            f"{res.failed:,} failures")
    return cli.EXIT_OK if verified else cli.EXIT_COUNTEREXAMPLE


if __name__ == "__main__":
    sys.exit(main())
