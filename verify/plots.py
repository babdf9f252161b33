"""Figures for ``python -m verify.bounds --plot FILE``: vector PDF and SVG plus a PNG of each.

Figure 1 (FILE): one column per task. Top: the fewest p-bit numbers an RNN state can have
(Λ_min, for several p) against the registered Transformer's width. Bottom: memory in bits — the
RNN lower bound against the Transformer's KV cache on the same input.
Figure 2 (FILE_exact): brute-force state counts against the closed forms (IsTree every split,
Index and Counting whole domains) and the IsTree bound over all splits against the paper's n - 3.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from constructions import registry  # noqa: E402
from theory import bounds as B  # noqa: E402

# Okabe–Ito colour-blind-safe palette
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"]
PRECISIONS = (8, 16, 32)
TITLES = {"index": "Index", "ar": "Associative recall", "cgram": "3-gram retrieval",
          "counting": "Counting", "istree": "IsTree"}
STYLE = {"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8,
         "axes.grid": True, "grid.alpha": 0.3, "savefig.bbox": "tight"}


def _save(fig, stem: str) -> list[str]:
    paths = []
    for ext in ("pdf", "svg", "png"):
        path = f"{stem}.{ext}"
        fig.savefig(path, dpi=200 if ext == "png" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def figure_bounds(stem: str) -> list[str]:
    sizes = [2 ** k for k in range(3, 17)]
    tasks = list(TITLES)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(tasks), figsize=(13, 5.6), sharex=True)
        for col, task in enumerate(tasks):
            c = 3
            ns = [m for m in sizes if m >= B.min_n(task, c)]
            rnn_bits = [B.bits(task, m, 2, c) for m in ns]
            if task == "istree":
                rnn_bits = [B.istree_proven_bits(m) for m in ns]
            claim = registry.claim_of(task, "transformer", 8) if task in registry.tasks() else None
            top, bottom = axes[0, col], axes[1, col]
            for k, p in enumerate(PRECISIONS):
                pts = [(m, B.lambda_min(b, p)) for m, b in zip(ns, rnn_bits) if b is not None]
                top.plot(*zip(*pts), color=PALETTE[k], marker="o", ms=3, label=f"RNN Λ_min, p={p}")
                if claim:
                    kv = [B.kv_cache_bits(B.input_length(task, m, c), claim["depth"], claim["heads"],
                                          claim["width"], p) for m in ns]
                    bottom.plot(ns, kv, color=PALETTE[k], ls="--", label=f"Transformer KV cache, p={p}")
            if claim:
                top.axhline(claim["width"], color=PALETTE[6], ls="--", label="Transformer width (constant)")
            pts = [(m, b) for m, b in zip(ns, rnn_bits) if b is not None]
            bottom.plot(*zip(*pts), color=PALETTE[6], lw=2, label="RNN state lower bound (any p)")
            if task == "istree":
                bottom.plot(ns, [B.bits("istree", m) for m in ns], color=PALETTE[4], lw=1.5, ls=":",
                            label="paper's two-hub bound n−3")
                top.set_title(TITLES[task] + " (star forests, best split)")
            else:
                top.set_title(TITLES[task])
            for ax in (top, bottom):
                ax.set_xscale("log", base=2)
                ax.set_yscale("log", base=2)
            if col == 0:
                top.set_ylabel("state size (numbers of p bits)")
                bottom.set_ylabel("memory (bits)")
        handles, labels = {}, {}
        for ax in axes.flat:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(lab, h)
        fig.supxlabel("problem size n (input tokens; vertices for IsTree), log scale", y=0.02)
        fig.legend(list(handles.values()), list(handles.keys()), loc="lower center", ncol=4,
                   bbox_to_anchor=(0.5, -0.12), frameon=False)
        fig.suptitle("Memory an exact RNN must carry vs the constant-size Transformer "
                     "(alphabet 2; Transformer sizes from the construction registry)", y=1.0)
        fig.tight_layout()
        return _save(fig, stem)


def figure_exact(stem: str, quiet: bool = True) -> list[str]:
    from theory import comm

    all_splits = {m: comm.istree_all_splits(m) for m in range(4, 8)}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
        ax = axes[0]
        for k, n in enumerate(range(4, 8)):
            splits = all_splits[n]
            js = [s.j for s in splits]
            ax.plot(js, [B.istree_split_rows(n, j) for j in js], color=PALETTE[k], lw=1.2,
                    label=f"n={n} closed form")
            ax.plot(js, [s.states for s in splits], color=PALETTE[k], ls="none", marker="o", mfc="none",
                    ms=7, label=f"n={n} brute force")
        ax.set_yscale("log", base=2)
        ax.set_xlabel("j = edges held by Bob (Alice holds n−1−j)")
        ax.set_ylabel("states needed at the split")
        ax.set_title("IsTree, every split: S(n, j+1) + [n−1−j ≥ 3]")
        ax.set_ylim(0.5, 2 ** 11)
        ax.legend(ncol=2, fontsize=7, loc="upper right")

        ax = axes[1]
        ns = list(range(4, 41))
        ax.plot(ns, [B.istree_exact_bits(m) for m in ns], color=PALETTE[0], lw=2,
                label="all splits, S(n, j+1)+1 (exact n ≤ 8)")
        ax.plot(ns, [B.istree_proven_bits(m) for m in ns], color=PALETTE[2], lw=1.5, ls="--",
                label="star-forest fooling set (proven)")
        brute = [(m, max(s.states for s in all_splits[m])) for m in range(4, 8)]
        ax.plot([m for m, _ in brute], [B.log2_ceil(s) for _, s in brute], ls="none", marker="o",
                mfc="none", ms=8, color=PALETTE[3], label="all splits, brute force")
        ax.plot(ns, [m - 3 for m in ns], color=PALETTE[4], ls=":", lw=1.5, label="paper: n−3")
        ax.set_xlabel("vertices n")
        ax.set_ylabel("memory lower bound (bits)")
        ax.set_title("IsTree: best split vs the paper's family")
        ax.legend()

        ax = axes[2]
        n = 8
        for k, (task, sigma) in enumerate([("index", 2), ("index", 3), ("counting", 2), ("counting", 3)]):
            counts = comm.sequence_rows_by_split(task, n, sigma)
            closed = B.index_rows_split if task == "index" else B.counting_rows_split
            xs = list(range(n + 1))
            ax.plot(xs, [closed(i, sigma) for i in xs], color=PALETTE[k], lw=1.2,
                    label=f"{task}, σ={sigma}: closed form")
            ax.plot(xs, counts, color=PALETTE[k], ls="none", marker="o", mfc="none", ms=7,
                    label=f"{task}, σ={sigma}: brute force")
        ax.set_yscale("log", base=2)
        ax.set_xlabel(f"i = data tokens held by Alice (n = {n})")
        ax.set_ylabel("states needed at the split")
        ax.set_title("Whole domains: σ^i and C(i+σ−1, σ−1)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        return _save(fig, stem)


def write_figures(path: str, quiet: bool = True) -> list[str]:
    """Write both figures next to ``path`` (its extension is ignored); return the files written."""
    stem, _ = os.path.splitext(path)
    folder = os.path.dirname(stem)
    if folder:
        os.makedirs(folder, exist_ok=True)
    return figure_bounds(stem) + figure_exact(stem + "_exact", quiet)
