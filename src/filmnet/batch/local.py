"""Local mode: units run on worker processes of this machine (no Ray needed).

Each process builds its model once; frame counts come back on a queue for the progress bar. A process that dies
breaks the pool: it is rebuilt and the lost units go back to the scheduler, which retries them. Workers die with
the batch, even when it is SIGKILLed: each watches its parent's pipe (every platform) and, on Linux, also asks the
kernel for SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG), so no orphan keeps writing into OUTDIR.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool

from .work import Worker

_worker: Worker | None = None
_progress = None


def _init(model: dict, threads: int | None, progress) -> None:
    global _worker, _progress
    die_with_parent()
    _worker, _progress = Worker(model, threads), progress


PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """End this (spawned) process as soon as the process that started it is gone."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent.pid:  # it died before the signal was asked for
            os._exit(1)
    if parent.sentinel is not None:  # readable once the parent's end of the pipe closes: its death
        threading.Thread(target=_exit_when_ready, args=(parent.sentinel,), name="filmnet-parent-watch",
                         daemon=True).start()


def _exit_when_ready(sentinel) -> None:
    from multiprocessing.connection import wait

    wait([sentinel])
    os._exit(1)


def _run(unit) -> dict:
    counter = ProgressThrottle(unit.id, _progress.put)
    try:
        return _worker.run(unit, counter)
    finally:
        counter.flush()


class ProgressThrottle:
    """Sends (unit id, frames) at most every `every` seconds."""

    def __init__(self, uid: str, send, every: float = 0.5):
        import time

        self.uid, self.send, self.every, self.clock = uid, send, every, time.monotonic
        self.pending, self.last = 0, self.clock()

    def __call__(self, n: int) -> None:
        self.pending += n
        if self.clock() - self.last >= self.every:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.send((self.uid, self.pending))
        self.pending, self.last = 0, self.clock()


class LocalExecutor:
    """`workers` spawned processes, each with `threads` torch threads (default: OMP_NUM_THREADS, else 1)."""

    def __init__(self, model: dict, *, workers: int = 1, threads: int | None = None):
        from .plan import env_threads

        self.model, self.workers = model, max(1, int(workers))
        self.threads = threads if threads else max(1, env_threads() // self.workers)
        self.context = multiprocessing.get_context("spawn")
        self.queue = self.context.Queue()
        self.futures: dict = {}
        self.pool = self._pool()

    def _pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.context, initializer=_init,
                                   initargs=(self.model, self.threads, self.queue))

    def submit(self, unit) -> bool:
        if len(self.futures) >= 2 * self.workers:  # keep the rest in the scheduler's queue
            return False
        self.futures[self.pool.submit(_run, unit)] = unit
        return True

    def wait(self, timeout: float) -> list:
        if not self.futures:
            return []
        finished, _ = wait_futures(list(self.futures), timeout=timeout, return_when=FIRST_COMPLETED)
        out, broken = [], False
        for future in finished:
            unit = self.futures.pop(future)
            try:
                out.append((unit, future.result()))
            except BrokenProcessPool as err:
                broken = True
                out.append((unit, err))
        if broken:  # every unit of the broken pool is lost: give them all back, start a new pool
            for future, unit in list(self.futures.items()):
                out.append((unit, BrokenProcessPool("worker process died")))
            self.futures.clear()
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = self._pool()
        return out

    def progress(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        while True:
            try:
                uid, n = self.queue.get_nowait()
            except queue.Empty:
                return counts
            counts[uid] = counts.get(uid, 0) + n

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class InlineExecutor:
    """Runs units one by one in this process (`--workers 0`: debugging, notebooks, tests); torch's thread count is
    left as the caller set it unless `threads` is given."""

    def __init__(self, model: dict, *, threads: int | None = None):
        self.worker = Worker(model, threads)
        self.units: list = []
        self.counts: dict[str, int] = {}

    def submit(self, unit) -> bool:
        self.units.append(unit)
        return True

    def wait(self, timeout: float) -> list:
        if not self.units:
            return []
        unit = self.units.pop(0)

        def count(n: int) -> None:
            self.counts[unit.id] = self.counts.get(unit.id, 0) + n

        return [(unit, self.worker.run(unit, count))]

    def progress(self) -> dict[str, int]:
        counts, self.counts = self.counts, {}
        return counts

    def close(self) -> None:
        pass
