"""``python -m verify.bounds``: how much state must any RNN carry? (spec §1.4, §3.2, §3.3, §3.5)

  python -m verify.bounds --task istree --n 1024 --p 32   # the bound table for one task and size
  python -m verify.bounds --task istree --n 6 --exact     # brute force every split, vs closed form
  python -m verify.bounds --sweep --p 8 16 32             # table over n = 2^k for every task
  python -m verify.bounds --plot figs/bounds.pdf          # figures (PDF, SVG and PNG)

A streaming model cut after Alice's prefix is a one-way protocol, so its state must take at least
R values, where R counts the rows of the communication matrix (theory.bounds, theory.comm). With
Λ numbers of p bits: Λ·p >= N = ceil(log2 R) and Λ_min = ceil(N / p), with or without CoT.

Exit codes: 0 everything agrees; 1 an exact count or a hard-family check contradicts the closed form;
2 bad usage (unknown task, n too small, p <= 0).
"""

from __future__ import annotations

import sys
import time

from constructions import registry
from theory import bounds as B
from verify.cli import (EXIT_COUNTEREXAMPLE, EXIT_OK, ArgumentParser, UsageError,
                        add_common_arguments, certificate, main_guard, progress, write_json)

STIRLING_LIMIT = 2048  # the S(n, k) row costs O(n^2) big-integer steps
EXACT_LIMITS = {"istree": 8, "index": 16, "counting": 8, "ar": 8}
FAMILY_LIMITS = {"index": 12, "ar": 24, "cgram": 24, "counting": 12, "istree": 14, "prop51": 20}


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m verify.bounds", description=__doc__.split("\n\n")[0],
                            epilog="Tasks: " + ", ".join(B.TASKS) + ". Bits are exact integers.")
    parser.add_argument("--task", default="istree", help="index, ar, cgram, counting, istree or prop51")
    parser.add_argument("--n", type=int, help="problem size n (vertices for istree); default 1024, 6 with --exact")
    parser.add_argument("--p", type=int, nargs="+", default=[32], metavar="P",
                        help="bits per state number (one or more; default 32)")
    parser.add_argument("--sigma", type=int, default=2, help="alphabet size of the free symbols (default 2)")
    parser.add_argument("--c", type=int, default=3, help="c for c-gram retrieval (default 3)")
    parser.add_argument("--exact", action="store_true",
                        help="brute-force the exact state count at every split (small n) and check the "
                             "hard family instance by instance")
    parser.add_argument("--sweep", action="store_true", help="table over n = 2^3 .. --n for every task (or --task)")
    parser.add_argument("--plot", metavar="FILE", help="write figures FILE(.pdf/.svg/.png) and FILE_exact(...)")
    add_common_arguments(parser)
    return parser


def bound_row(task: str, n: int, p: int, sigma: int, c: int) -> dict:
    """One task/size/precision: the RNN bound and the Transformer side."""
    bits = B.bits(task, n, sigma, c)
    row = {"task": task, "n": n, "p": p, "sigma": sigma, "hard_family_rows_log2": bits,
           "rnn_bits": bits, "rnn_lambda_min": B.lambda_min(bits, p)}
    if task == "istree":
        j_star, upper = B.istree_exact_max(n) if n <= STIRLING_LIMIT else (None, None)
        proven = B.istree_proven_bits(n)
        row.update(all_splits_bits=None if upper is None else B.log2_ceil(upper), all_splits_j=j_star,
                   star_family_bits=proven,
                   rnn_bits=proven, rnn_lambda_min=B.lambda_min(proven, p))
    claim = registry.claim_of(task, "transformer", n) if task in registry.tasks() else None
    length = B.input_length(task, n, c)
    row["input_length"] = length
    if claim:
        row.update(transformer=claim, kv_cache_bits=B.kv_cache_bits(length, claim["depth"], claim["heads"],
                                                                   claim["width"], p))
    else:
        row.update(transformer=None, kv_cache_bits_at_least=B.kv_cache_bits(length, B.PAPER_DEPTH[task], 1, 1, p))
    return row


