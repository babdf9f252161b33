"""Compare the model families side by side: ``python -m verify.compare --n 8 [--json F] [--plot F]``.

For every task (Index, AR, 3-gram, Counting, IsTree, and TM simulation of the library machine
``palindrome``) and every model family (Transformer, RAG-RNN, hybrid) the table gives

  depth     blocks (a hybrid: its RNN blocks + the one attention block)
  width     residual coordinates
  heads     attention heads in all (0 for a Linear RNN)
  state     the RNN state: Lambda numbers and Lambda * p bits (0 for a Transformer)
  KV cache  numbers the attention layers keep per position (keys + values) and, for the longest
            checked sequence of L tokens, their bits
  CoT       chain-of-thought length (tokens after the prompt, before the answer, retrieved tokens
            included) on the checked instances: max and mean (RAG retrieval rows: the sequences of
            verify.rag_check.reference_rows)
  verdict   the real checkers' functions run on a small domain: verify.retrieval.run on --samples
            seeded random instances of size n, verify.istree.check_graphs on --graphs seeded random
            graphs on n vertices, verify.turing.check_words on every input of length <= min(n, 6)

Builders are found in the checkers' own registries (verify.retrieval.MODEL_BUILDERS,
verify.istree.MODEL_KINDS, verify.turing.MODEL_KINDS); a family with no construction for a task is
listed as "not built". Bits use p = 2 ceil(log2(L + 1)) + 1, the smallest R_p whose integers reach
every position of the sequence (an O(log n) precision; the constructions' exact needs are measured by
each checker's --min-precision).

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

from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64
from verify import cli

FAMILIES = {"transformer": "Transformer", "rag": "RAG-RNN", "hybrid": "hybrid"}
RETRIEVAL = ("index", "ar", "cgram", "counting")
TASKS = RETRIEVAL + ("istree", "turing")
MACHINE = "palindrome"
TM_MAX_LEN = 6
CGRAM_C = 3
PLOT_NS = (4, 6, 8, 12, 16, 24, 32, 48, 64)


# -- models -------------------------------------------------------------------------------------------
def find(task: str, kind: str):
    """(build() -> model, checker context) for one row, or None if the family has no construction."""
    if task in RETRIEVAL:
        from verify import retrieval

        if kind not in retrieval.MODEL_BUILDERS or task not in retrieval.MODEL_BUILDERS[kind]():
            return None
        return lambda n: retrieval.build_model(kind, task, n, CGRAM_C)
    if task == "istree":
        from verify import istree

        return None if kind not in istree.MODEL_KINDS else istree.MODEL_KINDS[kind].build
    from verify import turing

    if kind not in turing.MODEL_KINDS:
        return None

    def build_tm(n):
        machine, words, bounds = _tm_domain(n)
        return turing.MODEL_KINDS[kind].build(machine, bounds.n_max, bounds.offset, bounds.n_vocab)
    return build_tm


def _tm_domain(n: int):
    from theory.turing import load_machine
    from verify import turing

    machine = load_machine(MACHINE)
    words = list(turing.words_up_to(machine, min(n, TM_MAX_LEN)))
    return machine, words, turing.domain_bounds(machine, words, min(n, TM_MAX_LEN))


def shape(model) -> dict:
    """depth, width, heads, state numbers and KV-cache numbers per position."""
    from constructions.runtime.rnn import Hybrid, LinearRNN

    if isinstance(model, Hybrid):
        return {"depth": len(model.rnn.blocks) + 1, "width": len(model.layout), "heads": len(model.top.heads),
                "state_numbers": model.rnn.state_dim, "kv_per_position": model.kv_cache_numbers(1)}
    if isinstance(model, LinearRNN):
        return {"depth": len(model.blocks), "width": len(model.layout), "heads": 0,
                "state_numbers": model.state_dim, "kv_per_position": 0}
    kv = 0
    for block in model.blocks:
        for head in block.heads:
            _, _, wk, _, v_rows, _ = head.sparse()
            kv += wk.shape[1] + len(v_rows)
    return {"depth": len(model.blocks), "width": len(model.layout),
            "heads": sum(len(b.heads) for b in model.blocks), "state_numbers": 0, "kv_per_position": kv}


def precision_for(length: int) -> int:
    return 2 * math.ceil(math.log2(length + 1)) + 1


# -- checking one row ---------------------------------------------------------------------------------
def check_row(task: str, kind: str, model, n: int, samples: int, graphs: int, seed: int) -> dict:
    """Run the task's checker functions on the small domain; returns counts and sequence lengths."""
    rng = np.random.default_rng(seed)
    if task in RETRIEVAL:
        from verify import retrieval

        batch = retrieval.TASKS[task].sample(n, CGRAM_C, samples, rng)
        checked, bad, failures, _ = retrieval.run(model, [("sample", batch)], FLOAT64, False)
        cot, longest = [0] * len(batch), int(batch.lengths().max())
        if model.meta.get("rag_task"):  # a RAG model answers after a CoT with a retrieval (Thm 5.2)
            from verify.rag_check import reference_rows

            seqs, starts = reference_rows(model, batch)[:2]
            cot = [len(q) - st - 2 for q, st in zip(seqs, starts)]
            longest = max(len(q) for q in seqs)
        return {"checked": checked, "failures": bad, "cot": cot, "max_length": longest,
                "domain": f"{samples} random instances, n = {n}"}
    if task == "istree":
        from theory.tasks import istree as task_mod
        from verify import istree

        families = task_mod.FAMILIES
        gs = [task_mod.sample_graph(n, families[i % len(families)], rng) for i in range(graphs)]
        ok, _, seqs, nx_bad = istree.check_graphs(model, istree.MODEL_KINDS[kind], n, gs, FLOAT64)
        prompt = [3 * len(g) + 2 for g in gs]
        cot = [len(s) - p - 1 for s, p in zip(seqs, prompt)]
        return {"checked": len(gs), "failures": int((~ok).sum()) + len(nx_bad), "cot": cot,
                "max_length": max(len(s) for s in seqs), "domain": f"{graphs} random graphs, n = {n}"}
    from verify import turing

    machine, words, bounds = _tm_domain(n)
    ok, _, _, seqs, starts, _ = turing.check_words(model, turing.MODEL_KINDS[kind], machine, words,
                                                  bounds.offset)
    cot = [len(s) - st - 2 for s, st in zip(seqs, starts)]
    return {"checked": len(words), "failures": int((~np.asarray(ok)).sum()), "cot": cot,
            "max_length": max(len(s) for s in seqs),
            "domain": f"{MACHINE}, every input of length <= {min(n, TM_MAX_LEN)}"}


