"""Check the IsTree constructions on every graph of a size: ``python -m verify.istree --n 8``.

For each graph the reference chain of thought (theory.tasks.istree.reference_trace: DFS tour, then
YES/NO) is appended to the prompt and the model is run once over the whole sequence (teacher
forcing). The check passes iff at every position from ``<sep>`` on the model's arg-max is unique and
equals the next reference token; by induction this is exactly "greedy decoding reproduces the
reference trace and answer" (DESIGN.md). Independently, every reference answer is compared with
``networkx.is_tree``.

Domains:
  default        every simple graph on N labelled vertices with N - 1 edges (or --edges M), each in
                 one edge order drawn from --seed
  --orders all   every edge order of every such graph (N <= 6)
  --samples K    K seeded random graphs, a mix of the uniform, hard (two-hub), binary and random
                 families, for N beyond the exhaustive range
  --graph G      one graph, e.g. --graph "1-2,2-3" (with --trace: generated vs reference CoT)
Large runs split with --shard I/K; --merge combines the shard certificates.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from constructions.runtime import io as model_io
from constructions.runtime.arithmetic import FLOAT64, Mode, parse_mode
from constructions.runtime.decode import greedy, teacher_force
from theory.tasks import istree as task
from theory.tokens import NO, YES
from verify import cli

CHUNK = 4096             # graphs per work unit; shards and seeds are defined on these fixed chunks
EXHAUSTIVE_LIMIT = 5_000_000
MAX_FAILURES_KEPT = 20


@dataclass(frozen=True)
class ModelKind:
    """How to build one family of IsTree models and what chain of thought it must produce.

    ``builder`` and ``reference`` are "module:function" paths: ``builder(n)`` returns a model with
    ``forward``/``logits``; ``reference(n, edges)`` returns the tokens after the prompt (CoT and
    answer, the answer last). With ``rag`` the tokens after each ``<EndSearch>`` come from the real
    retriever, not from the model.
    """

    builder: str
    reference: str
    rag: bool = False

    def build(self, n: int):
        return _resolve(self.builder)(n)

    def trace(self, n: int, edges):
        return _resolve(self.reference)(n, edges)


def _resolve(path: str):
    from importlib import import_module

    module, name = path.split(":")
    return getattr(import_module(module), name)


MODEL_KINDS = {
    "transformer": ModelKind("constructions.transformer.istree:build_istree_transformer",
                             "theory.tasks.istree:reference_trace"),
    "hybrid": ModelKind("constructions.hybrid.istree:build_istree_hybrid", "theory.hybrid_trace:istree_hybrid_trace"),
    "rag": ModelKind("constructions.rag.istree:build_rag_istree", "theory.rag_trace:istree_rag_trace", rag=True),
}


# -- the domain -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Domain:
    n: int
    edges: int
    orders: str          # "one" | "all"
    samples: int | None  # None: exhaustive
    seed: int

    @property
    def size(self) -> int:
        if self.samples is not None:
            return self.samples
        graphs = task.count_graphs(self.n, self.edges)
        return graphs * math.factorial(self.edges) if self.orders == "all" else graphs

    def describe(self) -> dict:
        if self.samples is not None:
            kind = (f"{self.samples} random graphs on {self.n} vertices, families "
                    f"{', '.join(task.FAMILIES)} in rotation, seed {self.seed}")
        elif self.orders == "all":
            kind = (f"every simple graph on {self.n} labelled vertices with {self.edges} edges, "
                    f"in every edge order")
        else:
            kind = (f"every simple graph on {self.n} labelled vertices with {self.edges} edges, "
                    f"one edge order each drawn from seed {self.seed}")
        return {"task": "istree", "n": self.n, "edges": self.edges, "orders": self.orders,
                "samples": self.samples, "seed": self.seed, "instances": self.size, "description": kind}

    def chunk(self, c: int) -> tuple[np.ndarray, list[list[tuple[int, int]]]]:
        """Instance ids and edge lists of chunk c (fixed boundaries, deterministic)."""
        start, stop = c * CHUNK, min((c + 1) * CHUNK, self.size)
        ids = np.arange(start, stop)
        if self.samples is not None:
            graphs = []
            for i in ids:
                rng = np.random.default_rng([self.seed, int(i)])
                graphs.append(task.sample_graph(self.n, task.FAMILIES[int(i) % len(task.FAMILIES)], rng))
            return ids, graphs
        pairs = task.all_pairs(self.n)
        if self.orders == "all":
            perms = _permutations(self.edges)
            g = task.enumerate_graphs(self.n, self.edges, start // len(perms), (stop - 1) // len(perms) + 1)
            rows = np.repeat(g, len(perms), axis=0)
            orders = np.tile(perms, (len(g), 1))
            rows = np.take_along_axis(rows, orders, axis=1)
            first = (start // len(perms)) * len(perms)
            rows = rows[start - first: stop - first]
        else:
            rows = task.enumerate_graphs(self.n, self.edges, start, stop)
            rows = task.shuffle_orders(rows, np.random.default_rng([self.seed, c]))
        edges = pairs[rows] if rows.size else np.zeros((len(ids), 0, 2), dtype=np.int64)
        return ids, [[(int(u), int(v)) for u, v in row] for row in edges]


def _permutations(m: int) -> np.ndarray:
    import itertools

    return np.array(list(itertools.permutations(range(m))), dtype=np.int64).reshape(-1, m)


# -- checking ---------------------------------------------------------------------------------------
def reference_sequences(model, kind: ModelKind, n: int, graphs):
    """Token ids of prompt + reference CoT for each graph, and the index of <sep> in each."""
    vocab = model.vocab
    bos, tilde, sep = vocab.id("<s>"), vocab.id("~"), vocab.id("<sep>")
    special = {name: vocab.id(name) for name in vocab.specials}
    seqs, seps, answers = [], [], []
    for edges in graphs:
        trace = kind.trace(n, edges)
        prompt = [bos]
        for u, v in edges:  # number tokens are their own ids
            prompt += [u, tilde, v]
        prompt.append(sep)
        try:
            cot = [t if isinstance(t, int) else special[t] for t in trace]
        except KeyError as exc:
            raise ValueError(f"reference trace uses token {exc} outside the model's vocabulary") from None
        seqs.append(np.array(prompt + cot))
        seps.append(len(prompt) - 1)
        answers.append(trace[-1])
    return seqs, seps, answers


def check_graphs(model, kind: ModelKind, n: int, graphs, mode: Mode = FLOAT64):
    """(ok per graph, first bad position, reference sequences, networkx disagreements)."""
    import networkx as nx

    from constructions.runtime.decode import model_check_mask, retrieval_positions
    from constructions.runtime.retrieve import Retriever

    seqs, seps, answers = reference_sequences(model, kind, n, graphs)
    nx_bad = []
    for i, (edges, answer) in enumerate(zip(graphs, answers)):
        g = nx.Graph()
        g.add_nodes_from(range(1, n + 1))
        g.add_edges_from(edges)
        if nx.is_tree(g) != (answer == YES):
            nx_bad.append(i)
    ok = np.ones(len(seqs), dtype=bool)
    first_bad = np.full(len(seqs), -1)
    supplied = [None] * len(seqs)
    if kind.rag:
        retriever = Retriever(model.vocab)
        for i, seq in enumerate(seqs):
            supplied[i], problems = retrieval_positions(seq, retriever)
            if problems:
                nx_bad.append(i)  # the reference itself is not what the retriever returns
    lengths = np.array([len(s) for s in seqs])
    for length in np.unique(lengths):  # batches of equal length: no padding work
        idx = np.flatnonzero(lengths == length)
        ids = np.stack([seqs[i] for i in idx])
        sup = np.stack([supplied[i] for i in idx]) if kind.rag else None
        check = model_check_mask(np.full(len(idx), length), np.array([seps[i] for i in idx]), sup)
        result = teacher_force(model, ids, check, mode)
        ok[idx] = result.ok
        first_bad[idx] = result.first_bad
    return ok, first_bad, seqs, nx_bad


def _failure(model, n, iid, edges, seq, pos, reason):
    vocab = model.vocab
    toks = vocab.tokens(seq)
    sep = toks.index("<sep>")
    return {"instance": int(iid), "edges": [list(e) for e in edges], "reason": reason,
            "position": int(pos) if pos >= 0 else None,
            "reference_cot": toks[sep + 1:],
            "expected": toks[pos + 1] if pos >= 0 else None}


def _run_chunk(args):
    domain, c, mode = args
    model, kind = _WORKER_MODEL
    ids, graphs = domain.chunk(c)
    ok, first_bad, seqs, nx_bad = check_graphs(model, kind, domain.n, graphs, mode)
    failures = []
    for i in np.flatnonzero(~ok)[:MAX_FAILURES_KEPT]:
        f = _failure(model, domain.n, ids[i], graphs[i], seqs[i], first_bad[i], "model")
        logits = model.logits(model.forward(seqs[i][None], mode), mode)[0, first_bad[i]]
        f["got"] = model.vocab.token(int(np.argmax(logits)))
        failures.append(f)
    for i in nx_bad[:MAX_FAILURES_KEPT]:
        failures.append(_failure(model, domain.n, ids[i], graphs[i], seqs[i], -1,
                                 "reference answer disagrees with networkx, or with the retriever"))
    trees = sum(1 for s in seqs if model.vocab.token(s[-1]) == YES)
    return len(ids), int((~ok).sum()) + len(nx_bad), failures, trees


_WORKER_MODEL = None


def run_domain(model, kind: ModelKind, domain: Domain, mode: Mode, shard=(0, 1), workers: int = 1,
               show_progress=True):
    """Check the shard's chunks; returns (instances checked, failure count, failures kept, trees)."""
    global _WORKER_MODEL
    _WORKER_MODEL = (model, kind)
    chunks = [c for c in range(math.ceil(domain.size / CHUNK)) if c % shard[1] == shard[0]]
    total = sum(min(CHUNK, domain.size - c * CHUNK) for c in chunks)
    checked = bad = trees = 0
    failures: list[dict] = []
    jobs = [(domain, c, mode) for c in chunks]
    bar = cli.progress(total, f"istree n={domain.n}", disable=not show_progress)
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            results = pool.imap(_run_chunk, jobs)
            for res in results:
                checked, bad, trees = _accumulate(res, checked, bad, trees, failures, bar)
    else:
        for job in jobs:
            checked, bad, trees = _accumulate(_run_chunk(job), checked, bad, trees, failures, bar)
    bar.close()
    failures.sort(key=lambda f: (len(f["edges"]), f["instance"]))
    return checked, bad, failures[:MAX_FAILURES_KEPT], trees


