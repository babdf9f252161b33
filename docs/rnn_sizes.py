"""Measure the library RNNs as circuits and their Thm 4.8 Transformers; write docs/rnn_sizes.png.

    python docs/rnn_sizes.py [--out docs/rnn_sizes.png] [--table]

For each library RNN (parity and mod3 for L = 2..8, the Thm 4.1 RNN of several machines for
L = 2..4) and the longest input of its domain: the gate count C, the state (Lambda numbers of p
bits, and how many of those bits the circuit reads), the Transformer's nonzero parameters and
heads, and the CoT length, measured from the gate trace and compared with (l + T - 1)(C + 1).
Building and interpreting only (no Transformer forward pass): a few seconds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from constructions.rnn import library  # noqa: E402
from constructions.rnn.compile import compile_rnn  # noqa: E402
from constructions.transformer.rnn_sim import build_rnn_transformer  # noqa: E402
from theory import circuit as tc  # noqa: E402
from theory.turing import load_machine, run  # noqa: E402

CASES = ([("parity", L) for L in range(2, 9)] + [("mod3", L) for L in range(2, 9)]
         + [(f"logspace:{m}", L) for m in ("parity", "div3", "anbn", "palindrome", "brackets") for L in (2, 3, 4)])


def measure(name: str, L: int) -> dict:
    entry = library.get(name)
    rnn = entry.build(L)
    circuit = compile_rnn(rnn, name=name)
    words = list(entry.words(L))
    if name.startswith("logspace:"):  # the longest run; for the small RNNs every input of length L is alike
        machine = load_machine(name.split(":", 1)[1])
        word = max(words, key=lambda w: run(machine, w).steps)
    else:
        word = max(words, key=len)
    prompt = entry.prompt(word, L)
    trace = tc.gate_trace(circuit, prompt)
    T = len(entry.reference(word))
    model = build_rnn_transformer(circuit, len(prompt) + len(trace))
    size = model.size()
    state_bits = sum(1 for g in circuit.gates if g[0] == "state")
    return {"name": name, "L": L, "C": circuit.size, "counts": circuit.counts(), "Lambda": circuit.state_dim,
            "p": circuit.p, "state_bits_read": state_bits, "prompt": len(prompt), "T": T, "cot": len(trace),
            "formula": tc.trace_length(circuit, len(prompt), T), "params": size["nonzero_parameters"],
            "heads": size["heads_total"], "depth": size["depth"], "rnn_params": _rnn_params(rnn)}


def _rnn_params(rnn) -> int:
    import numpy as np

    total = 0
    for b in rnn.blocks:
        total += int(np.count_nonzero(b.unit.A)) + int(np.count_nonzero(b.unit.B))
        if b.ffn is not None:
            f = b.ffn
            total += sum(int(np.count_nonzero(a)) for a in (f.W_1, f.b_1, f.W_2, f.b_2, f.W_3, f.b_3))
    return total


def plot(rows: list[dict], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    families = {}
    for r in rows:
        families.setdefault(r["name"].split(":")[0] if r["name"].startswith("logspace") else r["name"], []).append(r)
    markers = {"parity": "o", "mod3": "s", "logspace": "^"}
    for fam, rs in families.items():
        axes[0].scatter([r["C"] for r in rs], [r["params"] for r in rs], marker=markers[fam], label=fam)
        axes[1].scatter([r["C"] for r in rs], [r["cot"] for r in rs], marker=markers[fam], label=fam)
        axes[2].scatter([r["C"] for r in rs], [r["cot"] / (r["prompt"] + r["T"] - 1) for r in rs],
                        marker=markers[fam], label=fam)
    cs = sorted(r["C"] for r in rows)
    axes[0].plot(cs, [10 * c + 500 for c in cs], "k:", lw=1, label="10 C + 500")
    axes[0].set(xlabel="gates per RNN step C", ylabel="nonzero Transformer parameters",
                title="Thm 4.8: parameters grow linearly in C")
    axes[1].set(xlabel="gates per RNN step C", ylabel="CoT tokens (longest input)", yscale="log",
                title="CoT length of the longest input")
    axes[2].plot(cs, [c + 1 for c in cs], "k:", lw=1, label="C + 1")
    axes[2].set(xlabel="gates per RNN step C", ylabel="CoT tokens / RNN steps (l + T - 1)",
                title="CoT = (l + T - 1)(C + 1)")
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).with_name("rnn_sizes.png")))
    ap.add_argument("--table", action="store_true", help="print a markdown table of the measurements")
    a = ap.parse_args(argv)
    rows = [measure(n, L) for n, L in CASES]
    for r in rows:
        assert r["cot"] == r["formula"], r
    plot(rows, a.out)
    if a.table:
        print("| RNN | L | C | and/xor/in/state/const | Lambda x p | state bits read | prompt l | RNN CoT T "
              "| CoT (l+T-1)(C+1) | RNN params | Transformer params |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for r in rows:
            k = r["counts"]
            print(f"| {r['name']} | {r['L']} | {r['C']} | {k['and']}/{k['xor']}/{k['input']}/{k['state']}/{k['const']} "
                  f"| {r['Lambda']} x {r['p']} | {r['state_bits_read']} | {r['prompt']} | {r['T']} | {r['cot']:,} "
                  f"| {r['rnn_params']} | {r['params']:,} |")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