def print_table(rows: list[dict]) -> None:
    for row in rows:
        task, n, p = row["task"], row["n"], row["p"]
        print(f"{task}  n={n}  p={p}  (alphabet {row['sigma']})")
        print(f"  paper hard family      N = {row['hard_family_rows_log2']} bits")
        if "all_splits_bits" in row:
            print(f"  star forests, best split N = {row['star_family_bits']} bits (proven: (j+1)^(n-j-1) states)")
            if row["all_splits_bits"] is not None:
                print(f"  all splits, S(n,j+1)+1   N = {row['all_splits_bits']} bits at j={row['all_splits_j']} "
                      f"(enough at every split; needed exactly for n <= 8, conjectured beyond)")
        print(f"  RNN state              Λ·p >= {row['rnn_bits']} bits,  Λ_min = {row['rnn_lambda_min']}")
        claim = row["transformer"]
        if claim:
            print(f"  Transformer (registry) depth {claim['depth']}, heads {claim['heads']}, width {claim['width']}, "
                  f"{p}-bit numbers; KV cache on a {row['input_length']}-token input = {row['kv_cache_bits']} bits")
        else:
            print(f"  Transformer            no registered construction; KV cache >= "
                  f"{row['kv_cache_bits_at_least']} bits (paper depth, width 1)")


def run_exact(task: str, n: int, sigma: int, c: int, quiet: bool) -> tuple[list[dict], list[str]]:
    """Brute force every split; return per-split rows and human-readable disagreements."""
    from theory import comm

    results: list[dict] = []
    problems: list[str] = []
    if task == "istree":
        trees = comm.tree_masks(n)
        bar = progress(n, "istree splits", disable=quiet)
        for j in range(n):
            split = comm.istree_split(n, j, trees)
            bar.update(1)
            closed = B.istree_split_rows(n, j)
            agree = split.states is not None and (split.states == closed if n >= 5 else split.states <= closed)
            results.append({"j": j, "alice_edges": n - 1 - j, "prefixes": split.prefixes,
                            "suffixes": split.suffixes, "classes": split.classes,
                            "clique": split.clique, "states": split.states, "closed_form": closed,
                            "bits": None if split.states is None else B.log2_ceil(split.states),
                            "agree": agree})
            if not agree:
                problems.append(f"j={j}: exact {split.states} vs closed form {closed}")
        bar.close()
    elif task in ("index", "counting", "ar"):
        counts = comm.sequence_rows_by_split(task, n, sigma)
        for i, count in enumerate(counts):
            closed = {"index": B.index_rows_split, "counting": B.counting_rows_split}.get(task)
            value = closed(i, sigma) if closed else None
            agree = value is None or value == count
            results.append({"alice_tokens": i, "states": count, "closed_form": value,
                            "bits": B.log2_ceil(count), "agree": agree})
            if not agree:
                problems.append(f"split i={i}: exact {count} vs closed form {value}")
    return results, problems


def print_exact(task: str, n: int, results: list[dict]) -> None:
    if task == "istree":
        print(f"IsTree n={n}: Alice holds the first n-1-j edges, Bob the last j (all simple graphs, n-1 edges)")
        print("   j  alice  prefixes  suffixes  states  closed S(n,j+1)+[a>=3]  bits  agree")
        for r in results:
            print(f"  {r['j']:2d}  {r['alice_edges']:5d}  {r['prefixes']:8d}  {r['suffixes']:8d}  "
                  f"{str(r['states']):>6}  {r['closed_form']:22d}  {str(r['bits']):>4}  {r['agree']}")
        best = max(results, key=lambda r: r["states"] or 0)
        print(f"  max over splits: {best['states']} states = {best['bits']} bits at j={best['j']} "
              f"(paper's two-hub bound: n-3 = {n - 3} bits)")
    elif results:
        print(f"{task} n={n}: Alice holds x_1..x_i, Bob the rest and the query (whole domain)")
        print("   i  states  closed form  bits  agree")
        for r in results:
            print(f"  {r['alice_tokens']:2d}  {r['states']:6d}  {str(r['closed_form']):>11}  {r['bits']:4d}  {r['agree']}")


