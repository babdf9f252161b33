"""Z3 proofs of the gadget lemmas and small whole models: ``python -m verify.smt --gadget all --n 16``.

What is proved (docs/smt.md states each claim and its domain):
  --gadget NAME|all        the lemma of each FFN gadget (C.1-C.6, next-hat, positions, read-out) and
                           attention block (C.13-C.18) for the weights its builder returns, over the
                           whole stated input domain for size n; for attention blocks also that the
                           margin makes softmax round to one-hot at --p bits:
                           beta gap >= (q + 1) ln 2 + ln L, q = (p - 1) / 2
  --construction NAME|all  index, ar, cgram: the hard-attention forward pass over EVERY instance of each
                           size 2..n (whole alphabet) yields the reference answer with unique arg-maxes;
                           istree: block FFNs 1, 4, 5, 6, the block-7 read-out decision and the
                           EDGE/PARENT/NEXT/NEXT2/VISITED margins
  --certify NAME|all       the precision certificate of each Transformer construction at --sizes: the
                           smallest odd p for which the margin argument (with the rounding-error bound
                           for COUNT's 1/(m+1) in Counting and IsTree) proves R_p correct, and why
  --plot FILE              the smallest p the margin argument certifies vs the smallest p the checkers
                           measure (--measured DIR of their --json certificates), against log2 n
Exit codes: 0 everything proved; 1 a counterexample (printed as a concrete input) or a margin too
small for --p; 2 bad usage; 3 no counterexample but some proof timed out (not verified).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from fractions import Fraction

from constructions import registry
from constructions.runtime import io as model_io
from theory.precision import P_MAX, check_p
from verify import cli
from verify.smt import istree as smt_istree
from verify.smt import models as smt_models
from verify.smt.encode import discharge, max_q, one_hot_bound
from verify.smt.gadgets import GADGETS, length_for
from verify.smt.plot import collect, draw
from verify.smt.precision import CONSTRUCTIONS as CERTIFIABLE, certificate

EXIT_TIMEOUT = 3
MAX_N = 256  # gadget domains grow like n^2 positions; whole constructions are proved far below this
DEFAULT_P = 53  # the margins are calibrated for float64 (53-bit) checks; see docs/smt.md
CONSTRUCTIONS = ["index", "ar", "cgram", "istree"]
DEFAULT_SIZES = [4, 8, 16, 32, 64, 128, 256]


# -- rows ------------------------------------------------------------------------------------------------
def gadget_row(name: str, n: int, p: int, timeout: float, built=None) -> dict:
    g = GADGETS[name]
    started = time.time()
    built = g.build(n) if built is None else built
    obs = g.obligations(n, built)
    out = discharge(obs, timeout)
    row = {"kind": "gadget", "name": name, "lemma": g.lemma, "claim": g.claim, "domain": g.domain(n), "n": n,
           "obligations": len(obs), "status": out.status, "seconds": round(time.time() - started, 3),
           "failed": out.failed, "counterexample": out.counterexample}
    if g.beta_gap is not None:
        bg, L = g.beta_gap(n, built), length_for(n)
        q = (p - 1) // 2
        row.update(beta_gap=float(bg), L=L, one_hot_p=p, one_hot=one_hot_bound(Fraction(bg), q, L),
                   one_hot_q_max=max_q(Fraction(bg), L))
        if out.status == "proved" and not row["one_hot"]:
            row.update(status="counterexample", failed=f"margin: beta gap = {float(bg)} < (q+1) ln 2 + ln L at p = {p}")
    return row


def _construction_obligations(name: str, n: int, model):
    if name == "index":
        return smt_models.index_obligations(model, n)
    if name == "ar":
        return smt_models.ar_obligations(model, n)
    if name == "cgram":
        return smt_models.cgram_obligations(model, n, 3)
    return smt_istree.obligations(n, model)


def build_construction(name: str, n: int):
    """The catalogue's Transformer for ``name`` at size n (c-gram: c = 3)."""
    construction = registry.get(name, "transformer")
    return construction.build(registry.task_of_size(construction.task, n))


CLAIMS = {
    "index": "hard-attention forward pass: unique arg-max in every column read; read-out arg-max = x_i",
    "ar": "hard-attention forward pass: unique arg-max in every column read; read-out arg-max = the token "
          "after the first occurrence of q",
    "cgram": "c = 3: unique arg-maxes; read-out arg-max = the token after the first occurrence of the 2-gram",
    "istree": "block FFNs 1, 4, 5, 6 compute their documented functions; block 7 read-out emits the documented "
              "decision by logit margin >= 1; EDGE, NEXT, NEXT2, VISITED: target 0, sink -beta, others <= -2 beta; "
              "PARENT: earliest occurrence wins by beta",
}


