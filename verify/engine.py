"""The engine of the exhaustive checkers: chunks of a domain as Dask tasks, results merged once each.

A checker hands :func:`run_chunks` a module-level function ``work(context, c)``, the ``context`` it
needs (construction, task, model, domain, mode: shipped to every worker once) and the chunk indices
to check. Each finished chunk's result reaches ``on_result(c, result)`` exactly once, in the order
chunks finish; the caller merges (``ChunkResult.add`` keeps the smallest counterexamples first, so
the order does not matter).

Where the chunks run:

* ``workers == 1`` and no scheduler, or a small run (one chunk, or fewer than
  :data:`MIN_CLUSTER_INSTANCES` instances): in this process, no cluster.
* otherwise, no scheduler: a local Dask cluster of ``workers`` single-threaded processes, started
  here and closed when the run ends, fails or is interrupted (Ctrl-C).
* ``scheduler="tcp://host:8786"``: an existing cluster (``dask scheduler`` and ``dask worker
  ADDRESS``, dask-jobqueue on SLURM/PBS, dask-kubernetes ...). Its workers must import this
  toolkit at the same version. The cluster is left running; only this run's tasks are cancelled
  when it stops early.

Faults: when a worker process dies, the scheduler runs its unfinished chunks again on the others
(results that already reached this process are kept, so no chunk is counted twice or lost; the run
checks at the end that every chunk was merged exactly once). A chunk whose workers die more often
than Dask's ``distributed.scheduler.allowed-failures`` (default 3), or a scheduler that stops
answering for :data:`SCHEDULER_TIMEOUT` seconds, ends the run with an :class:`EngineError` (one
line, exit code 2) instead of a hang.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from typing import Any, Callable, Iterable

from verify.cli import UsageError

CONNECT_TIMEOUT = 10.0     # seconds to reach a --scheduler address
SCHEDULER_TIMEOUT = 60.0   # seconds without contact before a lost scheduler ends the run
POLL = 2.0                 # seconds between checks of the scheduler while no chunk finishes
MIN_CLUSTER_INSTANCES = 20_000  # smaller runs stay in-process unless a scheduler is given
MIN_IN_FLIGHT = 16         # chunks submitted ahead: at least this, or 4 per worker thread


class EngineError(UsageError):
    """The cluster could not run the check (unreachable or lost scheduler, chunks that kill workers)."""


def run_chunks(work: Callable[[Any, int], Any], context: Any, chunks: Iterable[int], *,
               on_result: Callable[[int, Any], None], workers: int = 1, scheduler: str | None = None,
               name: str = "chunk", instances: int | None = None) -> str:
    """Run ``work(context, c)`` for every chunk c and pass each result to ``on_result`` once.

    Without a scheduler, a run of one chunk or of fewer than :data:`MIN_CLUSTER_INSTANCES`
    ``instances`` stays in this process: starting a cluster costs seconds.
    Returns where it ran: ``"in-process"``, ``"local cluster of N workers"`` or the scheduler address.
    """
    chunks = list(chunks)
    if runs_in_process(len(chunks), instances, workers, scheduler):
        for c in chunks:
            on_result(c, work(context, c))
        return "in-process"
    distributed = _import_distributed()
    with _quiet_dask():
        if scheduler is not None:
            client = _connect(distributed, scheduler)
            try:
                _run_on(distributed, client, work, context, chunks, on_result, name, scheduler)
            finally:
                client.close()
            return scheduler
        with _local_cluster(distributed, workers) as cluster, distributed.Client(cluster) as client:
            client.run(_ignore_sigint)  # Ctrl-C reaches this process, which closes the cluster
            _run_on(distributed, client, work, context, chunks, on_result, name, cluster.scheduler_address)
        return f"local cluster of {workers} workers"


def runs_in_process(chunks: int, instances: int | None, workers: int, scheduler: str | None) -> bool:
    """Whether :func:`run_chunks` keeps a run in this process: no scheduler given, and one worker,
    one chunk or fewer than :data:`MIN_CLUSTER_INSTANCES` instances."""
    small = chunks <= 1 or (instances is not None and instances < MIN_CLUSTER_INSTANCES)
    return scheduler is None and (workers <= 1 or small)


@contextlib.contextmanager
def _quiet_dask():
    """Dask logs a lost connection or a restarted worker with tracebacks on stderr; the engine
    reports those itself in one line, so its loggers stay quiet below CRITICAL during a run."""
    loggers = [logging.getLogger(name) for name in list(logging.root.manager.loggerDict)
               if name == "distributed" or name.startswith("distributed.")]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved):
            lg.setLevel(level)


# -- a worker process ----------------------------------------------------------------------------------
_TUNED = False


def tune_process() -> None:
    """Once per process that checks chunks: keep numpy's large temporary arrays on the heap.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also freezes glibc's
    mmap threshold at 128 KiB: every forward batch's arrays were then mapped and unmapped afresh,
    and the page faults cost 40% more wall time per chunk (measured). glibc only; elsewhere a no-op.
    """
    global _TUNED
    if _TUNED:
        return
    _TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 64 << 20)   # M_MMAP_THRESHOLD: allocations below 64 MiB come from the heap
        libc.mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: keep up to 256 MiB of freed heap
    except (OSError, AttributeError):  # not glibc
        pass


# -- clusters ------------------------------------------------------------------------------------------
def _import_distributed():
    try:
        import distributed
    except ImportError:  # pragma: no cover - a declared dependency
        raise EngineError("Dask is not installed: pip install 'dask[distributed]' (or use --workers 1)") from None
    return distributed


def _local_cluster(distributed, workers: int):
    """``workers`` processes of one thread each (numpy releases no GIL worth sharing here); no
    dashboard, no memory limit, Dask's own log lines only for errors."""
    return distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                    dashboard_address=None, memory_limit=0, silence_logs=logging.ERROR)


