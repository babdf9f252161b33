"""Paper figures: the shared style kit and the lower-bound figures (data from ``theory`` only).

The kit (used by every figure of ``python -m verify.figures``):

* two widths, one column (3.35 in) and two columns (7.0 in), 8 pt text, panel labels (a), (b), ...;
* PDF with TrueType fonts (``pdf.fonttype = 42``, no Type 3), SVG and a 300 dpi PNG of each;
* the Okabe–Ito colour-blind-safe palette, and a distinct marker per series so greyscale prints work;
* **line style = status**: solid proved, dashed conjectured, dash-dot upper bound, dotted a
  reference curve (a formula drawn for scale, neither bound nor data); open markers exact counts
  by brute force, filled markers numbers measured on built weights;
* a CSV of every number drawn and a LaTeX ``booktabs`` table per figure.

The figures here (:func:`fig_bounds`, :func:`fig_state_numbers`, :func:`fig_exact`) are also what
``python -m verify.bounds --plot DIR`` writes. This module imports no other ``verify`` module, so
``verify.bounds`` can import it lazily without a cycle.
"""

from __future__ import annotations

import csv
import os
from typing import Callable, Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from theory import bounds as B  # noqa: E402
from theory import comm  # noqa: E402
from theory.hard_families import check_family  # noqa: E402

# Okabe–Ito: blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
WIDTHS = {"1col": 3.35, "2col": 7.0}
STATUS_LINE = {B.PROVED: "-", B.CONJECTURED: "--", B.UPPER: "-.", "reference": ":"}
STYLE = {
    "font.family": "DejaVu Sans", "mathtext.fontset": "dejavusans",
    "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 6.5,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.linewidth": 0.6, "lines.linewidth": 1.2,
    "lines.markersize": 4, "axes.grid": True, "grid.alpha": 0.25, "grid.linewidth": 0.5,
    "legend.frameon": False, "legend.handlelength": 2.4, "savefig.bbox": "tight", "savefig.pad_inches": 0.03,
    "pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path",
}
TITLES = {"index": "Index", "ar": "Associative recall", "cgram": "3-gram retrieval", "counting": "Counting",
          "istree": "IsTree", "prop51": "Index + AR oracle (Prop 5.1)"}
PRECISIONS = (17, 33, 65)


# --------------------------------------------------------------------------- kit
def series(ax, xs: Sequence, ys: Sequence, status: str, colour: str, marker: str, label: str, **kw):
    """Draw one series in the style of its status (module docstring)."""
    log_y = ax.get_yscale() == "log"     # set the scale first: zeros cannot be drawn on a log axis
    pts = [(x, y) for x, y in zip(xs, ys) if y is not None and not (log_y and y <= 0)]
    if not pts:
        return None
    px, py = zip(*pts)
    if status == B.EXACT:
        style = dict(ls="none", marker=marker, mfc="white", mec=colour, mew=1.0, ms=5)
    elif status == B.MEASURED:
        style = dict(ls="none", marker=marker, ms=4.5)
    else:
        style = dict(ls=STATUS_LINE[status], marker=marker, ms=3, markevery=kw.pop("markevery", 1))
    style.update(kw)
    if not label.startswith("_") and status != "reference":
        label = f"{label} [{status}]"
    return ax.plot(px, py, label=label, color=colour, **style)


def panel_labels(axes) -> None:
    """Prefix each panel's title with (a), (b), ... and left-align it (no overlap with the label)."""
    for i, ax in enumerate(axes):
        title = ax.get_title()
        ax.set_title("")
        ax.set_title(f"({chr(97 + i)}) {title}", loc="left", fontsize=8)


def legend_below(fig, axes, handles, labels, ncol: int, bottom: float) -> None:
    """One legend for the whole figure under its panels, the panel labels, and a layout leaving
    ``bottom`` (a fraction of the height) for the legend."""
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=6, bbox_to_anchor=(0.5, -0.01))
    panel_labels(axes)
    fig.tight_layout(rect=(0, bottom, 1, 1))


def legend_proxy(ax, status: str, label: str, colour: str = "#555555", marker: str = "o") -> None:
    """A legend entry for a status alone (drawn nowhere)."""
    if status == B.EXACT:
        ax.plot([], [], ls="none", marker=marker, mfc="white", mec=colour, mew=1.0, ms=5, label=label)
    elif status == B.MEASURED:
        ax.plot([], [], ls="none", marker=marker, color=colour, ms=4.5, label=label)
    else:
        ax.plot([], [], ls=STATUS_LINE[status], color=colour, label=label)