def run_family(task: str, n: int, sigma: int, c: int) -> dict | None:
    from theory.hard_families import check_family

    if n > FAMILY_LIMITS[task]:
        return None
    rep = check_family(task, n, sigma, c)
    return {"family": task, "n": n, "instances": rep.instances, "invalid": rep.invalid,
            "wrong_answers": rep.wrong_answers, "rows": rep.rows, "expected_rows": rep.expected_rows,
            "ok": rep.ok, "first_failure": rep.first_failure}


@main_guard
def main(argv: list[str] | None = None) -> int:
    started = time.time()
    args = build_parser().parse_args(argv)
    B.check_task(args.task)
    if any(p <= 0 for p in args.p):
        raise UsageError(f"--p must be positive, got {args.p}")
    if args.sigma < 2:
        raise UsageError(f"--sigma must be at least 2, got {args.sigma}")
    command = ["python", "-m", "verify.bounds"] + list(sys.argv[1:] if argv is None else argv)
    n = args.n if args.n is not None else (6 if args.exact else 1024)
    if n < B.min_n(args.task, args.c):
        raise UsageError(f"n={n} is too small for {args.task}: need n >= {B.min_n(args.task, args.c)}")
    payload: dict = {}
    problems: list[str] = []
    checked = 0

    if args.plot:
        from verify.plots import write_figures
        written = write_figures(args.plot, quiet=args.no_progress)
        print("wrote " + ", ".join(written))
        payload["figures"] = written
    if args.sweep:
        tasks = B.TASKS if args.n is None and args.task == "istree" else (args.task,)
        top = args.n or 4096
        sizes = [2 ** k for k in range(3, max(3, top.bit_length() - 1) + 1)]
        rows = [bound_row(t, m, p, args.sigma, args.c) for t in tasks for m in sizes for p in args.p
                if m >= B.min_n(t, args.c)]
        print("task      n        p   N (bits)   Λ_min   Transformer width   KV cache bits")
        for r in rows:
            width = r["transformer"]["width"] if r["transformer"] else "-"
            kv = r.get("kv_cache_bits", r.get("kv_cache_bits_at_least"))
            print(f"{r['task']:8s} {r['n']:6d} {r['p']:4d} {r['rnn_bits']:10d} {r['rnn_lambda_min']:7d} "
                  f"{str(width):>19} {kv:15d}")
        payload["sweep"] = rows
        checked += len(rows)
    if args.exact:
        if args.task in EXACT_LIMITS and n > EXACT_LIMITS[args.task]:
            raise UsageError(f"--exact brute force for {args.task} is limited to n <= {EXACT_LIMITS[args.task]}")
        if args.task in ("ar", "counting", "index") and args.sigma ** n * max(n, args.sigma) * (n + 1) > 5e7:
            raise UsageError(f"--exact: sigma^n = {args.sigma ** n} is too large for the brute force")
        results, problems = run_exact(args.task, n, args.sigma, args.c, args.no_progress)
        print_exact(args.task, n, results)
        family = run_family(args.task, n, args.sigma, args.c)
        if family is not None:
            status = "ok" if family["ok"] else f"FAILED: {family['first_failure']}"
            print(f"hard family {args.task} n={n}: {family['instances']} instances, "
                  f"{family['rows']} distinct rows (expected {family['expected_rows']}): {status}")
            if not family["ok"]:
                problems.append(f"hard family: {family['first_failure']} (rows {family['rows']} vs "
                                f"{family['expected_rows']})")
            checked += family["instances"]
        payload.update(exact=results, family=family)
        checked += len(results)
    if not (args.sweep or args.exact or args.plot):
        rows = [bound_row(args.task, n, p, args.sigma, args.c) for p in args.p]
        print_table(rows)
        payload["table"] = rows
        checked += len(rows)
    for line in problems:
        print(f"DISAGREEMENT {line}")
    cert = certificate(command=command, domain={"task": args.task, "n": n, "p": args.p, "sigma": args.sigma,
                                                "c": args.c, "seed": args.seed},
                       checked=checked, failures=problems, verified=not problems, started=started,
                       **payload)
    write_json(args.json, cert)
    return EXIT_COUNTEREXAMPLE if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
