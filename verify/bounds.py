"""``python -m verify.bounds``: how much state must any RNN carry? (Lemma C.24, Thms 4.6, 4.7, Prop 5.1)

  python -m verify.bounds --task istree --n 1024            # every bound for one task and size
  python -m verify.bounds --task istree --n 6 --exact       # brute force every split, vs closed form
  python -m verify.bounds --sweep --p 17 33 65              # table over n = 2^3 .. 2^12 for every task
  python -m verify.bounds --task index --n 1024 --eps 0.05  # with the average-error Index bound
  python -m verify.bounds --plot DIR                        # the bound figures (see verify.figures)

A streaming model cut after Alice's prefix is a one-way protocol, so its state must take at least R
values, where R counts prefixes that some common suffix tells apart (theory.bounds, theory.comm).
A state of Λ numbers of R_p (p odd, 2^p - 1 values each) needs (2^p - 1)^Λ >= R, hence
Λ·p >= N = ceil(log2 R) bits, with or without CoT.

Every number is printed with its status: proved, exact (brute force over the stated range),
conjectured, upper bound, or measured (on the built Transformer: numbers it caches per position,
times the longest sequence it is checked on — prompt, chain of thought and answer — times p).

Ranges: 1 <= n <= 2^20 (the IsTree partition bound up to n = 8192); --exact as listed in --help.
Exit codes: 0 everything agrees; 1 an exact count or a hard-family check contradicts the closed
form; 2 bad usage (unknown task, n out of range, p not an odd number >= 3, ...), before any work.
"""

from __future__ import annotations

import os
import sys
import time

from constructions import registry
from theory import bounds as B
from theory import comm
from theory.hard_families import check_family, family_instances
from theory.tasks import istree as istree_task
from theory.tasks.cgram import CgramTask
from verify.cli import (EXIT_COUNTEREXAMPLE, EXIT_OK, ArgumentParser, UsageError, add_common_arguments,
                        certificate, check_output_path, main_guard, progress, write_json)
from verify.smt.precision import certificate as precision_certificate

DEFAULT_P = 33
P_LIMIT = 4097                      # a state number wider than this is not a question anyone asks
SIGMA_LIMIT = 2**16
C_LIMIT = 11                        # Match reads at most 10 coordinates (App. C.1): c - 1 <= 10
SWEEP_TOP = 4096
EXACT_LIMITS = {"istree": 8, "index": 16, "counting": 8, "ar": 8}
EXACT_CELLS = 5 * 10**7             # sigma^n · (queries) · (n + 1) entries of the answer table
FAMILY_LIMITS = {"index": 12, "ar": 24, "cgram": 24, "counting": 12, "istree": 14, "prop51": 20}
CERTIFIED_C = 3                     # verify.smt.precision certifies the c = 3 c-gram Transformer


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m verify.bounds", description=__doc__.split("\n\n")[0],
                            epilog="Tasks: " + ", ".join(B.TASKS) + ". Bits are exact integers. --exact "
                            "ranges: " + ", ".join(f"{t} n <= {m}" for t, m in EXACT_LIMITS.items()) + ".")
    parser.add_argument("--task", help="index, ar, cgram, counting, istree or prop51 (default istree; "
                                       "--sweep without --task covers every task)")
    parser.add_argument("--n", type=int, help=f"problem size n, 1..{B.N_MAX:,} (vertices for istree); "
                                              "default 1024, 6 with --exact, sweep top 4096")
    parser.add_argument("--p", type=int, nargs="+", default=[DEFAULT_P], metavar="P",
                        help=f"bits per state number: odd, 3..{P_LIMIT} (R_p has 2^p - 1 values); default {DEFAULT_P}")
    parser.add_argument("--sigma", type=int, default=2, help="alphabet size of the free symbols (default 2)")
    parser.add_argument("--c", type=int, default=3, help="c for c-gram retrieval, 2..11 (default 3)")
    parser.add_argument("--eps", type=float, help="also show the Index bound for average error eps in [0, 1/2)")
    parser.add_argument("--exact", action="store_true",
                        help="brute-force the exact state count at every split (small n) and check the "
                             "hard family instance by instance")
    parser.add_argument("--sweep", action="store_true", help="table over n = 2^3 .. --n for every task (or --task)")
    parser.add_argument("--plot", metavar="DIR", help="write the bound figures into DIR (created if its parent exists)")
    add_common_arguments(parser)
    return parser