def log2_axes(ax, x: bool = True, y: bool = True) -> None:
    if x:
        ax.set_xscale("log", base=2)
    if y:
        ax.set_yscale("log", base=2)


def save(fig, out: str, stem: str, dpi: int = 300) -> list[str]:
    paths = []
    for ext in ("pdf", "svg", "png"):
        path = os.path.join(out, f"{stem}.{ext}")
        fig.savefig(path, dpi=dpi if ext == "png" else None, metadata={"Date": None} if ext == "pdf" else None)
        paths.append(path)
    plt.close(fig)
    return paths


def both_widths(draw: Callable[[str], object], out: str, name: str, quick: bool = False) -> list[str]:
    """Draw the figure at one- and two-column width (``draw(tag)`` returns the figure) and save both
    (PNG at 300 dpi, 100 dpi for a quick run)."""
    written = []
    with plt.rc_context(STYLE):
        for tag in WIDTHS:
            written += save(draw(tag), out, f"{name}_{tag}", dpi=100 if quick else 300)
    return written


def write_csv(out: str, name: str, header: Sequence[str], rows: Iterable[Sequence]) -> str:
    path = os.path.join(out, f"{name}.csv")
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return path


def tex_escape(value) -> str:
    text = "" if value is None else (f"{value:,}".replace(",", "{,}") if isinstance(value, int) else str(value))
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"),
                 ("~", r"\textasciitilde{}"), ("^", r"\textasciicircum{}"), ("$", r"\$")):
        if a == "\\" and "{,}" in text:
            continue
        text = text.replace(a, b)
    return text


def write_tex(out: str, name: str, header: Sequence[str], rows: Iterable[Sequence], caption: str,
              align: str | None = None) -> str:
    """A LaTeX ``booktabs`` table (needs ``\\usepackage{booktabs}``)."""
    rows = list(rows)
    align = align or "l" + "r" * (len(header) - 1)
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{tex_escape(caption)}}}", rf"\label{{tab:{name}}}",
             rf"\begin{{tabular}}{{{align}}}", r"\toprule", " & ".join(tex_escape(h) for h in header) + r" \\",
             r"\midrule"]
    lines += [" & ".join(tex_escape(v) for v in row) + r" \\" for row in rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}", ""]
    path = os.path.join(out, f"{name}.tex")
    with open(path, "w") as handle:
        handle.write("\n".join(lines))
    return path


def grid(tag: str, panels: int, height_2col: float, height_1col_per_row: float):
    """(fig, axes): panels side by side at two columns, stacked in one column."""
    if tag == "2col":
        fig, axes = plt.subplots(1, panels, figsize=(WIDTHS[tag], height_2col))
    else:
        fig, axes = plt.subplots(panels, 1, figsize=(WIDTHS[tag], height_1col_per_row * panels))
    return fig, list(axes) if panels > 1 else [axes]


# --------------------------------------------------------------------------- data
def sizes(quick: bool, top: int = 16) -> list[int]:
    return [2 ** k for k in range(2, (8 if quick else top) + 1)]


def bound_series(task: str, ns: Sequence[int], c_gram: int = 3) -> dict[str, tuple[str, list]]:
    """{bound name: (status, bits per n or None)} from theory.bounds.task_bounds (what the CLI prints)."""
    out: dict[str, tuple[str, list]] = {}
    for i, size in enumerate(ns):
        if size < B.min_n(task, c_gram):
            continue
        for b in B.task_bounds(task, size, 2, c_gram):
            status, values = out.setdefault(b.name, (b.status, [None] * len(ns)))
            values[i] = b.bits
    return out


FAMILY_N = {"index": [4, 8], "ar": [4, 8, 16], "cgram": [8, 16], "counting": [4, 8], "istree": [4, 8],
            "prop51": [4, 8, 16]}


def family_brute_force(task: str) -> list[tuple[int, int]]:
    """(n, bits) from enumerating the hard family instance by instance (theory.hard_families)."""
    return [(m, B.log2_ceil(check_family(task, m, 2, 3).rows)) for m in FAMILY_N[task]]


def istree_best_split_brute(ns: Iterable[int]) -> list[tuple[int, int, int]]:
    """(n, j*, states) by brute force over every split (theory.comm)."""
    out = []
    for m in ns:
        splits = comm.istree_all_splits(m)
        best = max(splits, key=lambda s: (s.states or 0, -s.j))
        out.append((m, best.j, best.states))
    return out