def _accumulate(res, checked, bad, trees, failures, bar):
    n_inst, n_bad, fails, n_trees = res
    bar.update(n_inst)
    failures.extend(fails)
    return checked + n_inst, bad + n_bad, trees + n_trees


# -- one graph ----------------------------------------------------------------------------------------
def trace_one(model, kind: ModelKind, n: int, edges, mode: Mode) -> tuple[bool, dict]:
    from constructions.runtime.retrieve import Retriever

    vocab = model.vocab
    prompt = task.prompt_tokens(edges)
    reference = kind.trace(n, edges)
    generated, stopped = greedy(model, list(vocab.ids(prompt)), {vocab.id(YES), vocab.id(NO)},
                                len(reference) + 1, mode, Retriever(vocab) if kind.rag else None)
    gen_tokens = vocab.tokens(generated)
    ok, first_bad, seqs, nx_bad = check_graphs(model, kind, n, [edges], mode)
    report = {"edges": [list(e) for e in edges], "generated": gen_tokens,
              "reference": [str(t) for t in reference], "networkx_is_tree": not nx_bad and reference[-1] == YES,
              "match": bool(ok[0]) and gen_tokens == [str(t) for t in reference]}
    if not report["match"]:
        pos = int(first_bad[0]) if first_bad[0] >= 0 else len(prompt) - 1
        report["first_wrong_position"] = pos + 1  # 1-based position of the token being predicted
        report["attention_at_first_wrong"] = attention_targets(model, seqs[0], pos, mode)
    return report["match"], report