# --------------------------------------------------------------------------- the Transformer side
def longest_sequence(task) -> int:
    """Positions of the longest sequence the checkers run the Transformer on: prompt, CoT, answer.

    Retrieval tasks: the task's fixed length. IsTree on n - 1 edges: the prompt plus the longest
    reference CoT (a tree's full DFS tour, 2n - 1 vertices, and the answer). ``verify.core`` reports
    the same number as ``longest`` on any domain that holds a tree (tests/verify/test_bounds_cli.py).
    """
    if task.name == "istree":
        return 3 * (task.n - 1) + 2 + istree_task.max_cot_length(task.n)
    return task.max_length()


def transformer_memory(task_name: str, size: int, c_gram: int = 3, precision: int | None = None) -> dict | None:
    """The registered Transformer at size n, measured on its built weights, or None if there is none.

    KV cache = ``model.shape()["kv_per_position"]`` (numbers every head caches per position) times
    the longest sequence (:func:`longest_sequence`), times p bits; p is the precision proved by the
    margin argument (``verify.smt.precision.certificate``) where it exists — never an assumed one.
    """
    construction = registry.find(task_name, "transformer")
    if construction is None:
        return None
    params = {"c": c_gram} if construction.task is CgramTask else {}
    task = registry.task_of_size(construction.task, size, **params)
    shape = construction.build(task).shape()
    length = longest_sequence(task)
    kv = shape["kv_per_position"] * length
    if task_name == "cgram" and c_gram != CERTIFIED_C:
        proved, why = None, f"verify.smt.precision certifies c = {CERTIFIED_C} only"
    else:
        proved = precision_certificate(task_name, size).p
        why = "" if proved else "the margin argument proves no p at this n"
    row = {"construction": construction.name, "theorem": construction.theorem, "status": B.MEASURED,
           "depth": shape["depth"], "width": shape["width"], "heads_total": shape["heads_total"],
           "kv_per_position": shape["kv_per_position"], "longest_sequence": length, "kv_numbers": kv,
           "parameters": shape["parameters"], "nonzero_parameters": shape["nonzero_parameters"],
           "proved_p": proved, "proved_p_note": why,
           "kv_bits_at_proved_p": kv * proved if proved else None,
           "weights_bits_at_proved_p": shape["nonzero_parameters"] * proved if proved else None}
    if precision is not None:
        row.update(p=precision, kv_bits_at_p=kv * precision)
    return row