# --------------------------------------------------------------------------- figure: bounds
EPSILONS = (0.01, 0.05, 0.1, 0.2)


def fig_bounds(out: str, quick: bool = False) -> list[str]:
    """(a) the strongest proved bound per task; (b) IsTree's bounds; (c) Index with average error."""
    ns = sizes(quick)
    data = {t: bound_series(t, ns) for t in B.TASKS}
    best = {t: [B.strongest(B.task_bounds(t, m)) if m >= B.min_n(t) else None for m in ns] for t in B.TASKS}
    brute = {t: family_brute_force(t) for t in B.TASKS}
    ist = istree_best_split_brute(range(4, 7 if quick else 8))
    eps_grid = [i / 200 for i in range(0, 100)]

    def draw(tag):
        fig, axes = grid(tag, 3, 2.45, 2.3)
        ax = axes[0]
        log2_axes(ax)
        for k, task in enumerate(B.TASKS):
            series(ax, ns, [b.bits if b else None for b in best[task]], B.PROVED, PALETTE[k], MARKERS[k],
                   TITLES[task].replace(" (Prop 5.1)", ""))
        for k, task in enumerate(B.TASKS):
            xs, ys = zip(*[(m, b) for m, b in brute[task] if b > 0])
            series(ax, xs, ys, B.EXACT, PALETTE[k], MARKERS[k], "_nolegend_")
        legend_proxy(ax, B.EXACT, "hard families enumerated [exact]")
        log2_axes(ax)
        ax.set_xlabel("n (tokens; vertices for IsTree)")
        ax.set_ylabel("RNN state, bits")
        ax.set_title("Strongest proved bound")
        ax.legend(loc="upper left", fontsize=5.5)

        ax = axes[1]
        log2_axes(ax)
        names = ["paper two-hub family", "star forests, best split", "all splits, S(n,j+1)+1"]
        labels = ["paper: n − 3", "star forests", "partitions S(n, j+1) + 1"]
        for k, (name, label) in enumerate(zip(names, labels)):
            status, values = data["istree"][name]
            series(ax, ns, values, status, PALETTE[[4, 2, 0][k]], MARKERS[[4, 2, 0][k]], label)
        series(ax, [m for m, _, _ in ist], [B.log2_ceil(s) for _, _, s in ist], B.EXACT, PALETTE[3], "D",
               f"every split, n ≤ {ist[-1][0]}")
        log2_axes(ax)
        ax.set_xlabel("vertices n")
        ax.set_ylabel("RNN state, bits")
        ax.set_title("IsTree: three proved bounds")
        ax.legend(loc="upper left", fontsize=5.5)

        ax = axes[2]
        series(ax, eps_grid, [1 - B.binary_entropy(e) for e in eps_grid], B.PROVED, PALETTE[0], "o",
               "(1 − H(ε)) n bits", markevery=10)
        ax.set_xlim(0, 0.5)
        ax.set_ylim(0, 1.05)
        ax.set_xlabel("average error ε over uniform x and k")
        ax.set_ylabel("RNN state / n (bits per token)")
        ax.set_title("Index with error ε")
        ax.legend(loc="upper right", fontsize=5.5)
        panel_labels(axes)
        fig.tight_layout()
        return fig

    files = both_widths(draw, out, "bounds", quick)
    rows = []
    for task in B.TASKS:
        rows += [(task, m, "strongest: " + b.name, b.bits, b.status, "") for m, b in zip(ns, best[task]) if b]
        for name, (status, values) in data[task].items():
            rows += [(task, m, name, v, status, "") for m, v in zip(ns, values) if v is not None]
        rows += [(task, m, "hard family enumerated", b, B.EXACT, f"n = {m}") for m, b in brute[task]]
    rows += [("istree", m, "every split, brute force", B.log2_ceil(s), B.EXACT, f"j* = {jj}") for m, jj, s in ist]
    rows += [("index", "", f"average error eps = {e:g}", round(1 - B.binary_entropy(e), 6), B.PROVED,
              "bits per token, (1 - H(eps))") for e in EPSILONS]
    files.append(write_csv(out, "bounds", ["task", "n", "bound", "bits", "status", "note"], rows))
    table_n = [m for m in (64, 1024, 8192) if m in ns] or ns[-2:]
    tex_rows = []
    for task in B.TASKS:
        tex_rows.append([TITLES[task].replace(" (Prop 5.1)", "")] +
                        [best[task][ns.index(m)].bits for m in table_n] + [B.PROVED])
    files.append(write_tex(out, "bounds", ["task"] + [f"n = {m:,}" for m in table_n] + ["status"], tex_rows,
                           "RNN state lower bounds in bits (strongest proved bound per task; alphabet 2, c = 3)."))
    return files


