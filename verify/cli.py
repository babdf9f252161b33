"""Conventions shared by every command (``python -m verify.<name>``).

* Exit codes: 0 everything verified, 1 a counterexample was found, 2 bad usage or input.
* Bad input raises :class:`UsageError` (or ``ValueError`` from the library); :func:`main_guard`
  turns it into one line on stderr and exit code 2, never a traceback. A closed stdout (``| head``)
  ends the command quietly.
* ``--json FILE`` writes a certificate (:func:`certificate`): the command, what was checked, how
  many instances, failures, the model's shape and weights hash, the arithmetic, package versions,
  the git commit, wall time, and a checksum over all of it. The path is checked before any work
  is done. With ``--json -`` the certificate goes to stdout and the summary to stderr.
* Progress bars go to stderr (:func:`progress`); results go to stdout (:func:`say`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any, Callable, Iterable

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from theory.precision import P_MAX

EXIT_OK = 0
EXIT_COUNTEREXAMPLE = 1
EXIT_USAGE = 2

_summary_stream = None  # where say() prints: stdout, or stderr when the certificate goes to stdout


class UsageError(Exception):
    """Bad usage or bad input: reported as one line, exit code 2."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but usage errors exit with code 2 and a single line naming the problem."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised through CLI tests
        raise UsageError(message)


def main_guard(main: Callable[[list[str] | None], int]) -> Callable[[list[str] | None], int]:
    """Wrap a command's ``main(argv) -> exit code`` so bad input never shows a traceback."""

    def wrapped(argv: list[str] | None = None) -> int:
        global _summary_stream
        _summary_stream = None
        try:
            with single_threaded_blas():
                return main(argv)
        except (UsageError, ValueError, OverflowError, MemoryError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"{_prog(main)}: error: {message}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:  # the reader went away (| head): stop quietly
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return EXIT_OK
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
    return threadpool_limits(limits=1, user_api="blas")


def _prog(main) -> str:
    """``verify.<name>`` for the command being run, also under ``python -m``."""
    module = main.__module__
    if module == "__main__":
        module = "verify." + os.path.splitext(os.path.basename(sys.argv[0]))[0]
    return module


def say(*parts: Any) -> None:
    """Print a line of the human-readable summary (stdout, or stderr when ``--json -``)."""
    print(*parts, file=_summary_stream or sys.stdout)


# -- arguments --------------------------------------------------------------------------------------
def add_common_arguments(parser: argparse.ArgumentParser, *, model_kinds: Iterable[str] = ()) -> None:
    """The arguments every checker understands."""
    parser.add_argument("--seed", type=int, default=0,
                        help="seed for every random choice (edge orders, samples); default 0")
    parser.add_argument("--json", metavar="FILE",
                        help="write a machine-readable certificate to FILE ('-' for stdout; the summary "
                             "then goes to stderr)")
    parser.add_argument("--no-progress", action="store_true",
                        help="do not draw progress bars on stderr")
    kinds = list(model_kinds)
    if kinds:
        parser.add_argument("--model", choices=kinds, default=kinds[0],
                            help=f"which construction to check (default {kinds[0]})")


def add_arithmetic_arguments(parser: argparse.ArgumentParser) -> None:
    """``--mode``, ``--p``, ``--min-precision`` and ``--weights``."""
    parser.add_argument("--mode", choices=["float64", "hard", "rp"], default="float64",
                        help="arithmetic: float64 (default; a fast path), hard (attention = uniform average "
                             "over the arg-max keys) or rp (the paper's p-bit fixed point, needs --p)")
    parser.add_argument("--p", type=int, metavar="P",
                        help=f"bits of precision for --mode rp (odd, 3..{P_MAX})")
    parser.add_argument("--min-precision", action="store_true",
                        help="search the smallest odd p for which every checked instance passes in R_p")
    parser.add_argument("--weights", metavar="FILE.npz",
                        help="check weights loaded from FILE.npz instead of the built ones")


def add_run_arguments(parser: argparse.ArgumentParser, shards: bool = True) -> None:
    """``--workers`` and ``--scheduler`` (where the chunks run, verify/engine.py); with ``shards``
    also ``--shard`` and ``--merge`` for batch schedulers without Dask."""
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                        help="processes of a local Dask cluster started for this run (default: up to 2); "
                             "1 runs in this process")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask cluster, e.g. tcp://host:8786 (then --workers is "
                             "ignored); see docs/scaling.md")
    if shards:
        parser.add_argument("--shard", help="check only shard I of K (e.g. 0/4) of the domain's chunks")
        parser.add_argument("--merge", nargs="+", metavar="CERT", help="merge shard certificates into one")


