"""Conventions shared by every checker (``python -m verify.<name>``).

* Exit codes: 0 everything verified, 1 a counterexample was found, 2 bad usage or input.
* Bad input raises :class:`UsageError` (or ``ValueError`` from the library); :func:`main_guard`
  turns it into a one-line message on stderr and exit code 2, never a traceback.
* ``--json FILE`` writes a certificate (:func:`certificate`): what was checked, how many instances,
  failures, model size, sha256 of the weights, arithmetic mode, package versions, wall time.
* Progress bars go to stderr (:func:`progress`); results go to stdout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from importlib import metadata
from typing import Any, Callable, Iterable

EXIT_OK = 0
EXIT_COUNTEREXAMPLE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad usage or bad input: reported as one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors exit with code 2 and a single line naming the problem."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through CLI tests
        raise UsageError(message)


def main_guard(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a checker's ``main(argv) -> exit code`` so bad input never shows a traceback."""

    def wrapped(argv: list[str] | None = None) -> int:
        try:
            with single_threaded_blas():
                return main(argv)
        except (UsageError, ValueError) as exc:
            print(f"{_prog(main)}: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:  # pragma: no cover
            print("interrupted", file=sys.stderr)
            return 130

    wrapped.__name__ = main.__name__
    wrapped.__doc__ = main.__doc__
    return wrapped


def single_threaded_blas():
    """Limit BLAS to one thread (forked workers inherit it).

    The checkers' matrix products are many small ones, and parallelism comes from worker processes;
    a multi-threaded OpenBLAS on a shared 2-core machine made the Thm 5.4 check of binary_add at
    length 6 take 483 s instead of 16 s (threads spinning against each other).
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _prog(main) -> str:
    """``verify.<name>`` for the checker being run, also under ``python -m``."""
    module = main.__module__
    if module == "__main__":
        module = "verify." + os.path.splitext(os.path.basename(sys.argv[0]))[0]
    return module


def add_common_arguments(parser: argparse.ArgumentParser, *, model_kinds: Iterable[str] = ()) -> None:
    """The arguments every checker understands."""
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for every random choice (edge orders, samples); default 0")
    parser.add_argument("--json", metavar="FILE",
                        help="write a machine-readable certificate to FILE ('-' for stdout)")
    parser.add_argument("--no-progress", action="store_true",
                        help="do not draw progress bars on stderr")
    kinds = list(model_kinds)
    if kinds:
        parser.add_argument("--model", choices=kinds, default=kinds[0],
                            help=f"which construction to check (default {kinds[0]})")


def add_arithmetic_arguments(parser: argparse.ArgumentParser) -> None:
    """``--mode``, ``--p`` and ``--min-precision``."""
    parser.add_argument("--mode", choices=["float64", "hard", "rp"], default="float64",
                        help="arithmetic: float64 (default), hard (attention = uniform average over "
                             "the arg-max keys) or rp (the paper's p-bit fixed point, needs --p)")
    parser.add_argument("--p", type=int, metavar="P",
                        help="bits of precision for --mode rp (odd, >= 3)")
    parser.add_argument("--min-precision", action="store_true",
                        help="search the smallest odd p for which every checked instance passes in rp mode")
    parser.add_argument("--weights", metavar="FILE.npz",
                        help="check weights loaded from FILE.npz instead of the built ones")


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/K"`` -> (I, K) with 0 <= I < K; ``None`` -> (0, 1)."""
    if text is None:
        return 0, 1
    try:
        i_text, k_text = text.split("/")
        i, k = int(i_text), int(k_text)
    except ValueError:
        raise UsageError(f"--shard must look like I/K (e.g. 0/4), got {text!r}") from None
    if k < 1 or not 0 <= i < k:
        raise UsageError(f"--shard I/K needs 0 <= I < K, got {text!r}")
    return i, k


def sha256_file(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("numpy", "networkx", "sympy", "z3-solver", "hypothesis", "rnn-icr-toolkit"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def certificate(*, command: list[str], domain: dict[str, Any], checked: int, failures: list[Any],
                verified: bool, started: float, **extra: Any) -> dict[str, Any]:
    """The JSON certificate every checker writes with ``--json``."""
    cert: dict[str, Any] = {
        "command": " ".join(command),
        "domain": domain,
        "instances_checked": int(checked),
        "failures": failures,
        "verified": bool(verified),
        "versions": package_versions(),
        "wall_time_seconds": round(time.time() - started, 3),
    }
    cert.update(extra)
    return cert


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    text = json.dumps(payload, indent=2, sort_keys=False, default=_jsonable)
    if path == "-":
        print(text)
    else:
        with open(path, "w") as handle:
            handle.write(text + "\n")


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def progress(total: int, desc: str, disable: bool = False):
    """A tqdm bar on stderr; silent when disabled or when the job is tiny."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, file=sys.stderr, disable=disable or total < 2,
                unit="inst", dynamic_ncols=True, mininterval=0.5)