# --------------------------------------------------------------------------- figure: state numbers
def fig_state_numbers(out: str, quick: bool = False) -> list[str]:
    """Λ_min, the fewest R_p numbers of state: (a) over n for three p, (b) over odd p at n = 1024."""
    ns = sizes(quick)
    size = 1024
    ps = list(range(3, 130, 2))
    tasks = ("index", "istree")
    per_n = {(t, pp): [B.strongest(B.task_bounds(t, m)).lambda_min(pp) for m in ns] for t in tasks for pp in PRECISIONS}
    per_p = {t: [B.strongest(B.task_bounds(t, size)).lambda_min(pp) for pp in ps] for t in B.TASKS}

    def draw(tag):
        fig, axes = grid(tag, 2, 2.5, 2.3)
        ax = axes[0]
        for k, pp in enumerate(PRECISIONS):
            for t, colour in zip(tasks, (PALETTE[0], PALETTE[3])):
                series(ax, ns, per_n[t, pp], B.PROVED, colour, MARKERS[k], f"{TITLES[t]}, p = {pp}")
        log2_axes(ax)
        ax.set_xlabel("n")
        ax.set_ylabel(r"$\Lambda_{\min}$ (numbers of $R_p$)")
        ax.set_title("State numbers an exact RNN needs")
        ax.legend(fontsize=5.5, ncol=1, loc="upper left")
        ax = axes[1]
        for k, t in enumerate(B.TASKS):   # staggered markers: Index/Counting and AR/Prop 5.1 nearly coincide
            series(ax, ps, per_p[t], B.PROVED, PALETTE[k], MARKERS[k], TITLES[t].replace(" (Prop 5.1)", ""),
                   drawstyle="steps-post", markevery=(k * 2, 12), lw=1.6 - 0.15 * k)
        ax.set_yscale("log", base=2)
        ax.set_xlabel(r"p (odd; $|R_p| = 2^p - 1$ values)")
        ax.set_ylabel(r"$\Lambda_{\min}$ at n = 1024")
        ax.set_title("… and its dependence on p")
        ax.legend(fontsize=5.5, loc="upper right")
        panel_labels(axes)
        fig.tight_layout()
        return fig

    files = both_widths(draw, out, "state_numbers", quick)
    rows = [(t, m, pp, v, B.PROVED) for (t, pp), vals in per_n.items() for m, v in zip(ns, vals)]
    rows += [(t, size, pp, v, B.PROVED) for t, vals in per_p.items() for pp, v in zip(ps, vals)]
    files.append(write_csv(out, "state_numbers", ["task", "n", "p", "lambda_min", "status"], rows))
    tex_rows = [[TITLES[t].replace(" (Prop 5.1)", "")] + [per_p[t][ps.index(pp)] for pp in PRECISIONS] for t in B.TASKS]
    files.append(write_tex(out, "state_numbers", ["task"] + [f"p = {pp}" for pp in PRECISIONS], tex_rows,
                           f"Fewest R_p numbers (2^p - 1 values each) an exact RNN state needs at n = {size:,} (proved)."))
    return files


