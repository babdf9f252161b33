"""``python -m verify.figures --out DIR``: every figure and table of the toolkit, from one command.

  python -m verify.figures --out figs                 # every figure: PDF, SVG, PNG at 1 and 2 columns,
                                                      # a CSV of the numbers drawn, a LaTeX booktabs table
  python -m verify.figures --out figs --only crossover families
  python -m verify.figures --out figs --quick         # small sizes (seconds; what the tests run)
  python -m verify.figures --list                     # the registered figures and their captions

A figure is one function ``make(out_dir, quick=False) -> list of files written``, registered with
``@figure(name, caption)``; adding a figure needs nothing else. Each writes ``NAME_1col.*`` and
``NAME_2col.*`` (3.35 and 7.0 inches wide), ``NAME.csv`` and ``NAME.tex`` with the style of
:mod:`verify.plots` (line style = status: solid proved, dashed conjectured, open markers exact by
brute force, filled markers measured on built weights).

Exit codes: 0 every figure written; 2 bad usage (unknown figure, output directory whose parent is
missing), reported before any work.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np

from constructions import registry
from theory import bounds as B
from theory.tasks.base import Domain, ListPart
from theory.tasks.cgram import CgramTask
from theory.tasks.istree import sample_graph
from verify import core, plots
from verify.bounds import DEFAULT_P, bound_row
from verify.cli import ArgumentParser, EXIT_OK, UsageError, main_guard, progress
from verify.plots import (MARKERS, PALETTE, TITLES, both_widths, grid, legend_below, legend_proxy, log2_axes,
                          panel_labels, series, write_csv, write_tex)
from verify.smt.precision import certificate as precision_certificate


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    make: Callable[..., list[str]]


FIGURES: dict[str, Figure] = {}


def figure(name: str, caption: str) -> Callable:
    """Register ``make(out_dir, quick=False)`` as figure ``name`` (one line of caption)."""
    def register(make: Callable[..., list[str]]) -> Callable[..., list[str]]:
        if name in FIGURES:
            raise ValueError(f"a figure named {name!r} is already registered")
        FIGURES[name] = Figure(name, caption, make)
        return make
    return register


figure("bounds", "RNN state lower bounds in bits: (a) the strongest proved bound per task, (b) IsTree's "
       "three proved bounds with brute force, (c) Index with average error ε, (1 − H(ε))·n.")(plots.fig_bounds)
figure("state_numbers", "Λ_min, the fewest R_p numbers (2^p − 1 values each) an exact RNN state needs: "
       "(a) over n at p = 17, 33, 65, (b) over odd p at n = 1024.")(plots.fig_state_numbers)
figure("exact", "Brute-force state counts at every split against the closed forms: (a) IsTree, "
       "(b) Index and Counting whole domains, (c) AR (no closed form).")(plots.fig_exact)


# --------------------------------------------------------------------------- families
FAMILY_TASKS = ("index", "ar", "cgram", "counting", "istree")
FAMILY_SAMPLES = 64       # random instances per retrieval row, seed 0 (as verify.compare)
FAMILY_TREES = 8          # random labelled trees per IsTree row: the longest chains of thought


def lengths_precision(length: int) -> int:
    """p = 2 ceil(log2(L + 1)) + 1: the smallest R_p whose integers reach every position (verify.compare's)."""
    return 2 * math.ceil(math.log2(length + 1)) + 1


def make_task(name: str, size: int):
    cls = registry.task_class(name)
    return registry.task_of_size(cls, size, **({"c": 3} if cls is CgramTask else {}))


def tree_domain(task, count: int, seed: int = 0) -> Domain:
    """``count`` seeded uniform labelled trees on task.n vertices (trees have the longest DFS tours)."""
    def make(a, b):
        return [sample_graph(task.n, "tree", np.random.default_rng([seed, i])) for i in range(a, b)]
    part = ListPart(f"{count} random trees", count, make, {"kind": "random", "family": "tree", "seed": seed})
    return Domain([part], 4096, task="istree", n=task.n, kind="random", seed=seed)


def family_rows(sizes: list[int], show: bool = False) -> list[dict]:
    """Every (task, family, n) of the catalogue, built and checked by verify.core on a small domain."""
    jobs = [(t, kind, m) for t in FAMILY_TASKS for kind in registry.FAMILIES for m in sizes
            if registry.find(t, kind) is not None]
    bar = progress(len(jobs), "families", disable=not show)
    rows = []
    for name, kind, size in jobs:
        construction = registry.find(name, kind)
        task = make_task(name, size)
        model = construction.build(task)
        domain = tree_domain(task, FAMILY_TREES) if name == "istree" else task.domain(samples=FAMILY_SAMPLES, seed=0)
        res = core.run(construction, task, model, domain, progress=False)
        s = model.shape()
        p = lengths_precision(res.longest)
        rows.append({"task": name, "family": registry.FAMILIES[kind], "kind": kind, "n": size,
                     "depth": s["depth"], "width": s["width"], "heads": s["heads_total"],
                     "state_numbers": s["state_dim"], "kv_per_position": s["kv_per_position"],
                     "longest_sequence": res.longest, "kv_numbers": s["kv_per_position"] * res.longest,
                     "cot_max": res.cot_max, "checked": res.checked, "failures": res.failed,
                     "p_lengths": p, "state_bits": s["state_dim"] * p,
                     "kv_cache_bits": s["kv_per_position"] * res.longest * p, "status": B.MEASURED})
        bar.update(1)
    bar.close()
    return rows


@figure("families", "Model families from the catalogue, built and checked by verify.core: (a) IsTree CoT "
        "length on random trees, (b) IsTree and (c) Index memory in numbers (RNN state Λ, KV cache).")
def fig_families(out: str, quick: bool = False, show: bool = False) -> list[str]:
    sizes = [4, 8] if quick else [4, 8, 16, 32, 64]
    rows = family_rows(sizes, show)
    kinds = list(registry.FAMILIES)
    colour = {k: PALETTE[i] for i, k in enumerate(kinds)}

    def pick(task, kind, key):
        got = {r["n"]: r[key] for r in rows if r["task"] == task and r["kind"] == kind}
        return [got.get(m) for m in sizes]

    def draw(tag):
        fig, axes = grid(tag, 3, 2.5, 2.3)
        ax = axes[0]
        log2_axes(ax)
        for i, kind in enumerate(kinds):
            series(ax, sizes, pick("istree", kind, "cot_max"), B.MEASURED, colour[kind], MARKERS[i],
                   registry.FAMILIES[kind])
        xs = np.array(sizes, dtype=float)
        first = ax.legend(fontsize=5, loc="upper left")
        refs = series(ax, xs, 2 * xs, "reference", "#999999", "", "2n")
        for kind, shape, text in (("rag", xs, "∝ n"), ("hybrid", xs * np.log2(xs), "∝ n log2 n")):
            last = pick("istree", kind, "cot_max")[-1]
            if last:   # a reference through the family's last point, for the slope only
                refs += series(ax, xs, shape * last / shape[-1], "reference", colour[kind], "", text)
        ax.add_artist(first)
        ax.legend(handles=refs, fontsize=5, loc="lower right", title="references", title_fontsize=5)
        ax.set_xlabel("vertices n")
        ax.set_ylabel("CoT tokens (max over 8 trees)")
        ax.set_title("IsTree chain of thought")
        # equal values nest instead of hiding each other: the first family's markers largest
        size_of = {kind: 6.5 - 3.5 * i / max(len(kinds) - 1, 1) for i, kind in enumerate(kinds)}
        for ax, task in ((axes[1], "istree"), (axes[2], "index")):
            log2_axes(ax)
            for i, kind in enumerate(kinds):
                series(ax, sizes, pick(task, kind, "state_numbers"), B.MEASURED, colour[kind], "s",
                       f"{registry.FAMILIES[kind]}: RNN state Λ", ms=size_of[kind])
                series(ax, sizes, pick(task, kind, "kv_numbers"), B.MEASURED, colour[kind], "o",
                       f"{registry.FAMILIES[kind]}: KV cache", ms=size_of[kind])
            ax.set_xlabel("n" if task == "index" else "vertices n")
            ax.set_ylabel("numbers held (each p bits)")
            ax.set_title(f"{TITLES[task]}: memory")
            ax.set_ylim(top=ax.get_ylim()[1] * 2 ** 4)   # room for the legend above the points
            ax.legend(fontsize=5, loc="upper left")
        axes[1].text(0.5, 0.2, "RAG-RNN: the retriever's reads\nof the context are not counted",
                     transform=axes[1].transAxes, ha="center", va="center", fontsize=5)
        panel_labels(axes)
        fig.tight_layout()
        return fig

    files = both_widths(draw, out, "families", quick)
    header = ["task", "family", "n", "depth", "width", "heads", "state_numbers", "kv_per_position",
              "longest_sequence", "kv_numbers", "cot_max", "checked", "failures", "p_lengths", "state_bits",
              "kv_cache_bits", "status"]
    files.append(write_csv(out, "families", header, [[r[h] for h in header] for r in rows]))
    at = 16 if 16 in sizes else sizes[-1]
    tex = [[TITLES[r["task"]], r["family"], r["depth"], r["width"], r["heads"], r["state_numbers"],
            r["kv_per_position"], r["cot_max"], f"{r['checked'] - r['failures']}/{r['checked']}"]
           for r in rows if r["n"] == at]
    files.append(write_tex(out, "families", ["task", "family", "depth", "width", "heads", "state Λ",
                                             "KV / position", "CoT max", "verified"], tex,
                           f"Model families at n = {at}, built from the catalogue and checked by verify.core "
                           "(measured on the built weights)."))
    return files


# --------------------------------------------------------------------------- crossover
CROSS_TASKS = ("index", "ar", "cgram", "counting", "istree")


def weights_bits(task: str, size: int) -> tuple[int | None, int | None]:
    """(nonzero parameters × proved p(n), proved p(n)) of the registered Transformer, or (None, None)."""
    mem = bound_row(task, size, DEFAULT_P, 2, 3)["transformer"]
    return mem["weights_bits_at_proved_p"], mem["proved_p"]


def exact_crossover(task: str, low: int, high: int) -> int | None:
    """The least n in (low, high] where the RNN bound exceeds the Transformer's weight bits (every n checked)."""
    construction = registry.get(task, "transformer")
    nonzero = construction.build(make_task(task, low + 1)).shape()["nonzero_parameters"]
    for size in range(low + 1, high + 1):
        proved = precision_certificate(task, size).p
        if proved and B.strongest(B.task_bounds(task, size)).bits > nonzero * proved:
            return size
    return None


def crossover_rows(sizes: list[int]) -> list[dict]:
    rows = []
    for task in CROSS_TASKS:
        for size in sizes:
            if size < B.min_n(task):
                continue
            row = bound_row(task, size, DEFAULT_P, 2, 3)
            tf = row["transformer"]
            rows.append({"task": task, "n": size, "rnn_bits": row["rnn_bits"], "rnn_status": row["rnn_status"],
                         "rnn_bound": row["rnn_bound"], "kv_per_position": tf["kv_per_position"],
                         "longest_sequence": tf["longest_sequence"], "kv_numbers": tf["kv_numbers"],
                         "proved_p": tf["proved_p"], "kv_bits": tf["kv_bits_at_proved_p"],
                         "nonzero_parameters": tf["nonzero_parameters"], "parameters": tf["parameters"],
                         "weights_bits": tf["weights_bits_at_proved_p"],
                         "transformer_status": B.MEASURED, "note": tf["proved_p_note"]})
    return rows


def crossovers(rows: list[dict]) -> dict[str, dict]:
    """Per task: the grid bracket where the RNN bound first exceeds the weights, and the exact n in it."""
    out = {}
    for task in CROSS_TASKS:
        mine = [r for r in rows if r["task"] == task]
        proved = [r for r in mine if r["weights_bits"]]
        hit = next((i for i, r in enumerate(proved) if r["rnn_bits"] > r["weights_bits"]), None)
        if hit is None:
            last = proved[-1]["n"] if proved else None
            out[task] = {"crossover_n": None, "bracket": None, "proved_p_up_to": last,
                         "kv_ever_below_rnn_bound": any(r["kv_bits"] and r["kv_bits"] < r["rnn_bits"] for r in mine)}
            continue
        low = proved[hit - 1]["n"] if hit else B.min_n(task) - 1
        exact = exact_crossover(task, low, proved[hit]["n"])
        out[task] = {"crossover_n": exact, "bracket": (low, proved[hit]["n"]), "proved_p_up_to": proved[-1]["n"],
                     "kv_ever_below_rnn_bound": any(r["kv_bits"] and r["kv_bits"] < r["rnn_bits"] for r in mine)}
    return out


@figure("crossover", "Transformer memory measured on the built weights at its proved precision p(n) against "
        "the RNN lower bound, in bits: the KV cache (prompt, CoT and answer) never drops below the bound; "
        "the whole Transformer (nonzero weights × p(n)) does, at the marked n.")
def fig_crossover(out: str, quick: bool = False) -> list[str]:
    sizes = plots.sizes(quick)
    rows = crossover_rows(sizes)
    cross = crossovers(rows)

    def draw(tag):
        if tag == "2col":
            fig, axs = plots.plt.subplots(2, 3, figsize=(plots.WIDTHS[tag], 4.6))
        else:
            fig, axs = plots.plt.subplots(3, 2, figsize=(plots.WIDTHS[tag], 6.2))
        axes = list(axs.flat)
        for ax, task in zip(axes, CROSS_TASKS):
            mine = [r for r in rows if r["task"] == task]
            xs = [r["n"] for r in mine]
            log2_axes(ax)
            series(ax, xs, [r["rnn_bits"] for r in mine], B.PROVED, PALETTE[7], "", "RNN state, lower bound")
            series(ax, xs, [r["kv_bits"] for r in mine], B.MEASURED, PALETTE[0], "o", "Transformer KV cache")
            series(ax, xs, [r["weights_bits"] for r in mine], B.MEASURED, PALETTE[3], "s", "Transformer weights")
            info = cross[task]
            if info["crossover_n"]:
                ax.axvline(info["crossover_n"], color=PALETTE[2], ls=":", lw=1)
                ax.text(info["crossover_n"] * 0.8, 0.55, f"n = {info['crossover_n']:,}", color=PALETTE[2],
                        transform=ax.get_xaxis_transform(), ha="right", va="center", fontsize=6)
            if info["proved_p_up_to"] is None:
                ax.text(0.03, 0.97, "no proved p(n):\nTransformer bits\nnot drawn", transform=ax.transAxes,
                        ha="left", va="top", fontsize=5.5)
            elif info["proved_p_up_to"] < xs[-1]:
                ax.text(0.97, 0.05, f"p(n) proved up to\nn = {info['proved_p_up_to']:,}", transform=ax.transAxes,
                        ha="right", va="bottom", fontsize=5.5)
            ax.set_title(TITLES[task])
            ax.set_xlabel("vertices n" if task == "istree" else "n")
            ax.set_ylabel("bits")
        ax = axes[5]
        log2_axes(ax)
        for k, task in enumerate(CROSS_TASKS):
            mine = [r for r in rows if r["task"] == task and r["weights_bits"]]
            series(ax, [r["n"] for r in mine], [r["rnn_bits"] / r["weights_bits"] for r in mine], B.MEASURED,
                   PALETTE[k], MARKERS[k], TITLES[task])
        ax.axhline(1, color=PALETTE[7], lw=0.8, ls=plots.STATUS_LINE["reference"])
        ax.set_ylim(top=2 ** 6)
        ax.set_title("RNN bound / Transformer weights")
        ax.set_xlabel("n")
        ax.set_ylabel("ratio")
        ax.legend(fontsize=5, loc="upper left")
        legend_below(fig, axes, *axes[0].get_legend_handles_labels(), ncol=3 if tag == "2col" else 1,
                     bottom=0.05 if tag == "2col" else 0.07)
        return fig

    files = both_widths(draw, out, "crossover", quick)
    header = ["task", "n", "rnn_bits", "rnn_status", "rnn_bound", "kv_per_position", "longest_sequence",
              "kv_numbers", "proved_p", "kv_bits", "nonzero_parameters", "parameters", "weights_bits",
              "transformer_status", "note"]
    files.append(write_csv(out, "crossover", header, [[r[h] for h in header] for r in rows]))
    tex = []
    for task in CROSS_TASKS:
        info = cross[task]
        n_star = info["crossover_n"]
        at = next((r for r in rows if r["task"] == task and r["n"] == 1024), None)
        tex.append([TITLES[task], at["rnn_bits"] if at else "--", (at or {}).get("kv_bits") or "--",
                    (at or {}).get("weights_bits") or "--", f"{n_star:,}" if n_star else "none",
                    f"{info['proved_p_up_to']:,}" if info["proved_p_up_to"] else "none"])
    files.append(write_tex(out, "crossover", ["task", "RNN bound", "KV cache", "weights", "crossover n",
                                              "p(n) proved to"], tex,
                           "Bits at n = 1,024: RNN lower bound (proved) against the Transformer measured on its "
                           "built weights at the proved precision p(n); crossover = least n with the bound above "
                           "the weights (every n checked)."))
    return files


# --------------------------------------------------------------------------- precision
PRECISION_TASKS = ("index", "ar", "cgram", "counting", "istree")
PRECISION_FAMILIES = ("transformer", "rag", "hybrid")
PRECISION_SAMPLES = 48    # seeded instances per (construction, n), plus the hard family where the task has one


def precision_sizes(task: str, kind: str, quick: bool) -> list[int]:
    """n = 4 ... 256; IsTree to n = 64 (sequences of about 5n tokens, and exact R_p above 53 bits
    computes with Python ints: the hybrid's search at n = 64 takes about 10 minutes), the IsTree
    RAG-RNN to n = 32 (its CoT grows like n^2 tokens and its state is updated one token at a time).
    Quick: n = 4, no IsTree RAG-RNN."""
    if task == "istree" and kind == "rag":
        return [] if quick else [4, 8, 16, 32]
    if quick:
        return [4]
    return [4, 8, 16, 32, 64] if task == "istree" else [4, 8, 16, 32, 64, 128, 256]


def measured_precision(task_name: str, kind: str, size: int, samples: int) -> dict:
    """The smallest odd p <= P_MAX at which the construction passes a seeded sample in exact R_p
    (verify.core.min_precision: the checkers' --min-precision search), or None if none does."""
    construction = registry.get(task_name, kind)
    task = make_task(task_name, size)
    model = construction.build(task)
    domain = task.domain(samples=samples, seed=0)
    return {"task": task_name, "family": registry.FAMILIES[kind], "kind": kind, "n": size,
            **searched_precision(construction, task, model, domain)}


def searched_precision(construction, task, model, domain) -> dict:
    """One row's measured fields: the checkers' --min-precision search over ``domain``, every probe
    (``31+`` passed, ``29-`` failed) and its time; ``censored`` when no p up to P_MAX passes."""
    from theory.precision import P_MAX

    started = time.time()
    found = core.search_precision(construction, task, model, domain, report=lambda s: None)
    return {"p_min": found.p, "censored": found.p is None, "p_max": P_MAX, "instances": found.checked,
            "probes": " ".join(f"{t['p']}{'+' if t['pass'] else '-'}" for t in found.tried),
            "seconds": round(time.time() - started, 1), "status": B.MEASURED}


def censored_arrows(ax, rows: list[dict], x: str, colour: str) -> None:
    """A size where no p up to P_MAX passes: an arrow up from the top of the range, no value."""
    for r in rows:
        if r["censored"]:
            ax.annotate("", xy=(r[x], r["p_max"] + 12), xytext=(r[x], r["p_max"]),
                        arrowprops=dict(arrowstyle="->", color=colour, lw=1))


def precision_rows(quick: bool, show: bool = False) -> list[dict]:
    samples = 8 if quick else PRECISION_SAMPLES
    jobs = [(t, k, m) for t in PRECISION_TASKS for k in PRECISION_FAMILIES for m in precision_sizes(t, k, quick)
            if registry.find(t, k) is not None]
    bar = progress(len(jobs), "precision", disable=not show)
    rows = []
    for task, kind, size in jobs:
        row = measured_precision(task, kind, size, samples)
        row["proved_p"] = precision_certificate(task, size).p if kind == "transformer" else None
        rows.append(row)
        bar.update(1)
    bar.close()
    return rows


def fit_log2(points: list[tuple[int, int]]) -> tuple[float, float] | None:
    """Least-squares (a, b) of p = a log2 n + b over uncensored points (None below two sizes)."""
    if len({n for n, _ in points}) < 2:
        return None
    x = np.log2([n for n, _ in points])
    a, b = np.polyfit(x, [p for _, p in points], 1)
    return float(a), float(b)


def precision_fits(rows: list[dict]) -> list[dict]:
    out = []
    for task in PRECISION_TASKS:
        for kind in PRECISION_FAMILIES:
            mine = [r for r in rows if r["task"] == task and r["kind"] == kind]
            if not mine:
                continue
            fit = fit_log2([(r["n"], r["p_min"]) for r in mine if r["p_min"] is not None])
            out.append({"task": task, "family": registry.FAMILIES[kind], "kind": kind,
                        "slope": None if fit is None else round(fit[0], 2),
                        "intercept": None if fit is None else round(fit[1], 2),
                        "sizes": len(mine), "censored": sum(r["censored"] for r in mine)})
    return out


@figure("precision", "Bits each construction needs, p_min(n): the smallest odd p at which it passes a seeded "
        "sample (and the hard family) in exact R_p, against the margin argument's proved p(n) and the fit "
        "a·log2 n + b; arrows: no p up to 255 passes.")
def fig_precision(out: str, quick: bool = False, show: bool = False) -> list[str]:
    rows = precision_rows(quick, show)
    fits = {(f["task"], f["kind"]): f for f in precision_fits(rows)}
    colour = {k: PALETTE[i] for i, k in enumerate(PRECISION_FAMILIES)}

    def draw(tag):
        fig, axes = grid(tag, len(PRECISION_TASKS), 2.4, 2.0)
        for ax, task in zip(axes, PRECISION_TASKS):
            ax.set_xscale("log", base=2)
            for i, kind in enumerate(PRECISION_FAMILIES):
                mine = [r for r in rows if r["task"] == task and r["kind"] == kind]
                if not mine:
                    continue
                xs = [r["n"] for r in mine]
                series(ax, xs, [r["p_min"] for r in mine], B.MEASURED, colour[kind], MARKERS[i],
                       registry.FAMILIES[kind])
                censored_arrows(ax, mine, "n", colour[kind])
                fit = fits[(task, kind)]
                if fit["slope"] is not None:
                    grid_x = np.array([xs[0], xs[-1]], dtype=float)
                    series(ax, grid_x, fit["slope"] * np.log2(grid_x) + fit["intercept"], "reference",
                           colour[kind], "", "_fit", lw=0.8)
                if kind == "transformer":
                    series(ax, xs, [r["proved_p"] for r in mine], B.PROVED, colour[kind], "", "Transformer, margin argument")
            sizes_drawn = sorted({r["n"] for r in rows if r["task"] == task})
            labelled = sizes_drawn if len(sizes_drawn) <= 4 else sizes_drawn[::2]   # no crowded labels
            ax.set_xticks(labelled, [f"{m}" for m in labelled])
            ax.minorticks_off()
            ax.set_title(TITLES[task])
            ax.set_xlabel("vertices n" if task == "istree" else "n")
            ax.set_ylabel("p (bits)")
        legend_proxy(axes[0], "reference", "least-squares fit a log2 n + b (dotted)")
        handles, labels = [], []
        for ax in axes:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                if lab not in labels:
                    handles.append(h)
                    labels.append(lab)
        legend_below(fig, axes, handles, labels, ncol=4 if tag == "2col" else 2,
                     bottom=0.1 if tag == "2col" else 0.04)
        return fig

    files = both_widths(draw, out, "precision", quick)
    header = ["task", "family", "n", "p_min", "censored", "p_max", "proved_p", "instances", "probes", "seconds",
              "status"]
    files.append(write_csv(out, "precision", header, [[r[h] for h in header] for r in rows]))
    files.append(write_csv(out, "precision_fits", ["task", "family", "slope", "intercept", "sizes", "censored"],
                           [[f[h] for h in ("task", "family", "slope", "intercept", "sizes", "censored")]
                            for f in fits.values()]))
    tex = [[TITLES[f["task"]], f["family"], "--" if f["slope"] is None else f"{f['slope']:.2f}",
            "--" if f["intercept"] is None else f"{f['intercept']:.1f}", f["censored"]] for f in fits.values()]
    files.append(write_tex(out, "precision", ["task", "family", "a (bits per doubling of n)", "b", "censored"], tex,
                           "Least-squares fit p_min(n) = a log2 n + b of the measured precision (uncensored sizes)."))
    return files


# --------------------------------------------------------------------------- precision of the TM simulators
TM_MACHINES = ("parity", "palindrome")
TM_FAMILIES = ("rag", "hybrid", "rnn-cot", "transformer")


def tm_lengths(kind: str, quick: bool) -> list[int]:
    """Input lengths L (every input of length 0..L is checked). The Thm 4.8 chain's sequences have
    n + (n + T)(C + 1) tokens with n = 2^L, and its R_p search takes 35 s at L = 2 and 4.5 min at
    L = 3 (parity), so it is drawn at L = 1, 2 only (and not in the quick figure)."""
    if kind == "transformer":
        return [] if quick else [1, 2]
    return [2] if quick else [2, 4, 6, 8]


def tm_precision_rows(quick: bool, show: bool = False) -> list[dict]:
    from theory.tasks.turing import TuringTask
    from theory.turing import load_machine

    jobs = [(m, k, L) for m in TM_MACHINES for k in TM_FAMILIES for L in tm_lengths(k, quick)]
    bar = progress(len(jobs), "precision_tm", disable=not show)
    rows = []
    for name, kind, length in jobs:
        construction = registry.get("turing", kind)
        task = TuringTask(load_machine(name), length)
        model = construction.build(task)
        rows.append({"machine": name, "family": registry.FAMILIES[kind], "kind": kind, "max_len": length,
                     "theorem": construction.theorem.split(" (")[0],
                     **searched_precision(construction, task, model, task.domain())})
        bar.update(1)
    bar.close()
    return rows


@figure("precision_tm", "Bits each Turing-machine simulator needs: the smallest odd p at which it passes every "
        "input of length 0..L in exact R_p, for the RAG-RNN (Thm 5.4), the hybrid (Thm 5.8), the RNN with "
        "CoT (Thm 4.1) and the Thm 4.8 Transformer chain.")
def fig_precision_tm(out: str, quick: bool = False, show: bool = False) -> list[str]:
    rows = tm_precision_rows(quick, show)
    colour = {k: PALETTE[i] for i, k in enumerate(TM_FAMILIES)}

    def draw(tag):
        fig, axes = grid(tag, len(TM_MACHINES), 2.4, 2.0)
        for ax, name in zip(axes, TM_MACHINES):
            for i, kind in enumerate(TM_FAMILIES):
                mine = [r for r in rows if r["machine"] == name and r["kind"] == kind]
                if not mine:
                    continue
                xs = [r["max_len"] for r in mine]
                series(ax, xs, [r["p_min"] for r in mine], B.MEASURED, colour[kind], MARKERS[i],
                       f"{registry.FAMILIES[kind]} ({mine[0]['theorem']})")
                censored_arrows(ax, mine, "max_len", colour[kind])
            lengths = sorted({r["max_len"] for r in rows if r["machine"] == name})
            ax.set_xticks(lengths, [str(m) for m in lengths])
            ax.set_title(f"machine {name}")
            ax.set_xlabel("input length L (every input of length <= L)")
            ax.set_ylabel("p (bits)")
        handles, labels = axes[0].get_legend_handles_labels()
        legend_below(fig, axes, handles, labels, ncol=4 if tag == "2col" else 2,
                     bottom=0.1 if tag == "2col" else 0.08)
        return fig

    files = both_widths(draw, out, "precision_tm", quick)
    header = ["machine", "family", "theorem", "max_len", "p_min", "censored", "p_max", "instances", "probes",
              "seconds", "status"]
    files.append(write_csv(out, "precision_tm", header, [[r[h] for h in header] for r in rows]))
    tex = [[r["machine"], r["family"], r["theorem"], r["max_len"], "--" if r["p_min"] is None else r["p_min"],
            r["instances"]] for r in rows]
    files.append(write_tex(out, "precision_tm", ["machine", "simulator", "theorem", "L", "p_min", "inputs"], tex,
                           "Smallest odd p at which each Turing-machine simulator passes every input of length "
                           "0..L in exact R_p (exhaustive)."))
    return files


# --------------------------------------------------------------------------- command line
def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m verify.figures", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", metavar="DIR", help="output directory (created if its parent exists)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="only these figures (see --list)")
    parser.add_argument("--quick", action="store_true", help="small sizes: seconds instead of minutes")
    parser.add_argument("--list", action="store_true", help="print the registered figures and exit")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    return parser


def check_out_dir(path: str) -> None:
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageError(f"--out {path} exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"--out {path}: directory {parent} does not exist")
    if not os.access(parent if not os.path.isdir(path) else path, os.W_OK):
        raise UsageError(f"--out {path}: not writable")


@main_guard
def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        for fig in FIGURES.values():
            print(f"{fig.name}: {fig.caption}")
        return EXIT_OK
    if args.out is None:
        raise UsageError("--out DIR is required (or --list)")
    names = args.only or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise UsageError(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    check_out_dir(args.out)
    os.makedirs(args.out, exist_ok=True)
    bar = progress(len(names), "figures", disable=args.no_progress)
    bar.unit = "figure"
    written = []
    for name in names:
        started = time.time()
        bar.set_description(name)
        files = FIGURES[name].make(args.out, quick=args.quick)
        written += files
        bar.update(1)
        bar.write(f"{name}: {len(files)} files in {time.time() - started:.1f} s", file=sys.stderr)
    bar.close()
    print(f"wrote {len(written)} files to {args.out}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