# --------------------------------------------------------------------------- rows
def bound_row(task: str, size: int, precision: int, alphabet: int, c_gram: int,
              eps: float | None = None, transformer: bool = True) -> dict:
    """One task/size/precision: every lower bound with its status, the strongest, and the Transformer."""
    bounds = B.task_bounds(task, size, alphabet, c_gram, eps)
    best = B.strongest(bounds)
    row = {"task": task, "n": size, "p": precision, "rp_values": f"2^{precision} - 1", "sigma": alphabet,
           "c": c_gram if task == "cgram" else None,
           "bounds": [{"name": b.name, "bits": b.bits, "lambda_min": b.lambda_min(precision), "status": b.status,
                       "source": b.source, "note": b.note} for b in bounds],
           "rnn_bits": best.bits, "rnn_status": best.status, "rnn_bound": best.name,
           "rnn_lambda_min": best.lambda_min(precision)}
    if transformer:
        row["transformer"] = transformer_memory(task, size, c_gram, precision)
    return row


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def print_table(rows: list[dict]) -> None:
    for row in rows:
        task, size, p = row["task"], row["n"], row["p"]
        extra = f", c = {row['c']}" if row["c"] else ""
        print(f"{task}  n = {size:,}  (alphabet {row['sigma']}{extra}; p = {p}: |R_p| = 2^{p} - 1 values per number)")
        print(f"  {'lower bound':<38}{'bits':>10}{'Λ_min':>8}  status   source")
        for b in row["bounds"]:
            print(f"  {b['name']:<38}{_fmt(b['bits']):>10}{b['lambda_min']:>8}  {b['status']:<7}  {b['source']}"
                  + (f"  ({b['note']})" if b["note"] else ""))
        print(f"  RNN state: Λ·p >= {row['rnn_bits']:,} bits, Λ_min = {row['rnn_lambda_min']} [{row['rnn_status']}]")
        tf = row.get("transformer")
        if tf is None:
            print("  Transformer: no registered construction for this task")
            continue
        print(f"  Transformer ({tf['theorem']}): {tf['kv_per_position']} numbers per position × "
              f"{tf['longest_sequence']:,} positions = {tf['kv_numbers']:,} numbers cached [measured]")
        print(f"    at p = {p}: {tf['kv_bits_at_p']:,} bits", end="")
        if tf["proved_p"]:
            print(f"; at the proved p(n) = {tf['proved_p']}: {tf['kv_bits_at_proved_p']:,} bits "
                  f"(weights: {tf['nonzero_parameters']} nonzero × {tf['proved_p']} = "
                  f"{tf['weights_bits_at_proved_p']:,} bits)")
        else:
            print(f"; proved p(n): none ({tf['proved_p_note']})")


def sweep_sizes(top: int, task: str, c_gram: int) -> list[int]:
    return [2 ** k for k in range(3, max(3, top.bit_length() - 1) + 1) if 2 ** k >= B.min_n(task, c_gram)]


def print_sweep(rows: list[dict]) -> None:
    print("task          n     p   N (bits)  status   Λ_min   KV numbers  proved p  KV bits at proved p")
    for r in rows:
        tf = r.get("transformer") or {}
        kv = _fmt(tf.get("kv_numbers", "-"))
        pp = tf.get("proved_p") or "-"
        kvb = _fmt(tf.get("kv_bits_at_proved_p") or "-")
        print(f"{r['task']:8s} {r['n']:7d} {r['p']:5d} {r['rnn_bits']:10,d}  {r['rnn_status']:<7} {r['rnn_lambda_min']:6d} "
              f"{kv:>12} {str(pp):>9} {kvb:>20}")


# --------------------------------------------------------------------------- exact mode
def run_exact(task: str, size: int, alphabet: int, quiet: bool) -> tuple[list[dict], list[str]]:
    """Brute force every split; return per-split rows (status "exact") and disagreements."""
    results: list[dict] = []
    problems: list[str] = []
    if task == "istree":
        trees = comm.tree_masks(size)
        bar = progress(size, "istree splits", disable=quiet)
        for jj in range(size):
            split = comm.istree_split(size, jj, trees)
            bar.update(1)
            closed = B.istree_split_rows(size, jj)
            closed_status = B.istree_split_status(size, jj)
            if split.states is None:
                agree = False
            elif closed_status == B.UPPER:
                agree = split.states <= closed
            else:
                agree = split.states == closed
            results.append({"j": jj, "alice_edges": size - 1 - jj, "prefixes": split.prefixes,
                            "suffixes": split.suffixes, "classes": split.classes, "clique": split.clique,
                            "states": split.states, "status": B.EXACT, "closed_form": closed,
                            "closed_form_status": closed_status,
                            "bits": None if split.states is None else B.log2_ceil(split.states), "agree": agree})
            if not agree:
                problems.append(f"j={jj}: exact {split.states} vs closed form {closed} ({closed_status})")
        bar.close()
    elif task in ("index", "counting", "ar"):
        counts = comm.sequence_rows_by_split(task, size, alphabet)
        closed_fn = {"index": B.index_rows_split, "counting": B.counting_rows_split}.get(task)
        for i, count in enumerate(counts):
            value = closed_fn(i, alphabet) if closed_fn else None
            agree = value is None or value == count
            results.append({"alice_tokens": i, "states": count, "status": B.EXACT, "closed_form": value,
                            "closed_form_status": B.PROVED if closed_fn else None,
                            "bits": B.log2_ceil(count), "agree": agree})
            if not agree:
                problems.append(f"split i={i}: exact {count} vs closed form {value}")
    return results, problems