def table(n: int, samples: int, graphs: int, seed: int, weights: dict[str, str], show_progress: bool) -> list[dict]:
    rows = []
    bar = cli.progress(len(TASKS) * len(FAMILIES), "compare", disable=not show_progress)
    for task in TASKS:
        for kind, family in FAMILIES.items():
            bar.update(1)
            build = find(task, kind)
            row = {"task": task, "family": family, "kind": kind}
            if build is None:
                rows.append({**row, "built": False})
                continue
            started = time.time()
            model = build(n)
            key = f"{task}/{kind}"
            if key in weights:
                loaded = model_io.load(weights[key])
                model_io.check_compatible(loaded, model)
                model = loaded
            res = check_row(task, kind, model, n, samples, graphs, seed)
            s = shape(model)
            p = precision_for(res["max_length"])
            rows.append({**row, "built": True, **s, "p": p, "state_bits": s["state_numbers"] * p,
                         "kv_cache_bits": s["kv_per_position"] * res["max_length"] * p,
                         "longest_sequence": res["max_length"], "cot_max": max(res["cot"]),
                         "cot_mean": round(float(np.mean(res["cot"])), 2), "checked": res["checked"],
                         "failures": res["failures"], "domain": res["domain"],
                         "verdict": "verified" if res["failures"] == 0 else "FAILED",
                         "seconds": round(time.time() - started, 2)})
    bar.close()
    return rows


def print_table(rows: list[dict], n: int) -> None:
    head = (f"{'task':<9}{'family':<12}{'depth':>6}{'width':>6}{'heads':>6}{'state':>12}{'KV cache':>28}"
            f"{'CoT max/mean':>16}  verdict")
    print(f"n = {n}  (state: Lambda numbers / bits; KV cache: numbers per position / bits at the longest "
          f"sequence L; p = 2 ceil(log2(L+1)) + 1; heads: in all blocks)")
    print("  RAG-RNN rows count the model's own memory only: the regex retriever reads the whole context,")
    print("  as the paper's in-context RAG does, so that memory is not O(log n) either.")
    print(head)
    print("-" * len(head))
    for r in rows:
        if not r["built"]:
            print(f"{r['task']:<9}{r['family']:<12}{'not built':>6}")
            continue
        state = f"{r['state_numbers']} / {r['state_bits']:,}"
        kv = f"{r['kv_per_position']} / {r['kv_cache_bits']:,} (L={r['longest_sequence']})"
        cot = f"{r['cot_max']} / {r['cot_mean']:g}"
        print(f"{r['task']:<9}{r['family']:<12}{r['depth']:>6}{r['width']:>6}{r['heads']:>6}{state:>12}{kv:>28}"
              f"{cot:>16}  {r['verdict']} ({r['checked'] - r['failures']}/{r['checked']}, {r['domain']})")


