"""Compare the model families side by side: ``python -m verify.compare --n 8 [--json F] [--plot F]``.

For every task in the catalogue (Index, AR, 3-gram, Counting, IsTree, TM simulation of the library
machine ``palindrome``, and the circuit RNN ``parity``) and every model family the table gives

  size      n, or the input-length bound L of a machine or RNN (capped for the Thm 4.8 rows, whose
            sequences have about 2^L (C + 1) tokens: SIZE_CAP)
  depth     blocks (a hybrid: its RNN blocks + the one attention block)
  width     residual coordinates
  heads     attention heads in all (0 for a Linear RNN)
  p         the precision the memory columns use: by default the smallest odd p at which the row's
            model passes the row's domain in the paper's R_p (App. A.2), found by the same search as
            every checker's --min-precision ("m"); rows with sequences over 1,000 tokens, and every
            row under --precision formula, use 2 ceil(log2(L + 1)) + 1 ("f"), which only covers the
            positions and is a guide, not a measurement
  state     the RNN state in the paper's units: Lambda numbers, Lambda * p bits (0 for a Transformer)
  KV cache  numbers the attention layers keep per position (keys + values) and, for the longest
            checked sequence of L tokens, their bits at the same p
  CoT       chain-of-thought length (tokens after the prompt, before the answer, retrieved tokens
            included) on the checked instances: max and mean
  verdict   the checker core (verify/core.py) on a small domain: --samples seeded random
            instances of size n for retrieval, --graphs seeded random graphs on n vertices for
            IsTree, every input of length <= the row's size for machines and RNNs

Rows come from the catalogue (constructions/registry.py): a family with no construction for a task
is listed as "not built". A measured p holds for the row's domain only; the checkers'
--min-precision searches over their full default domains.

--plot F draws, over n = 4 ... 64, the IsTree CoT length of each family on random trees (hybrid
~ n log n, Transformer ~ 2n) and the memory (state bits against KV-cache bits) of each IsTree and
Index model; it also prints the CoT lengths with the ratios to n and n log2 n.
--weights TASK/FAMILY=FILE.npz replaces one row's model by saved weights (e.g. edited ones).
Exit codes: 0 every built row verified, 1 some row failed its check, 2 bad usage.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from constructions import registry
from constructions.runtime import io as model_io
from theory.tasks.circuit_rnn import CircuitRNNTask
from theory.precision import P_MAX
from theory.tasks.istree import IstreeTask, sample_graph
from theory.tasks.turing import TuringTask
from verify import cli, core

FAMILIES = registry.FAMILIES
MACHINE = "palindrome"
TM_MAX_LEN = 6
# rows whose sequences grow much faster than n get a smaller size: the Thm 4.8 chain's sequences
# have n + (n + T)(C + 1) tokens with n = 2^L (docs/rnn.md), and dense attention is L^2 per head
SIZE_CAP = {("turing", "transformer"): 2, ("rnn", "transformer"): 5}
MEASURE_MAX_TOKENS = 1_000  # rows with longer sequences get the formula p, not a measured one
CGRAM_C = 3
PLOT_NS = (4, 6, 8, 12, 16, 24, 32, 48, 64)


# -- models and domains ---------------------------------------------------------------------------------
def make_task(task: str, n: int, kind: str | None = None):
    """The task of one table row at size n (capped for the rows of SIZE_CAP)."""
    cap = SIZE_CAP.get((task, kind), n)
    if task == "turing":
        return TuringTask(MACHINE, min(n, TM_MAX_LEN, cap))
    return registry.task_of_size(registry.task_class(task), min(n, cap))


def small_domain(task, samples: int, graphs: int, seed: int):
    if isinstance(task, TuringTask):
        return task.domain(), f"{MACHINE}, every input of length <= {task.max_len}"
    if isinstance(task, CircuitRNNTask):
        return task.domain(), f"{task.rnn}, every input of length <= {task.max_len}"
    if isinstance(task, IstreeTask):
        return task.domain(samples=graphs, seed=seed), f"{graphs} random graphs, n = {task.n}"
    return task.domain(samples=samples, seed=seed), f"{samples} random instances, n = {task.n}"


def precision_for(length: int) -> int:
    """The smallest R_p whose integers reach every position 1..length (an O(log n) precision)."""
    return 2 * math.ceil(math.log2(length + 1)) + 1


def row_precision(construction, task, model, domain, longest: int, how: str) -> tuple[int | None, str]:
    """The p that the memory columns use, and where it comes from.

    ``measured``: the smallest odd p at which the model passes this row's domain in the paper's R_p
    (``verify.core.min_precision``; the same search as the checkers' ``--min-precision``), so
    Lambda * p is the model's memory in the paper's units. ``formula``: ``precision_for(L)``, which
    covers positions only and is a guide, not a measurement. Rows whose sequences are longer than
    MEASURE_MAX_TOKENS fall back to the formula (exact R_p on them takes too long for a table)."""
    if how == "measured" and longest <= MEASURE_MAX_TOKENS:
        return core.search_precision(construction, task, model, domain, report=lambda s: None).p, "measured"
    return precision_for(longest), "formula"


# -- checking one row ---------------------------------------------------------------------------------
def table(n: int, samples: int, graphs: int, seed: int, weights: dict[str, str], show_progress: bool,
          precision: str = "measured") -> list[dict]:
    rows = []
    tasks = registry.tasks()
    bar = cli.progress(len(tasks) * len(FAMILIES), "compare", disable=not show_progress)
    for name in tasks:
        for kind, family in FAMILIES.items():
            bar.update(1)
            construction = registry.find(name, kind)
            row = {"task": name, "family": family, "kind": kind}
            if construction is None:
                rows.append({**row, "built": False})
                continue
            started = time.time()
            task = make_task(name, n, kind)
            model = construction.build(task)
            key = f"{name}/{kind}"
            if key in weights:
                model = model_io.load_or_build(weights[key], model)
            domain, text = small_domain(task, samples, graphs, seed)
            res = core.run(construction, task, model, domain, progress=False)
            s = model.shape()
            p, source = (row_precision(construction, task, model, domain, res.longest, precision)
                         if res.failed == 0 else (None, "not measured: the row failed"))
            bits = (lambda numbers: None if p is None else numbers * p)
            rows.append({**row, "built": True, "depth": s["depth"], "width": s["width"], "heads": s["heads_total"],
                         "state_numbers": s["state_dim"], "kv_per_position": s["kv_per_position"], "p": p,
                         "p_source": source, "size": task.max_len if hasattr(task, "max_len") else task.n,
                         "state_bits": bits(s["state_dim"]), "kv_cache_bits": bits(s["kv_per_position"] * res.longest),
                         "longest_sequence": res.longest, "cot_max": res.cot_max,
                         "cot_mean": round(res.cot_total / res.checked, 2), "checked": res.checked,
                         "failures": res.failed, "domain": text,
                         "verdict": "verified" if res.failed == 0 else "FAILED",
                         "seconds": round(time.time() - started, 2)})
    bar.close()
    return rows


def _bits(value) -> str:
    return "-" if value is None else f"{value:,}"


def print_table(rows: list[dict], n: int) -> None:
    head = (f"{'task':<9}{'family':<12}{'size':>5}{'depth':>6}{'width':>6}{'heads':>6}{'p':>6}{'state':>12}"
            f"{'KV cache':>28}{'CoT max/mean':>16}  verdict")
    cli.say(f"n = {n}  (state: Lambda numbers / Lambda * p bits; KV cache: numbers per position / bits at the "
            f"longest sequence L; heads: in all blocks)")
    cli.say("  p: the smallest odd p at which the row passes its domain in R_p (m, measured), or "
            "2 ceil(log2(L+1)) + 1 (f, formula: positions only) where exact R_p is too slow for a table")
    cli.say("  RAG-RNN rows count the model's own memory only: the regex retriever reads the whole context,")
    cli.say("  as the paper's in-context RAG does, so that memory is not O(log n) either.")
    cli.say(head)
    cli.say("-" * len(head))
    for r in rows:
        if not r["built"]:
            cli.say(f"{r['task']:<9}{r['family']:<12}{'':>5}{'not built':>6}")
            continue
        p = f"> {P_MAX}" if r["p"] is None and r["p_source"] == "measured" else \
            ("-" if r["p"] is None else f"{r['p']}{r['p_source'][0]}")
        state = f"{r['state_numbers']} / {_bits(r['state_bits'])}"
        kv = f"{r['kv_per_position']} / {_bits(r['kv_cache_bits'])} (L={r['longest_sequence']})"
        cot = f"{r['cot_max']} / {r['cot_mean']:g}"
        cli.say(f"{r['task']:<9}{r['family']:<12}{r['size']:>5}{r['depth']:>6}{r['width']:>6}{r['heads']:>6}{p:>6}"
                f"{state:>12}{kv:>28}{cot:>16}  {r['verdict']} ({r['checked'] - r['failures']}/{r['checked']}, "
                f"{r['domain']})")


# -- curves -------------------------------------------------------------------------------------------
def curves(ns, seed: int, trees: int = 5) -> dict:
    """IsTree CoT length per family on uniform random trees (the references the checkers verify), and memory."""
    out = {"n": list(ns), "cot": {}, "memory": {}}
    for kind, family in FAMILIES.items():
        construction = registry.find("istree", kind)
        if construction is None:
            continue
        lens, state, kv = [], [], []
        for n in ns:
            rng = np.random.default_rng([seed, n])
            task = IstreeTask(n)
            cots = [len(construction.reference(task, sample_graph(n, "tree", rng))) - 1 for _ in range(trees)]
            lens.append(max(cots))
            s = construction.build(task).shape()
            length = 3 * (n - 1) + 2 + max(cots) + 1
            p = precision_for(length)
            state.append(s["state_dim"] * p)
            kv.append(s["kv_per_position"] * length * p)
        out["cot"][family] = lens
        out["memory"][f"IsTree {family}"] = {"state_bits": state, "kv_cache_bits": kv}
    for kind, family in FAMILIES.items():
        construction = registry.find("index", kind)
        if construction is None:
            continue
        state, kv = [], []
        for n in ns:
            s = construction.build(registry.task_class("index")(n)).shape()
            p = precision_for(n + 3)
            state.append(s["state_dim"] * p)
            kv.append(s["kv_per_position"] * (n + 3) * p)
        out["memory"][f"Index {family}"] = {"state_bits": state, "kv_cache_bits": kv}
    return out


def print_curves(cv: dict) -> None:
    cli.say("IsTree CoT length on random trees (uniform labelled trees, max over 5 per n), "
          "with ratios to n and n log2 n:")
    for family, lens in cv["cot"].items():
        cells = ", ".join(f"n={n}: {c} ({c / n:.1f} n, {c / (n * math.log2(n)):.2f} n log n)"
                          for n, c in zip(cv["n"], lens))
        cli.say(f"  {family}: {cells}")
    for family in FAMILIES.values():
        if family not in cv["cot"]:
            cli.say(f"  {family}: not built")


def plot(cv: dict, path: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = np.array(cv["n"], dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for family, lens in cv["cot"].items():
        a.plot(ns, lens, "o-", label=family)
    a.plot(ns, 2 * ns, "k:", label="2n")
    a.plot(ns, 9 * ns * np.log2(ns), "k--", label="9 n log2 n")
    a.set_xlabel("n (vertices)")
    a.set_ylabel("CoT tokens")
    a.set_title("IsTree chain-of-thought length")
    a.legend()
    for name, mem in cv["memory"].items():
        line, = b.plot(ns, np.maximum(mem["kv_cache_bits"], 1), "o-", label=f"{name}: KV cache")
        if any(mem["state_bits"]):
            b.plot(ns, mem["state_bits"], "s--", color=line.get_color(), label=f"{name}: RNN state")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("n")
    b.set_ylabel("bits")
    b.set_title("memory: RNN state vs attention KV cache")
    b.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return [path]


# -- command line -------------------------------------------------------------------------------------
def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.compare", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, required=True, help="problem size for the table (4..64)")
    p.add_argument("--samples", type=int, default=64, help="random instances per retrieval row (default 64)")
    p.add_argument("--graphs", type=int, default=16, help="random graphs per IsTree row (default 16)")
    p.add_argument("--precision", choices=["measured", "formula"], default="measured",
                   help="p for the memory columns: measured, the smallest odd p passing each row in R_p "
                        "(default); formula, 2 ceil(log2(L+1)) + 1, quick but not a measurement")
    p.add_argument("--plot", metavar="FILE", help="draw the CoT-length and memory curves over n = 4..64")
    p.add_argument("--weights", action="append", default=[], metavar="TASK/FAMILY=FILE",
                   help="check saved weights for one row, e.g. istree/hybrid=edited.npz (repeatable)")
    cli.add_common_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> dict[str, str]:
    cli.check_range("--n", a.n, 4, 64)
    cli.check_range("--samples", a.samples, 1, 100_000)
    cli.check_range("--graphs", a.graphs, 1, 10_000)
    cli.check_output_path(a.json)
    cli.check_output_path(a.plot, "--plot")
    weights = {}
    for item in a.weights:
        key, sep, path = item.partition("=")
        task, _, kind = key.partition("/")
        if not sep or task not in registry.tasks() or kind not in FAMILIES:
            raise cli.UsageError(f"--weights wants TASK/FAMILY=FILE with TASK in {registry.tasks()} and FAMILY "
                                 f"in {list(FAMILIES)}, got {item!r}")
        if registry.find(task, kind) is None:
            raise cli.UsageError(f"--weights {key}: that family has no construction for {task}")
        model_io.load(path)  # a missing or malformed file is an error before any row runs
        weights[key] = path
    return weights


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    weights = _validate(a)
    started, command = cli.start_run("verify.compare", argv, a.json)
    rows = table(a.n, a.samples, a.graphs, a.seed, weights, not a.no_progress, a.precision)
    print_table(rows, a.n)
    extra = {}
    if a.plot:
        cv = curves(PLOT_NS, a.seed)
        print_curves(cv)
        cli.say("figure: " + ", ".join(plot(cv, a.plot)))
        extra["curves"] = cv
    bad = [r for r in rows if r["built"] and r["failures"]]
    cert = cli.certificate(command=command, domain={"n": a.n, "samples": a.samples, "graphs": a.graphs,
                                                    "machine": MACHINE, "tm_max_len": min(a.n, TM_MAX_LEN),
                                                    "size_caps": {f"{t}/{k}": c for (t, k), c in SIZE_CAP.items()},
                                                    "precision": a.precision},
                           checked=sum(r.get("checked", 0) for r in rows),
                           failures=[{"task": r["task"], "family": r["family"], "failures": r["failures"]}
                                     for r in bad],
                           verified=not bad, started=started, rows=rows, **extra)
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if not bad else cli.EXIT_COUNTEREXAMPLE


if __name__ == "__main__":
    sys.exit(main())