# --------------------------------------------------------------------------- figure: exact counts
def fig_exact(out: str, quick: bool = False) -> list[str]:
    """Brute-force state counts at every split against the closed forms."""
    ist_ns = list(range(4, 7 if quick else 8))
    splits = {m: comm.istree_all_splits(m) for m in ist_ns}
    dom_n = 6 if quick else 8
    whole = {(t, s): comm.sequence_rows_by_split(t, dom_n, s) for t in ("index", "counting") for s in (2, 3)}
    ar_cases = [(2, 6), (3, 6), (4, 5)] if quick else [(2, 8), (3, 7), (4, 6)]
    ar = {(s, m): comm.sequence_rows_by_split("ar", m, s) for s, m in ar_cases}

    def draw(tag):
        fig, axes = grid(tag, 3, 2.45, 2.3)
        ax = axes[0]
        ax.set_yscale("log", base=2)
        for k, m in enumerate(ist_ns):
            js = list(range(m))
            closed = [B.istree_split_rows(m, jj) for jj in js]
            ax.plot(js, closed, color=PALETTE[k], ls="-", marker=MARKERS[k], ms=2.5)
            series(ax, js, [s.states for s in splits[m]], B.EXACT, PALETTE[k], MARKERS[k], "_nolegend_")
            top = max(range(m), key=lambda jj: closed[jj])
            ax.text(top + 0.25, closed[top] * 1.3, f"n = {m}", color=PALETTE[k], fontsize=6, ha="left",
                    va="bottom")
        legend_proxy(ax, B.PROVED, "S(n, j+1) + [a ≥ 3] [proved, j ≠ 1]")
        legend_proxy(ax, B.EXACT, "brute force [exact]")
        ax.set_xlabel("j = edges Bob holds (Alice: a = n − 1 − j)")
        ax.set_ylabel("states needed at the split")
        ax.set_title("IsTree, every split")
        ax.set_ylim(0.7, 2 ** 13)
        ax.legend(fontsize=5.5, loc="upper left")
        ax = axes[1]
        xs = list(range(dom_n + 1))
        for k, ((t, s), counts) in enumerate(whole.items()):
            closed = B.index_rows_split if t == "index" else B.counting_rows_split
            series(ax, xs, [closed(i, s) for i in xs], B.PROVED, PALETTE[k], MARKERS[k],
                   f"{TITLES[t]}, σ = {s}: " + (r"$\sigma^i$" if t == "index" else "C(i+σ−1, σ−1)"))
            series(ax, xs, counts, B.EXACT, PALETTE[k], MARKERS[k], "_nolegend_")
        ax.set_yscale("log", base=2)
        ax.set_xlabel(f"i = tokens Alice holds (n = {dom_n})")
        ax.set_ylabel("states needed at the split")
        ax.set_title(r"Whole domains $[\sigma]^n$")
        ax.legend(fontsize=5, loc="upper left")
        ax = axes[2]
        for k, ((s, m), counts) in enumerate(ar.items()):
            colour, marker = [(PALETTE[4], "v"), (PALETTE[5], "P"), (PALETTE[7], "X")][k]  # no yellow: too pale
            series(ax, list(range(m + 1)), counts, B.EXACT, colour, marker, f"σ = {s}, n = {m}")
        ax.set_yscale("log", base=2)
        ax.set_xlabel("i = tokens Alice holds")
        ax.set_ylabel("states needed at the split")
        ax.set_title("AR, whole domain (no closed form)")
        ax.legend(fontsize=5.5, loc="lower right")
        for ax in axes:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel_labels(axes)
        fig.tight_layout()
        return fig

    files = both_widths(draw, out, "exact", quick)
    rows = []
    for m in ist_ns:
        for s in splits[m]:
            rows.append(("istree", m, 2, "j", s.j, s.states, B.EXACT, B.istree_split_rows(m, s.j),
                         B.istree_split_status(m, s.j)))
    for (t, s), counts in whole.items():
        closed = B.index_rows_split if t == "index" else B.counting_rows_split
        rows += [(t, dom_n, s, "i", i, v, B.EXACT, closed(i, s), B.PROVED) for i, v in enumerate(counts)]
    for (s, m), counts in ar.items():
        rows += [("ar", m, s, "i", i, v, B.EXACT, None, None) for i, v in enumerate(counts)]
    files.append(write_csv(out, "exact", ["task", "n", "sigma", "split", "at", "states", "status",
                                          "closed_form", "closed_form_status"], rows))
    tex_rows = [[m] + [s.states for s in splits[m]] + [""] * (max(ist_ns) - m) for m in ist_ns]
    files.append(write_tex(out, "exact", ["n"] + [f"j = {jj}" for jj in range(max(ist_ns))], tex_rows,
                           "IsTree: exact states needed when Bob holds the last j of n - 1 edges (brute force); "
                           "equal to S(n, j+1) + [n-1-j >= 3] except at n = 4, j = 1."))
    return files


def write_bound_figures(out: str, quick: bool = False, quiet: bool = True) -> list[str]:
    """The three lower-bound figures, their CSVs and tables, into ``out`` (created if missing)."""
    os.makedirs(out, exist_ok=True)
    files = []
    for make in (fig_bounds, fig_state_numbers, fig_exact):
        files += make(out, quick)
    return files