# -- curves -------------------------------------------------------------------------------------------
def random_tree(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A random labelled tree (uniform Pruefer sequence), edges as (min, max) in random order."""
    from theory.tasks.istree import check_edges

    seq = list(rng.integers(1, n + 1, size=n - 2))
    degree = [0] + [1] * n
    for v in seq:
        degree[v] += 1
    edges = []
    for v in seq:
        leaf = next(u for u in range(1, n + 1) if degree[u] == 1)
        edges.append((leaf, int(v)))
        degree[leaf] -= 1
        degree[v] -= 1
    last = [u for u in range(1, n + 1) if degree[u] == 1]
    edges.append((last[0], last[1]))
    order = rng.permutation(len(edges))
    return check_edges(n, [edges[i] for i in order])


def curves(ns, seed: int, trees: int = 5) -> dict:
    """IsTree CoT length per family on random trees (the references the checkers verify), and memory."""
    from verify import istree

    out = {"n": list(ns), "cot": {}, "memory": {}}
    for kind, family in FAMILIES.items():
        if kind not in istree.MODEL_KINDS:
            continue
        mk = istree.MODEL_KINDS[kind]
        lens, state, kv = [], [], []
        for n in ns:
            rng = np.random.default_rng([seed, n])
            cots = [len(mk.trace(n, random_tree(n, rng))) - 1 for _ in range(trees)]
            lens.append(max(cots))
            model = mk.build(n)
            s = shape(model)
            length = 3 * (n - 1) + 2 + max(cots) + 1
            p = precision_for(length)
            state.append(s["state_numbers"] * p)
            kv.append(s["kv_per_position"] * length * p)
        out["cot"][family] = lens
        out["memory"][f"IsTree {family}"] = {"state_bits": state, "kv_cache_bits": kv}
    for kind, family in FAMILIES.items():
        build = find("index", kind)
        if build is None:
            continue
        state, kv = [], []
        for n in ns:
            s = shape(build(n))
            p = precision_for(n + 3)
            state.append(s["state_numbers"] * p)
            kv.append(s["kv_per_position"] * (n + 3) * p)
        out["memory"][f"Index {family}"] = {"state_bits": state, "kv_cache_bits": kv}
    return out


def print_curves(cv: dict) -> None:
    print("IsTree CoT length on random trees (uniform labelled trees, max over 5 per n), "
          "with ratios to n and n log2 n:")
    for family, lens in cv["cot"].items():
        cells = ", ".join(f"n={n}: {c} ({c / n:.1f} n, {c / (n * math.log2(n)):.2f} n log n)"
                          for n, c in zip(cv["n"], lens))
        print(f"  {family}: {cells}")
    for family in FAMILIES.values():
        if family not in cv["cot"]:
            print(f"  {family}: not built")


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
    p.add_argument("--plot", metavar="FILE", help="draw the CoT-length and memory curves over n = 4..64")
    p.add_argument("--weights", action="append", default=[], metavar="TASK/FAMILY=FILE",
                   help="check saved weights for one row, e.g. istree/hybrid=edited.npz (repeatable)")
    cli.add_common_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> dict[str, str]:
    if not 4 <= a.n <= 64:
        raise cli.UsageError(f"--n must lie in 4..64, got {a.n}")
    if a.samples < 1 or a.graphs < 1:
        raise cli.UsageError("--samples and --graphs must be positive")
    weights = {}
    for item in a.weights:
        key, sep, path = item.partition("=")
        task, _, kind = key.partition("/")
        if not sep or task not in TASKS or kind not in FAMILIES:
            raise cli.UsageError(f"--weights wants TASK/FAMILY=FILE with TASK in {list(TASKS)} and FAMILY "
                                 f"in {list(FAMILIES)}, got {item!r}")
        if find(task, kind) is None:
            raise cli.UsageError(f"--weights {key}: that family has no construction for {task}")
        weights[key] = path
    return weights


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    weights = _validate(a)
    started = time.time()
    command = ["python -m verify.compare"] + (sys.argv[1:] if argv is None else list(argv))
    rows = table(a.n, a.samples, a.graphs, a.seed, weights, not a.no_progress)
    print_table(rows, a.n)
    extra = {}
    if a.plot:
        cv = curves(PLOT_NS, a.seed)
        print_curves(cv)
        print("figure: " + ", ".join(plot(cv, a.plot)))
        extra["curves"] = cv
    bad = [r for r in rows if r["built"] and r["failures"]]
    cert = cli.certificate(command=command, domain={"n": a.n, "samples": a.samples, "graphs": a.graphs,
                                                    "machine": MACHINE, "tm_max_len": min(a.n, TM_MAX_LEN)},
                           checked=sum(r.get("checked", 0) for r in rows),
                           failures=[{"task": r["task"], "family": r["family"], "failures": r["failures"]}
                                     for r in bad],
                           verified=not bad, started=started, rows=rows, **extra)
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if not bad else cli.EXIT_COUNTEREXAMPLE


if __name__ == "__main__":
    sys.exit(main())