def print_exact(task: str, size: int, results: list[dict]) -> None:
    if task == "istree":
        print(f"IsTree n={size}: Alice holds the first n-1-j edges, Bob the last j (all simple graphs, n-1 edges)")
        print("   j  alice  prefixes  suffixes  states [exact]  S(n,j+1)+[a>=3]  its status     bits  agree")
        for r in results:
            print(f"  {r['j']:2d}  {r['alice_edges']:5d}  {r['prefixes']:8d}  {r['suffixes']:8d}  "
                  f"{str(r['states']):>14}  {r['closed_form']:15d}  {r['closed_form_status']:<12}  "
                  f"{str(r['bits']):>4}  {r['agree']}")
        best = max(results, key=lambda r: r["states"] or 0)
        print(f"  max over splits: {best['states']} states = {best['bits']} bits at j={best['j']} "
              f"[exact, brute force n = {size}] (paper's two-hub bound: n-3 = {size - 3} bits)")
    elif results:
        print(f"{task} n={size}: Alice holds x_1..x_i, Bob the rest and the query (whole domain)")
        print("   i  states [exact]  closed form  bits  agree")
        for r in results:
            closed = "none known" if r["closed_form"] is None else f"{r['closed_form']} [proved]"
            print(f"  {r['alice_tokens']:2d}  {r['states']:14d}  {closed:>11}  {r['bits']:4d}  {r['agree']}")


def family_problem(task: str, size: int, alphabet: int, c_gram: int) -> str | None:
    """Why the hard family cannot be built at these parameters (None if it can)."""
    if size > FAMILY_LIMITS[task]:
        return f"not enumerated above n = {FAMILY_LIMITS[task]}"
    try:
        next(iter(family_instances(task, size, alphabet, c_gram)))
    except ValueError as exc:
        return str(exc)
    return None


def run_family(task: str, size: int, alphabet: int, c_gram: int) -> dict:
    rep = check_family(task, size, alphabet, c_gram)
    return {"family": task, "n": size, "instances": rep.instances, "invalid": rep.invalid,
            "wrong_answers": rep.wrong_answers, "rows": rep.rows, "expected_rows": rep.expected_rows,
            "ok": rep.ok, "first_failure": rep.first_failure}


# --------------------------------------------------------------------------- command line
def check_plot_dir(path: str | None) -> None:
    if path is None:
        return
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--plot {path} exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"--plot {path}: directory {parent} does not exist")