def attention_targets(model, seq, pos: int, mode: Mode) -> list[dict]:
    """For each head, where position ``pos`` (0-based) attends: the top key, its token and weight."""
    _, dump = model.forward(np.asarray(seq)[None], mode, dump=True)
    toks = model.vocab.tokens(seq)
    rows = []
    for layer in dump[1:]:
        for name, w in layer.get("attention", {}).items():
            col = w[0, pos]
            key = int(np.argmax(col))
            rows.append({"block": layer["block"], "head": name, "key_position": key + 1,
                         "key_token": toks[key], "weight": round(float(col[key]), 6)})
    return rows


# -- command line -------------------------------------------------------------------------------------
def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.istree", description=__doc__,
                           formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, help="number of vertices (2..8 exhaustive; larger with --samples)")
    p.add_argument("--edges", type=int, help="number of edges (default n - 1)")
    p.add_argument("--orders", choices=["one", "all"], default="one",
                   help="one seeded edge order per graph (default) or every order")
    p.add_argument("--samples", type=int, help="check K seeded random graphs instead of all graphs")
    p.add_argument("--graph", help='check one graph, e.g. "1-2,2-3,3-4"')
    p.add_argument("--trace", action="store_true", help="with --graph: print generated and reference CoT")
    p.add_argument("--shard", help="check only shard I of K (e.g. 0/4) of the domain")
    p.add_argument("--merge", nargs="+", metavar="CERT", help="merge shard certificates into one")
    p.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                   help="processes to use (default: up to 2)")
    cli.add_common_arguments(p, model_kinds=MODEL_KINDS)
    cli.add_arithmetic_arguments(p)
    return p.parse_args(argv)


