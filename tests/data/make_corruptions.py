"""Generate the regression corpus of corrupted weights: ``python tests/data/make_corruptions.py``.

For every construction at a small size, every nonzero weight is corrupted one at a time (scaled by
1.2, or set to 0). A corruption enters the corpus when it changes behaviour — some instance of a wide
domain fails (the full alphabet [n]^n for the retrieval tasks; every edge order and other edge counts
for IsTree) — and yet the *narrow* domain that the checkers used by default before passes it
(small alphabets only; one edge order of n - 1 edges). These are the faults a default run used to
miss. ``tests/verify/test_corruption_corpus.py`` checks that the default run of each checker now
exits 1 on every one of them.

The corpus is a small JSON file of (construction, size, array, index, factor) records, not weights:
the test rebuilds each model and applies its corruption. Reference sequences do not depend on the
weights, so each domain's sequences are built once and every corruption is one teacher-forced pass.
The script also reports corruptions that the new default runs miss (there should be none).
``--stride K`` corrupts every K-th nonzero weight only; each record says which stride found it.

The corpus in the repository comes from every construction of CONFIGS at stride 1 (about 10 minutes
on one core in all), except ``istree/rag``: its 1,564 weights each need the 2,000-graph wide domain
whenever the narrow one passes, about 8 s per weight, so its sweep was stopped after 176 weights at
stride 3 (the first third of the model, through ``rnn.block1``), none of which the narrow domain
missed. The rest of that model is not covered by the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from constructions import registry
from theory.tasks.base import Domain
from theory.tasks.turing import TuringTask
from verify import core

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corruptions.json")
FACTORS = (1.2, 0.0)

# (task, family, task parameters): small sizes, so that every domain is cheap
CONFIGS = [("istree", "transformer", {"n": 5}), ("istree", "hybrid", {"n": 4}), ("istree", "rag", {"n": 4}),
           *[(t, f, {"n": 5}) for t in ("index", "ar", "cgram", "counting") for f in ("transformer", "hybrid", "rag")],
           ("turing", "rag", {"machine": "parity", "max_len": 3}),
           ("turing", "hybrid", {"machine": "parity", "max_len": 3})]


def make_task(name: str, params: dict):
    if name == "turing":
        return TuringTask(params["machine"], params["max_len"])
    return registry.task_class(name)(params["n"])


def domains(name: str, task) -> tuple[Domain, Domain, Domain]:
    """(narrow: the old default, new: today's default, wide: where behaviour is judged)."""
    if name == "istree":
        full = task.domain()
        narrow = Domain(full.parts[:1], full.chunk_size)
        wide = Domain(task.domain(orders="all").parts[:1] + [task.domain(seed=7).parts[2]], full.chunk_size)
        return narrow, full, wide
    if name == "turing":
        d = task.domain()
        return d, d, d
    full = task.domain()
    narrow = Domain(full.parts[:-1], full.chunk_size)  # the exhaustive parts, without the new samples
    wide = Domain(task.domain(alphabet="full").parts + narrow.parts, full.chunk_size)
    return narrow, full, wide


def sequences(construction, task, model, domain: Domain) -> list[core.Sequences]:
    return [core.build_sequences(construction, task, model, domain.chunk(c)[1]) for c in range(domain.n_chunks)]


def passes(model, seqs: list[core.Sequences]) -> bool:
    return all(core.teacher_force_all(model, s).ok.all() for s in seqs)


def sweep(name: str, family: str, params: dict, report, stride: int = 1) -> list[dict]:
    construction = registry.get(name, family)
    task = make_task(name, params)
    model = construction.build(task)
    narrow, new, wide = (sequences(construction, task, model, d) for d in domains(name, task))
    assert passes(model, narrow) and passes(model, new) and passes(model, wide), f"{name}/{family} fails uncorrupted"
    found = []
    arrays = model.named_arrays()
    weights = [(array_name, tuple(int(i) for i in index))
               for array_name, arr in arrays.items() for index in zip(*np.nonzero(arr))]
    for array_name, index in weights[::stride]:
        arr = arrays[array_name]
        original = arr[index]
        for factor in FACTORS:
            arr[index] = original * factor
            try:
                if passes(model, narrow) and not passes(model, wide):
                    caught = not passes(model, new)
                    found.append({"construction": construction.name, "params": params, "array": array_name,
                                  "index": list(index), "factor": factor, "caught_by_default": caught})
                    report(f"  {construction.name} {array_name}{list(index)} x{factor}: "
                           f"{'caught' if caught else 'MISSED'} by the default run")
            finally:
                arr[index] = original
    return found


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", help="one construction, e.g. istree/transformer")
    p.add_argument("--out", default=OUT)
    p.add_argument("--stride", type=int, default=1,
                   help="corrupt every K-th nonzero weight only (default 1: every one); for the slow sweeps")
    a = p.parse_args()
    corpus, started = [], time.time()
    for name, family, params in CONFIGS:
        if a.only and a.only != f"{name}/{family}":
            continue
        t = time.time()
        found = sweep(name, family, params, lambda s: print(s, file=sys.stderr), a.stride)
        for record in found:
            record["stride"] = a.stride
        print(f"{name}/{family}: {len(found)} faults the narrow domain missed ({time.time() - t:.0f} s)",
              file=sys.stderr)
        corpus += found
    if a.only and os.path.exists(a.out):  # keep the other constructions' records
        with open(a.out) as handle:
            old = json.load(handle)["corruptions"]
        corpus = [c for c in old if c["construction"] != a.only] + corpus
    with open(a.out, "w") as handle:
        json.dump({"generated_by": "python tests/data/make_corruptions.py", "factors": FACTORS,
                   "corruptions": corpus}, handle, indent=1)
        handle.write("\n")
    missed = [c for c in corpus if not c["caught_by_default"]]
    print(f"{len(corpus)} corruptions in {time.time() - started:.0f} s; {len(missed)} missed by the default runs",
          file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
