"""Draw docs/interp_next_head.png: the IsTree Transformer (Thm 4.7) in TransformerLens on the paper's
Fig 3 graph, the NEXT head's attention pattern, and what ablating that head does to the trace.

    pip install -e ".[interp]"
    python docs/interp_figure.py [--out docs/interp_next_head.png]

Top: the NEXT head's attention (block 5) from every chain-of-thought position (rows) to every
earlier position (columns). Each row's target is the edge record of the current vertex that the
head fetches (its next edge after the counter x'), or position 1 (<s>, the sink) when the vertex has
no further edge. Bottom: the reference next token at each chain-of-thought position, the arg-max of
the exported model, and the arg-max with the NEXT head's output zeroed (teacher forced on the
reference; red where the ablated model disagrees). See docs/interp.md for the walk-through.
"""

from __future__ import annotations

import argparse
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # run from anywhere

from constructions import registry  # noqa: E402
from constructions.export import head_index, to_transformer_lens  # noqa: E402
from theory.tasks.istree import IstreeTask, parse_graph, reference_trace  # noqa: E402

FIG3 = "2-6,1-5,3-5,4-6,2-3"  # Fig 3 of the paper: n = 6, x = 0101, k = 2; a tree


def fig3_run():
    """Everything the figure shows, as plain data (also used by docs/interp.md's numbers)."""
    import torch

    torch.set_num_threads(1)
    task = IstreeTask(6)
    model = registry.get("istree", "transformer").build(task)
    hooked = to_transformer_lens(model)
    graph = parse_graph(FIG3, 6)
    tokens = [str(t) for t in task.prompt(graph) + reference_trace(6, graph)]
    ids = torch.tensor([list(model.vocab.ids(tokens))])
    layer, head = head_index(hooked, "NEXT")

    def ablate(z, hook):
        z[:, :, head] = 0.0
        return z

    with torch.no_grad():
        logits, cache = hooked.run_with_cache(ids)
        ablated = hooked.run_with_hooks(ids, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", ablate)])
    sep = tokens.index("<sep>")
    return {
        "tokens": tokens, "sep": sep, "layer": layer, "head": head,
        "pattern": cache["pattern", layer][0, head].numpy(),
        "clean": model.vocab.tokens(logits[0].argmax(-1).tolist()),
        "ablated": model.vocab.tokens(ablated[0].argmax(-1).tolist()),
    }


def draw(run: dict, out: str) -> None:
    tokens, sep = run["tokens"], run["sep"]
    rows = list(range(sep, len(tokens) - 1))          # CoT positions whose next token the model writes
    pattern = run["pattern"][np.ix_(rows, range(len(tokens) - 1))]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 7.6), gridspec_kw={"height_ratios": [3.2, 1]})
    top.imshow(pattern, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    top.set_xticks(range(pattern.shape[1]))
    top.set_xticklabels([f"{k + 1}\n{t}" for k, t in enumerate(tokens[: pattern.shape[1]])], fontsize=7)
    top.set_yticks(range(len(rows)))
    top.set_yticklabels([f"pos {k + 1}: {tokens[k]}" for k in rows], fontsize=8)
    top.axvline(sep - 0.5, color="grey", lw=0.8, ls=":")
    for i, k in enumerate(rows):
        j = int(np.argmax(pattern[i]))
        top.text(j, i, f"{pattern[i, j]:.2f}", ha="center", va="center", fontsize=6,
                 color="white" if pattern[i, j] > 0.5 else "black")
    top.set_xlabel("key position and token (prompt: <s> u ~ v ... <sep>; then the chain of thought)")
    top.set_title(f"NEXT head (block {run['layer'] + 1}, head {run['head']}) on the Fig 3 graph "
                  f"{FIG3.replace(',', ', ')}: attention from each CoT position", fontsize=10)

    table = [[tokens[k + 1] for k in rows], [run["clean"][k] for k in rows], [run["ablated"][k] for k in rows]]
    bottom.axis("off")
    cells = bottom.table(cellText=table, rowLabels=["reference next token", "exported model arg-max",
                                                    "NEXT ablated arg-max"],
                         colLabels=[f"{k + 1}" for k in rows], loc="center", cellLoc="center")
    cells.auto_set_font_size(False)
    cells.set_fontsize(8)
    for c in range(len(rows)):
        if table[2][c] != table[0][c]:
            cells[3, c].set_facecolor("#f4b6b6")
        if table[1][c] == table[0][c]:
            cells[2, c].set_facecolor("#d9f0d3")
    bottom.set_title("teacher-forced on the reference trace: with NEXT zeroed, every descent becomes a return to "
                     "the parent (greedy decoding writes 1, NO)", fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=130)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "interp_next_head.png"))
    a = p.parse_args(argv)
    draw(fig3_run(), a.out)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