def _validate(a) -> None:
    if a.merge:
        return
    if a.n is None:
        raise cli.UsageError("--n is required (number of vertices)")
    task.check_n(a.n)
    if a.workers < 1:
        raise cli.UsageError("--workers must be at least 1")
    if a.graph is not None:
        if a.samples is not None or a.edges is not None or a.orders != "one" or a.shard:
            raise cli.UsageError("--graph checks one graph; drop --samples/--edges/--orders/--shard")
        return
    if a.trace:
        raise cli.UsageError("--trace needs --graph")
    if a.samples is not None:
        if a.samples < 1:
            raise cli.UsageError("--samples must be positive")
        if a.edges is not None or a.orders != "one":
            raise cli.UsageError("--samples draws its own graphs; drop --edges/--orders")
        if a.n < 4:
            raise cli.UsageError("--samples needs n >= 4 (the hard and binary families)")
        return
    m = a.n - 1 if a.edges is None else a.edges
    if not 0 <= m <= math.comb(a.n, 2):
        raise cli.UsageError(f"--edges must lie in 0..{math.comb(a.n, 2)} for n = {a.n}, got {m}")
    domain = Domain(a.n, m, a.orders, None, a.seed)
    if domain.size > EXHAUSTIVE_LIMIT:
        raise cli.UsageError(f"n = {a.n} has {domain.size:,} instances, beyond the exhaustive limit "
                             f"{EXHAUSTIVE_LIMIT:,}; use --samples K")


def load_model(a):
    return model_io.load_or_build(a.weights, MODEL_KINDS[a.model].build(a.n))


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    _validate(a)
    started = time.time()
    command = ["python -m verify.istree"] + (sys.argv[1:] if argv is None else list(argv))
    if a.merge:
        return merge(a.merge, a.json, command, started)
    mode = parse_mode(a.mode, a.p)
    model = load_model(a)
    model_info = {"kind": a.model, "size": model.size(), "weights_sha256": model_io.weights_sha256(model),
                  "weights_file": a.weights, "meta": model.meta}

    if a.graph is not None:
        edges = task.parse_graph(a.graph, a.n)
        ok, report = trace_one(model, MODEL_KINDS[a.model], a.n, edges, mode)
        _print_trace(report, a.trace)
        cert = cli.certificate(command=command, domain={"task": "istree", "n": a.n, "graph": report["edges"]},
                               checked=1, failures=[] if ok else [report], verified=ok, started=started,
                               model=model_info, mode=str(mode), trace=report)
        cli.write_json(a.json, cert)
        return cli.EXIT_OK if ok else cli.EXIT_COUNTEREXAMPLE

    m = a.n - 1 if a.edges is None else a.edges
    domain = Domain(a.n, m if a.samples is None else a.n - 1, a.orders, a.samples, a.seed)
    shard = cli.parse_shard(a.shard)
    if a.min_precision:
        return min_precision(model, domain, shard, a, command, started, model_info)
    checked, bad, failures, trees = run_domain(model, MODEL_KINDS[a.model], domain, mode, shard, a.workers,
                                               not a.no_progress)
    verified = bad == 0
    _print_summary(domain, shard, mode, checked, bad, failures, trees, time.time() - started)
    cert = cli.certificate(command=command, domain=domain.describe(), checked=checked, failures=failures,
                           verified=verified, started=started, failure_count=bad, trees=trees,
                           shard={"index": shard[0], "count": shard[1]}, model=model_info, mode=str(mode))
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if verified else cli.EXIT_COUNTEREXAMPLE


