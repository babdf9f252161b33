"""Proved vs measured minimal precision against log2 n (``python -m verify.smt --plot FILE``).

*Proved*: :func:`verify.smt.precision.certificate` (the margin argument). *Measured*: the smallest odd p
for which the checker's instances all pass in R_p, read from ``<construction>-<n>.json`` certificates
(``python -m verify.retrieval --task T --n N --min-precision --json ...``, ``python -m verify.istree
--n N --min-precision --json ...``) in ``--measured DIR``; without a directory the retrieval tasks are
measured here (every instance when there are at most 5,000, else 200 seeded samples) and IsTree is
left out (its search takes minutes per size).
"""

from __future__ import annotations

import os

import numpy as np

from constructions import registry
from constructions.runtime.arithmetic import Rp
from theory.precision import P_MAX
from verify import core
from verify.smt.precision import CONSTRUCTIONS, certificate, measured_from_certificate

# Okabe-Ito colour-blind-safe palette, one colour per construction
COLOURS = {"index": "#0072B2", "ar": "#E69F00", "cgram": "#009E73", "counting": "#CC79A7", "istree": "#D55E00"}
MARKERS = {"index": "o", "ar": "s", "cgram": "D", "counting": "v", "istree": "^"}
IN_PROCESS_LIMIT = 5000
SAMPLES = 200


def _measure_retrieval(task: str, n: int) -> tuple[int | None, str]:
    construction = registry.get(task, "transformer")
    t = registry.task_of_size(construction.task, n)
    model = construction.build(t)
    if t.exhaustive_size() <= IN_PROCESS_LIMIT:
        domain, kind = t.domain(), "exhaustive"
    else:
        domain, kind = t.domain(samples=SAMPLES, seed=0), f"{SAMPLES} samples"
    p, _ = core.min_precision(lambda p: core.run(construction, t, model, domain, Rp(p), progress=False).failed == 0,
                              report=lambda s: None)
    return p, kind


def collect(sizes: list[int], measured_dir: str | None) -> list[dict]:
    rows = []
    for name in CONSTRUCTIONS:
        for n in sizes:
            cert = certificate(name, n)
            measured, note = None, "not measured"
            path = os.path.join(measured_dir, f"{name}-{n}.json") if measured_dir else None
            if path and os.path.exists(path):
                measured, note = measured_from_certificate(path)
                label = str(measured) if measured is not None else f"none <= {P_MAX}"
            elif measured_dir is None and name != "istree":
                measured, note = _measure_retrieval(name, n)
                label = str(measured) if measured is not None else f"none <= {P_MAX}"
            else:
                label, note = "-", "not measured"
            rows.append({**cert.as_dict(), "measured_p": measured, "measured_label": label,
                         "measured_note": note, "measured_available": label != "-"})
    return rows


def draw(rows: list[dict], path: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    top = P_MAX + 4  # where "no p <= 53 passes" is drawn
    for j, name in enumerate(CONSTRUCTIONS):
        mine = [r for r in rows if r["construction"] == name]
        col, mk = COLOURS[name], MARKERS[name]
        dx = 0.06 * (j - 2)  # small horizontal offsets so equal values stay visible
        pts = [(np.log2(r["n"]) + dx, r["proved_p"]) for r in mine if r["proved_p"] is not None]
        if pts:
            x, y = zip(*pts)
            ax.plot(x, y, color=col, marker=mk, linestyle="-", linewidth=2, markersize=7,
                    label=f"{name}: proved (margin argument)")
        meas = [(np.log2(r["n"]) + dx, r["measured_p"]) for r in mine if r["measured_available"] and r["measured_p"]]
        if meas:
            x, y = zip(*meas)
            ax.plot(x, y, color=col, marker=mk, linestyle="--", linewidth=1.5, markersize=7,
                    markerfacecolor="white", label=f"{name}: measured (checker)")
        over = [np.log2(r["n"]) + dx for r in mine if r["measured_available"] and r["measured_p"] is None]
        if over:
            ax.scatter(over, [top] * len(over), color=col, marker=mk, facecolors="white", s=49, zorder=3)
    sizes = sorted({r["n"] for r in rows})
    left = np.log2(sizes[0])
    censored = any(r["measured_available"] and r["measured_p"] is None for r in rows)
    if censored:  # the range line and its label only where a point sits on it
        ax.axhline(P_MAX, color="0.4", linestyle=":", linewidth=1)
        ax.text(left, P_MAX + 0.6, f"p = {P_MAX}: largest R_p the runtime computes", fontsize=8, color="0.3")
        ax.text(left, top + 2.5, f"open markers at p = {top}: measured, no p <= {P_MAX} passes", fontsize=8,
                color="0.3")
    uncovered = sorted({r["construction"] for r in rows if r["proved_p"] is None})
    if uncovered:
        ax.text(0.99, 0.02, f"no proved p at some sizes for {', '.join(uncovered)} (the margin argument's\n"
                "conditions cannot all hold there); points are offset sideways slightly", transform=ax.transAxes,
                ha="right", va="bottom", fontsize=8, color="0.3")
    ax.set_xticks([np.log2(n) for n in sizes])
    ax.set_xticklabels([f"{int(np.log2(n))}\n(n={n})" for n in sizes], fontsize=8)
    ax.set_xlabel("log2 n")
    ax.set_ylabel("smallest precision p (bits)")
    ax.set_title("Smallest R_p precision: proved by the margin argument vs measured by the checkers")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="upper left", framealpha=0.9)
    values = [r["proved_p"] for r in rows if r["proved_p"]] + [r["measured_p"] for r in rows if r["measured_p"]]
    ymax = max([top if censored else 0] + values) + 12
    ax.set_ylim(20, ymax)
    fig.tight_layout()
    stem, ext = os.path.splitext(path)
    files = [path]
    extra = ".png" if ext.lower() in (".pdf", ".svg") else ".pdf"
    if ext.lower() not in (".pdf", ".svg", ".png"):
        raise ValueError(f"--plot FILE must end in .png, .pdf or .svg, got {path!r}")
    fig.savefig(path)
    fig.savefig(stem + extra, dpi=150)
    files.append(stem + extra)
    plt.close(fig)
    return files