def validate_arithmetic(a) -> None:
    if a.mode == "rp" and a.p is None:
        raise UsageError("--mode rp needs --p (an odd number of bits)")
    if a.p is not None and a.mode != "rp":
        raise UsageError("--p only applies to --mode rp")
    if a.min_precision and a.mode != "float64":
        raise UsageError("--min-precision searches R_p itself; drop --mode")


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


def check_range(name: str, value: int | None, low: int, high: int) -> None:
    """A size argument outside its documented range is rejected at once, naming the range."""
    if value is not None and not low <= value <= high:
        raise UsageError(f"{name} must lie in {low}..{high:,}, got {value:,}")


def check_output_path(path: str | None, what: str = "--json") -> None:
    """Fail before any work if ``path`` cannot be written (missing directory, a directory, ...)."""
    if path is None or path == "-":
        return
    if os.path.isdir(path):
        raise UsageError(f"{what} {path} is a directory, not a file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{what} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{what} {path}: directory {parent} is not writable")


# -- certificates ------------------------------------------------------------------------------------
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


def git_commit() -> str | None:
    """The commit of the checkout this code runs from (with '+dirty' for local changes), if any."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def certificate(*, command: list[str], domain: dict[str, Any], checked: int, failures: list[Any],
                verified: bool, started: float, **extra: Any) -> dict[str, Any]:
    """The JSON certificate of a run. ``verified`` is never true for zero instances."""
    cert: dict[str, Any] = {
        "command": " ".join(command),
        "command_kind": command[0] if command else "",
        "domain": domain,
        "instances_checked": int(checked),
        "failures": failures,
        "verified": bool(verified) and int(checked) > 0,
        "versions": package_versions(),
        "git_commit": git_commit(),
        "wall_time_seconds": round(time.time() - started, 3),
    }
    cert.update(extra)
    cert["checksum"] = certificate_checksum(cert)
    return cert


def certificate_checksum(cert: dict[str, Any]) -> str:
    """sha256 of the certificate's content (without the checksum itself): catches hand edits."""
    body = {k: v for k, v in cert.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=jsonable).encode()).hexdigest()


def write_json(path: str | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    text = json.dumps(payload, indent=2, sort_keys=False, default=jsonable)
    if path == "-":
        print(text)
    else:
        with open(path, "w") as handle:
            handle.write(text + "\n")


def read_certificates(paths: list[str]) -> list[dict]:
    certs = []
    for path in paths:
        try:
            with open(path) as handle:
                certs.append(json.load(handle))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read certificate {path}: {exc}") from None
    return certs


def jsonable(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def route_summary(json_path: str | None) -> None:
    """Send the human-readable summary to stderr when the certificate takes stdout."""
    global _summary_stream
    _summary_stream = sys.stderr if json_path == "-" else None


def start_run(module: str, argv: list[str] | None, json_path: str | None) -> tuple[float, list[str]]:
    """After validation, what every checker's ``main`` does first: route the summary (stderr when the
    certificate takes stdout), start the clock, and record the command for the certificate."""
    route_summary(json_path)
    return time.time(), [f"python -m {module}"] + (sys.argv[1:] if argv is None else list(argv))


def progress(total: int, desc: str, disable: bool = False):
    """A tqdm bar on stderr; silent when disabled or when the job is tiny."""
    return tqdm(total=total, desc=desc, file=sys.stderr, disable=disable or total < 2,
                unit="inst", dynamic_ncols=True, mininterval=0.5)