def _print_summary(domain, shard, mode, checked, bad, failures, trees, seconds):
    d = domain.describe()
    where = f" (shard {shard[0]}/{shard[1]})" if shard[1] > 1 else ""
    if bad == 0:
        print(f"verified: {checked:,} instances{where}: {d['description']}")
        print(f"  every CoT token and answer is the unique arg-max and equals the reference DFS trace; "
              f"answers agree with networkx ({trees:,} trees); mode {mode}; {seconds:.1f} s")
    else:
        print(f"FAILED: {bad:,} of {checked:,} instances{where} disagree ({d['description']})")
        f = failures[0]
        print(f"  smallest counterexample: edges {' '.join(f'{u}-{v}' for u, v in f['edges'])}")
        print(f"  reason: {f['reason']}; reference CoT: {' '.join(f['reference_cot'])}")
        if f.get("position") is not None:
            print(f"  at prompt+CoT position {f['position'] + 1}: expected {f['expected']}, model chose {f['got']}")


def _print_trace(report, verbose):
    print(f"graph: {' '.join(f'{u}-{v}' for u, v in report['edges']) or '(no edges)'}")
    print(f"generated: {' '.join(report['generated'])}")
    print(f"reference: {' '.join(report['reference'])}")
    print(f"networkx is_tree: {report['networkx_is_tree']}")
    print("match" if report["match"] else f"MISMATCH at position {report['first_wrong_position']}")
    if not report["match"] or verbose:
        for row in report.get("attention_at_first_wrong", []):
            print(f"  block {row['block']:<24} head {row['head']:<8} -> position {row['key_position']:>3} "
                  f"({row['key_token']}), weight {row['weight']}")


def min_precision(model, domain, shard, a, command, started, model_info) -> int:
    """Smallest odd p for which every instance of the domain passes in R_p arithmetic (upward scan)."""
    from theory.precision import P_MAX

    found = None
    for p in range(3, P_MAX + 1, 2):
        checked, bad, _, _ = run_domain(model, MODEL_KINDS[a.model], domain, Mode("rp", p), shard, a.workers, False)
        print(f"p = {p}: {'pass' if bad == 0 else f'{bad} failures'}", file=sys.stderr)
        if bad == 0:
            found = p
            break
    if found is None:
        print(f"no p <= {P_MAX} passes (the emulation of R_p stops at {P_MAX} bits)")
    else:
        print(f"minimum precision: p = {found} bits passes all {checked:,} instances "
              f"({domain.describe()['description']})")
    cert = cli.certificate(command=command, domain=domain.describe(), checked=domain.size, failures=[],
                           verified=found is not None, started=started, min_precision=found, model=model_info)
    cli.write_json(a.json, cert)
    return cli.EXIT_OK if found is not None else cli.EXIT_COUNTEREXAMPLE


def merge(paths, out, command, started) -> int:
    certs = []
    for path in paths:
        try:
            with open(path) as handle:
                certs.append(json.load(handle))
        except (OSError, json.JSONDecodeError) as exc:
            raise cli.UsageError(f"cannot read certificate {path}: {exc}") from None
    keys = {(json.dumps(c["domain"], sort_keys=True), c["model"]["weights_sha256"], c["mode"]) for c in certs}
    if len(keys) != 1:
        raise cli.UsageError("certificates differ in domain, weights or mode; they cannot be merged")
    counts = {c["shard"]["count"] for c in certs}
    indices = sorted(c["shard"]["index"] for c in certs)
    if len(counts) != 1 or indices != list(range(counts.pop())):
        raise cli.UsageError(f"shards must be exactly 0..K-1 of one K, got indices {indices}")
    checked = sum(c["instances_checked"] for c in certs)
    bad = sum(c["failure_count"] for c in certs)
    failures = sorted((f for c in certs for f in c["failures"]), key=lambda f: (len(f["edges"]), f["instance"]))
    complete = checked == certs[0]["domain"]["instances"]
    verified = bad == 0 and complete and all(c["verified"] for c in certs)
    merged = cli.certificate(command=command, domain=certs[0]["domain"], checked=checked,
                             failures=failures[:MAX_FAILURES_KEPT], verified=verified, started=started,
                             failure_count=bad, trees=sum(c["trees"] for c in certs),
                             merged_from=list(paths), model=certs[0]["model"], mode=certs[0]["mode"])
    cli.write_json(out, merged)
    state = "verified" if verified else ("FAILED" if bad else "INCOMPLETE")
    print(f"{state}: merged {len(certs)} shards, {checked:,} of {certs[0]['domain']['instances']:,} instances, "
          f"{bad:,} failures")
    return cli.EXIT_OK if verified else cli.EXIT_COUNTEREXAMPLE


if __name__ == "__main__":
    sys.exit(main())