def validate(args) -> int:
    """Every check that can fail, before any work; returns n (and settles the default task)."""
    tasks = B.TASKS if args.task is None and args.sweep else (args.task or "istree",)
    args.tasks = tasks
    args.task = args.task or "istree"
    B.check_task(args.task)
    for p in args.p:
        if p < 3 or p % 2 == 0 or p > P_LIMIT:
            raise UsageError(f"--p must be odd and lie in 3..{P_LIMIT} (R_p, App. A.2), got {p}")
    if not 2 <= args.sigma <= SIGMA_LIMIT:
        raise UsageError(f"--sigma must lie in 2..{SIGMA_LIMIT}, got {args.sigma}")
    if not 2 <= args.c <= C_LIMIT:
        raise UsageError(f"--c must lie in 2..{C_LIMIT}, got {args.c}")
    if args.c != 3 and "cgram" not in tasks:
        raise UsageError("--c only applies to --task cgram")
    if args.eps is not None and not 0 <= args.eps < 0.5:
        raise UsageError(f"--eps must lie in [0, 0.5), got {args.eps}")
    if args.eps is not None and args.task != "index":
        raise UsageError("--eps applies to --task index (the average-error bound is proved for Index)")
    size = args.n if args.n is not None else (6 if args.exact else (SWEEP_TOP if args.sweep else 1024))
    if not 1 <= size <= B.N_MAX:
        raise UsageError(f"--n must lie in 1..{B.N_MAX:,}, got {size:,}")
    if not args.sweep and size < B.min_n(args.task, args.c):
        raise UsageError(f"n={size} is too small for {args.task}: need n >= {B.min_n(args.task, args.c)}")
    if args.exact:
        if args.task not in EXACT_LIMITS and args.task not in FAMILY_LIMITS:
            raise UsageError(f"--exact has no brute force for {args.task}")
        if args.task in EXACT_LIMITS and size > EXACT_LIMITS[args.task]:
            raise UsageError(f"--exact brute force for {args.task} is limited to n <= {EXACT_LIMITS[args.task]}")
        if args.task in ("ar", "counting", "index"):
            queries = {"index": size, "ar": args.sigma, "counting": args.sigma * (size + 1)}[args.task]
            if args.sigma ** size * queries * (size + 1) > EXACT_CELLS:
                raise UsageError(f"--exact: sigma^n = {args.sigma ** size:,} is too large for the brute force")
    check_output_path(args.json)
    check_plot_dir(args.plot)
    return size


@main_guard
def main(argv: list[str] | None = None) -> int:
    started = time.time()
    args = build_parser().parse_args(argv)
    size = validate(args)
    command = ["python", "-m", "verify.bounds"] + list(sys.argv[1:] if argv is None else argv)
    payload: dict = {}
    problems: list[str] = []
    checked = 0

    if args.plot:
        # matplotlib costs 0.4 s to import: only the --plot path pays it (verify.plots imports no verify module)
        from verify.plots import write_bound_figures

        written = write_bound_figures(args.plot, quiet=args.no_progress)
        print("wrote " + ", ".join(written))
        payload["figures"] = written
    if args.sweep:
        jobs = [(t, m, p) for t in args.tasks for m in sweep_sizes(size, t, args.c) for p in args.p]
        bar = progress(len(jobs), "sweep", disable=args.no_progress)
        rows = []
        for t, m, p in jobs:
            rows.append(bound_row(t, m, p, args.sigma, args.c))
            bar.update(1)
        bar.close()
        print_sweep(rows)
        payload["sweep"] = rows
        checked += len(rows)
    if args.exact:
        results, problems = run_exact(args.task, size, args.sigma, args.no_progress)
        print_exact(args.task, size, results)
        why = family_problem(args.task, size, args.sigma, args.c)
        family = None
        if why is None:
            family = run_family(args.task, size, args.sigma, args.c)
            status = "ok" if family["ok"] else f"FAILED: {family['first_failure']}"
            print(f"hard family {args.task} n={size}: {family['instances']} instances, "
                  f"{family['rows']} distinct rows (expected {family['expected_rows']}): {status}")
            if not family["ok"]:
                problems.append(f"hard family: {family['first_failure']} (rows {family['rows']} vs "
                                f"{family['expected_rows']})")
            checked += family["instances"]
        else:
            print(f"hard family {args.task} n={size}, sigma={args.sigma}: not checked ({why})")
        payload.update(exact=results, family=family, family_skipped=why)
        checked += len(results)
    if not (args.sweep or args.exact or args.plot):
        rows = [bound_row(args.task, size, p, args.sigma, args.c, args.eps) for p in args.p]
        print_table(rows)
        payload["table"] = rows
        checked += len(rows)
    for line in problems:
        print(f"DISAGREEMENT {line}")
    cert = certificate(command=command, domain={"task": args.task, "n": size, "p": args.p, "sigma": args.sigma,
                                                "c": args.c, "eps": args.eps, "seed": args.seed,
                                                "rp_convention": "|R_p| = 2^p - 1, p odd"},
                       checked=checked, failures=problems, verified=not problems, started=started,
                       **payload)
    write_json(args.json, cert)
    return EXIT_COUNTEREXAMPLE if problems else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