def construction_row(name: str, n: int, timeout: float, model=None) -> dict:
    started = time.time()
    model = build_construction(name, n) if model is None else model
    obs = _construction_obligations(name, n, model)
    out = discharge(obs, timeout, deadline=started + timeout)
    domain = (f"every instance of size n = {n}, tokens in 1..{n}" if name != "istree"
              else f"vertices 0..{n}, counters 1/a (a = 2..{n}), x' = 1/b (b = 1..{n})")
    return {"kind": "construction", "name": name, "lemma": "Thm 4.6" if name != "istree" else "Thm 4.7 step",
            "claim": CLAIMS[name], "domain": domain, "n": n, "obligations": len(obs), "status": out.status,
            "seconds": round(time.time() - started, 3), "failed": out.failed, "counterexample": out.counterexample}


# -- output ----------------------------------------------------------------------------------------------
def print_table(rows: list[dict]) -> None:
    cli.say(f"{'kind':<13}{'name':<15}{'lemma':<14}{'n':>4}  {'status':<15}{'time':>8}  {'obl':>4}  margin")
    for r in rows:
        margin = ""
        if "beta_gap" in r:
            margin = (f"beta*gap={r['beta_gap']:g}; one-hot at p={r['one_hot_p']}: "
                      f"{'yes' if r['one_hot'] else 'NO'} (q <= {r['one_hot_q_max']})")
        cli.say(f"{r['kind']:<13}{r['name']:<15}{r['lemma']:<14}{r['n']:>4}  {r['status']:<15}"
              f"{r['seconds']:>7.2f}s  {r['obligations']:>4}  {margin}")
    for r in rows:
        if r["status"] == "counterexample":
            cli.say(f"\ncounterexample: {r['kind']} {r['name']} (n = {r['n']}), obligation {r['failed']!r}")
            if r["counterexample"]:
                cli.say("  input: " + ", ".join(f"{k} = {v}" for k, v in r["counterexample"].items()))
        elif r["status"] == "timeout":
            cli.say(f"\ntimeout: {r['kind']} {r['name']} (n = {r['n']}) at obligation {r['failed']!r}")


def print_certificates(certs: list[dict]) -> None:
    cli.say("precision certificates (margin argument, App. A.2 rounding): proved p = 2q + 1")
    cli.say(f"  {'construction':<13}{'n':>5}{'L':>8}  {'p':>4}  {'q range':>7}  {'q one-hot':>9}  "
            f"{'logit error':>11}  rounded")
    for c in certs:
        err = "-" if c["logit_error_bound"] is None else f"{c['logit_error_bound']:.3g}"
        rounded = ", ".join(c["rounded_coordinates"][:4]) + (" ..." if len(c["rounded_coordinates"]) > 4 else "")
        cli.say(f"  {c['construction']:<13}{c['n']:>5}{c['L']:>8}  {c['proved_p'] or 'none':>4}  "
                f"{c['q_needed'] if c['q_needed'] is not None else '-':>7}  {c['q_one_hot_max']:>9}  "
                f"{err:>11}  {rounded or 'none (exact)'}" + (f"  [{c['note']}]" if c["note"] else ""))


def parse_args(argv):
    p = cli.ArgumentParser(prog="python -m verify.smt", description=__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gadget", metavar="NAME", help="a gadget name or 'all' (see --list)")
    p.add_argument("--construction", metavar="NAME", help=f"one of {', '.join(CONSTRUCTIONS)} or 'all'")
    p.add_argument("--n", type=int, help="size n (gadgets: values 1..n, L = 5n; constructions: sizes 2..n)")
    p.add_argument("--p", type=int, default=DEFAULT_P,
                   help=f"precision (odd bits, 3..{P_MAX}) at which the softmax must round to one-hot "
                        f"(default {DEFAULT_P}); more bits of precision need a larger beta * gap")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per gadget / construction size")
    p.add_argument("--weights", metavar="FILE.npz", help="prove a saved model (one --construction, size n only)")
    p.add_argument("--certify", metavar="NAME",
                   help=f"print the precision certificate of one of {', '.join(CERTIFIABLE)} or 'all' at --sizes")
    p.add_argument("--plot", metavar="FILE", help="draw proved vs measured minimal precision (PNG plus PDF/SVG)")
    p.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)),
                   help="comma-separated sizes n for --certify and --plot (default %(default)s)")
    p.add_argument("--measured", metavar="DIR",
                   help="directory of checker certificates <construction>-<n>.json written with --min-precision")
    p.add_argument("--list", action="store_true", help="list the gadgets and constructions, then exit")
    p.add_argument("--json", metavar="FILE", help="write a certificate to FILE ('-' for stdout)")
    return p.parse_args(argv)