def _ignore_sigint() -> None:
    """In a local worker process: leave Ctrl-C to the checker, which stops the cluster cleanly
    (otherwise every worker prints its own KeyboardInterrupt traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _connect(distributed, address: str):
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise EngineError(f"cannot reach the Dask scheduler at {address}: {exc}") from None
    except ValueError as exc:
        raise EngineError(f"bad scheduler address {address!r}: {exc}") from None


# -- the run -------------------------------------------------------------------------------------------
def _run_on(distributed, client, work, context, chunks, on_result, name, address) -> None:
    """Submit the chunks in a sliding window, merge results as they arrive, watch the scheduler."""
    run = uuid.uuid4().hex[:8]
    pending: dict[Any, int] = {}   # future -> chunk
    merged: set[int] = set()
    todo = list(reversed(chunks))
    window, window_checked = MIN_IN_FLIGHT, 0.0
    lost_since = None
    try:
        ctx = client.scatter(context, broadcast=True, hash=False)
        while todo or pending:
            now = time.monotonic()
            if now - window_checked > 10.0:  # clusters grow and shrink (adaptive SLURM jobs)
                window = max(MIN_IN_FLIGHT, 4 * sum(client.nthreads().values()))
                window_checked = now
            while todo and len(pending) < window:
                c = todo.pop()
                pending[client.submit(work, ctx, c, key=f"{name}-{c}-{run}", pure=False)] = c
            try:
                done, _ = distributed.wait(list(pending), timeout=POLL, return_when="FIRST_COMPLETED")
            except distributed.TimeoutError:
                done = set()
            if client.status == "running":
                lost_since = None
            elif lost_since is None:
                lost_since = time.monotonic()
            elif time.monotonic() - lost_since > SCHEDULER_TIMEOUT:
                raise _lost(address, merged, chunks)
            for fut in done:
                c = pending.pop(fut)
                result = _result(distributed, fut, c)
                if c in merged:  # cannot happen (one future per chunk); never count a chunk twice
                    raise EngineError(f"chunk {c} finished twice")
                merged.add(c)
                fut.release()
                on_result(c, result)
    except (distributed.client.FuturesCancelledError, distributed.client.FutureCancelledError,
            distributed.comm.CommClosedError, OSError) as exc:
        raise _lost(address, merged, chunks, exc) from None
    except BaseException:  # Ctrl-C or an error in a chunk: take this run's tasks off the cluster
        if pending and client.status == "running":
            try:
                client.cancel(list(pending))
            except Exception:  # pragma: no cover - the scheduler is going away too
                pass
        raise
    if merged != set(chunks):  # pragma: no cover - the loop only ends when every chunk is merged
        raise EngineError(f"chunks {sorted(set(chunks) - merged)[:5]} were never merged")


def _lost(address: str, merged: set, chunks: list, exc: Exception | None = None) -> EngineError:
    why = f" ({str(exc).splitlines()[0]})" if exc is not None and str(exc) else ""
    return EngineError(f"lost the connection to the Dask scheduler at {address}{why}; "
                       f"{len(merged)} of {len(chunks)} chunks were done; nothing was certified")


def _result(distributed, fut, c: int):
    try:
        return fut.result()
    except distributed.KilledWorker as exc:
        raise EngineError(f"chunk {c} killed every worker that ran it ({exc}); "
                          f"too little memory per worker?") from None
