"""Time exact R_p representations on the IsTree Transformer's teacher-forced check.

    python benchmarks/rp_arithmetic.py [--n 16] [--samples 200] [--p 63 127] [--repeat 3]

Candidates, all giving the same logits bit for bit (checked here) except float64:
* ``float64``: the plain float64 forward pass (not R_p; the speed to aim at);
* ``ints, reference``: grid integers as Python ints in numpy object arrays, every operation by the
  sequential definition (``Rp(p, fast=False)``);
* ``ints, shortcuts``: the same plus the float64/int64 shortcuts that a bound proves exact (``Rp(p)``);
* ``mpz, shortcuts``: the same with gmpy2.mpz elements instead of Python ints (only if gmpy2 is installed).
Prints the median of --repeat runs per candidate and the ratio to float64 and to ``ints, shortcuts``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from constructions.runtime import exact
from constructions.runtime.arithmetic import FLOAT64, Rp
from constructions.runtime.decode import teacher_force
from verify.cli import single_threaded_blas
from verify.istree import MODEL_KINDS, Domain, reference_sequences


def batches(n: int, samples: int):
    kind = MODEL_KINDS["transformer"]
    model = kind.build(n)
    _, graphs = Domain(n, n - 1, "one", samples, 0).chunk(0)
    seqs, seps, _ = reference_sequences(model, kind, n, graphs)
    out = []
    lengths = np.array([len(s) for s in seqs])
    for length in np.unique(lengths):  # equal lengths, as the checker batches them
        idx = np.flatnonzero(lengths == length)
        ids = np.stack([seqs[i] for i in idx])
        check = np.zeros(ids.shape, dtype=bool)
        for r, i in enumerate(idx):
            check[r, seps[i]:-1] = True
        out.append((ids, check))
    return model, out


def run(model, parts, mode):
    start = time.perf_counter()
    results = [teacher_force(model, ids, check, mode) for ids, check in parts]
    return time.perf_counter() - start, results


class _Mpz:
    """Swap Python ints for gmpy2.mpz wherever exact.py makes grid integers (a measurement hack)."""

    def __enter__(self):
        import gmpy2

        to_mpz = np.frompyfunc(gmpy2.mpz, 1, 1)
        self.saved = exact.float_ints, exact.exp_round, exact.round_floats
        exact.float_ints = lambda k: to_mpz(self.saved[0](k))
        exact.exp_round = lambda d, p: gmpy2.mpz(self.saved[1](d, p))
        exact.round_floats = lambda x, p: to_mpz(self.saved[2](x, p))
        return self

    def __exit__(self, *exc):
        exact.float_ints, exact.exp_round, exact.round_floats = self.saved


def main() -> None:
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("--n", type=int, default=16)
    a.add_argument("--samples", type=int, default=200)
    a.add_argument("--p", type=int, nargs="+", default=[63, 127])
    a.add_argument("--repeat", type=int, default=3)
    args = a.parse_args()
    single_threaded_blas()
    model, parts = batches(args.n, args.samples)
    print(f"IsTree Transformer, n = {args.n}, {args.samples} sampled graphs, {len(parts)} batches; "
          f"median of {args.repeat} runs")
    base = statistics.median(run(model, parts, FLOAT64)[0] for _ in range(args.repeat))
    print(f"  float64 (not R_p)         {base:8.2f} s")
    try:
        import gmpy2  # noqa: F401
        have_mpz = True
    except ImportError:
        have_mpz = False
    for p in args.p:
        times, answers = {}, {}
        for name, mode in (("ints, reference", Rp(p, fast=False)), ("ints, shortcuts", Rp(p)),
                           ("mpz, shortcuts", Rp(p) if have_mpz else None)):
            if mode is None:
                continue
            runs = []
            for _ in range(args.repeat):
                if name.startswith("mpz"):
                    with _Mpz():
                        t, res = run(model, parts, Rp(p))  # a fresh Mode: no cached Grid
                else:
                    t, res = run(model, parts, mode)
                runs.append(t)
            times[name] = statistics.median(runs)
            answers[name] = [(r.argmax.tolist(), r.unique.tolist()) for r in res]
        same = all(v == answers["ints, shortcuts"] for v in answers.values())
        for name, t in times.items():
            print(f"  p = {p:3d}  {name:18s} {t:8.2f} s   x{t / base:6.1f} float64   "
                  f"ratio to ints, shortcuts: {t / times['ints, shortcuts']:.2f}")
        print(f"  p = {p:3d}  same arg-max and ties in every candidate: {same}")


if __name__ == "__main__":
    main()