def _validate(a):
    if a.list:
        return
    if not (a.gadget or a.construction or a.plot or a.certify):
        raise cli.UsageError("give --gadget NAME|all, --construction NAME|all, --certify NAME|all or --plot FILE")
    if a.certify and a.certify != "all" and a.certify not in CERTIFIABLE:
        raise cli.UsageError(f"unknown construction {a.certify!r} for --certify; known: {', '.join(CERTIFIABLE)}")
    if (a.gadget or a.construction) and a.n is None:
        raise cli.UsageError("--n is required with --gadget / --construction")
    cli.check_range("--n", a.n, 2, MAX_N)
    check_p(a.p)
    cli.check_output_path(a.json)
    cli.check_output_path(a.plot, "--plot")
    if a.timeout <= 0:
        raise cli.UsageError("--timeout must be positive")
    if a.weights:
        if a.construction in (None, "all") or a.gadget:
            raise cli.UsageError("--weights needs exactly one --construction (and no --gadget)")
        if not os.path.exists(a.weights):
            raise cli.UsageError(f"no such weights file: {a.weights}")
    if a.construction and a.construction != "all" and a.construction not in CONSTRUCTIONS:
        raise cli.UsageError(f"unknown construction {a.construction!r}; known: {', '.join(CONSTRUCTIONS)}")
    if a.measured and not os.path.isdir(a.measured):
        raise cli.UsageError(f"--measured must be a directory: {a.measured}")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in text.split(",") if s]
    except ValueError:
        raise cli.UsageError(f"--sizes must be comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) < 2 or max(sizes) > 4096:
        raise cli.UsageError("--sizes needs sizes in 2..4096")
    return sizes


@cli.main_guard
def main(argv=None) -> int:
    a = parse_args(argv)
    _validate(a)
    if a.list:
        for name, g in GADGETS.items():
            cli.say(f"gadget        {name:<15}{g.lemma:<9}{g.claim}")
        for name in CONSTRUCTIONS:
            cli.say(f"construction  {name:<15}{CLAIMS[name]}")
        return cli.EXIT_OK
    cli.route_summary(a.json)
    started = time.time()
    command = ["python -m verify.smt"] + (sys.argv[1:] if argv is None else list(argv))
    rows: list[dict] = []
    if a.gadget:
        names = list(GADGETS) if a.gadget == "all" else [a.gadget]
        for name in names:
            if name not in GADGETS:
                raise cli.UsageError(f"unknown gadget {name!r}; known: {', '.join(GADGETS)}")
            rows.append(gadget_row(name, a.n, a.p, a.timeout))
    if a.construction:
        names = CONSTRUCTIONS if a.construction == "all" else [a.construction]
        for name in names:
            if a.weights:
                model = model_io.load(a.weights)
                model_io.check_compatible(model, build_construction(name, a.n))
                rows.append(construction_row(name, a.n, a.timeout, model))
            elif name == "istree":
                rows.append(construction_row(name, a.n, a.timeout))
            else:
                low = 3 if name == "cgram" else 2
                rows += [construction_row(name, m, a.timeout) for m in range(low, a.n + 1)]
    certified = None
    if a.certify:
        names = CERTIFIABLE if a.certify == "all" else [a.certify]
        certified = [certificate(name, n).as_dict() for name in names for n in _sizes(a.sizes)]
        print_certificates(certified)
    plot_data = None
    if a.plot:
        plot_data = collect(_sizes(a.sizes), a.measured)
        files = draw(plot_data, a.plot)
        cli.say("precision: construction, n, proved p (margin argument), measured p (checker)")
        for row in plot_data:
            cli.say(f"  {row['construction']:<10}{row['n']:>5}  proved {row['proved_p'] or '-':>4}  "
                  f"measured {row['measured_label']}")
        cli.say("wrote " + ", ".join(files))
    if rows:
        print_table(rows)
    bad = [r for r in rows if r["status"] == "counterexample"]
    slow = [r for r in rows if r["status"] == "timeout"]
    if rows:
        cli.say(f"\n{len(rows) - len(bad) - len(slow)} proved, {len(bad)} counterexample, {len(slow)} timeout "
              f"({time.time() - started:.1f} s)")
    cert = cli.certificate(command=command, domain={"n": a.n, "p": a.p, "gadget": a.gadget,
                                                    "construction": a.construction},
                           checked=len(rows), failures=bad + slow, verified=not bad and not slow,
                           started=started, results=rows, precision=plot_data,
                           precision_certificates=certified)
    cli.write_json(a.json, cert)
    if bad:
        return cli.EXIT_COUNTEREXAMPLE
    return EXIT_TIMEOUT if slow else cli.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
