"""The worker processes of `executor="process"`: a pool started on first use and warmed up for /readyz,
replaced when a worker dies or a run times out (the old pool drains its runs, then the worker of the
timed-out run is killed), and the shared table that names the node a worker is running."""
from __future__ import annotations

import asyncio
import collections
import functools
import itertools
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Mapping

from . import worker
from .errors import ServeError

log = logging.getLogger("modulespack.serve")

# a worker still starting when its pool is stopped and dropped would find the counter's semaphore
# gone (FileNotFoundError on stderr): the last few counters are kept alive a while
_KEEP_ALIVE: "collections.deque[Any]" = collections.deque(maxlen=16)


class WorkerPool:
    """One ProcessPoolExecutor, and what is known of it: the shared "task:node" table and pids of its
    workers, its runs in flight (`live`), the runs that timed out (`abandoned`: their workers are
    killed once no live run is left), whether it still takes runs (`retired`) and whether it was
    stopped."""
    __slots__ = ("executor", "slots", "pids", "live", "abandoned", "retired", "stopped")

    def __init__(self, executor: ProcessPoolExecutor, slots: Any, pids: Any):
        self.executor = executor
        self.slots = slots
        self.pids = pids
        self.live: set[int] = set()
        self.abandoned: set[int] = set()
        self.retired = False
        self.stopped = False

    def worker_pids(self) -> list[int]:
        return [p for p in self.pids[:] if p > 0]

    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))


class ProcessRun:
    """A run in a worker process: its pool and task number; names the running node from the table."""
    __slots__ = ("pool", "task")

    def __init__(self, pool: WorkerPool, task: int):
        self.pool, self.task = pool, task

    def running(self) -> str | None:
        return worker.read_slots(self.pool.slots, self.task)


class ProcessPools:
    """The pool new runs go to, the retired ones still draining, and whether the workers are warm
    (`ready`; `errors`: graph -> why a worker could not build it)."""

    def __init__(self, graphs: Mapping[str, tuple[dict, str]], workers: int, session_options: Mapping[str, Any]):
        # the validated specs, not the files: an edit after start-up changes nothing
        self.graphs = dict(graphs)
        self.workers = workers
        self.session_options = dict(session_options)
        self._current: WorkerPool | None = None
        self._pools: set[WorkerPool] = set()      # every pool not stopped yet (retired ones drain)
        self._lock = threading.RLock()             # never held while calling into an executor
        self._tasks = itertools.count(1)
        self.on_reset: Any = None                  # called (on the event loop) when a new pool must warm up
        self.ready = not self.graphs
        self.error: str | None = None
        self.errors: dict[str, str] = {}

    def pool(self) -> WorkerPool:
        """The pool new runs go to (started on first use, and again after a reset)."""
        pool = self._current
        if pool is not None:
            return pool
        with self._lock:
            if self._current is None:
                ctx = multiprocessing.get_context("spawn")
                slots = ctx.Array("c", self.workers * worker.SLOT, lock=False)
                pids = ctx.Array("i", self.workers, lock=False)
                counter = ctx.Value("i", 0)
                executor = ProcessPoolExecutor(
                    self.workers, mp_context=ctx, initializer=worker.init_worker,
                    initargs=(self.graphs, self.session_options, slots, counter, pids))
                self._current = WorkerPool(executor, slots, pids)
                _KEEP_ALIVE.append(counter)
                self._pools.add(self._current)
            return self._current

    async def warm_up(self) -> bool:
        """Start the worker processes and wait until they have built their Sessions (for /readyz);
        if the pool is replaced meanwhile, warm up the new one."""
        loop = asyncio.get_running_loop()
        while not self.ready:
            pool = self.pool()
            try:
                futs = [loop.run_in_executor(pool.executor, worker.ping) for _ in range(self.workers)]
                info = await asyncio.gather(*futs)
            except BrokenProcessPool as e:
                current = self._detach(pool)
                self._stop_pool(pool)
                if not current:  # replaced meanwhile (a run timed out there): warm up the new one
                    continue
                self.error = f"worker processes could not start: {e}"
                return False
            except RuntimeError:  # the pool was shut down (a reset, or the app stopping)
                if self._current is pool:
                    return False
                continue
            except asyncio.CancelledError:  # this task, or the pings (their pool was stopped)
                task = asyncio.current_task()
                cancelling = getattr(task, "cancelling", None)  # Python >= 3.11
                if self._current is pool or cancelling is None or cancelling():
                    raise
                continue
            if self._current is not pool:  # replaced while starting: warm up the new one
                continue
            self.errors = {g: m for i in info for g, m in i["errors"].items()}
            self.error = "; ".join(f"{g}: {m}" for g, m in self.errors.items()) or None
            self.ready = True
        return True

    def can_run(self, name: str) -> bool:
        return self.ready and name not in self.errors

    def check(self) -> None:
        """A worker that died while idle (kill -9, the OOM killer) breaks the pool without any run
        noticing: replace it now (for /readyz, which then says "starting" until it is warm)."""
        pool = self._current
        if pool is not None and pool.broken():
            self.broke(pool)

    def worker_pids(self) -> list[int]:
        """Pids of the current pool's worker processes (those started so far)."""
        pool = self._current
        return pool.worker_pids() if pool is not None else []

    def submit(self, name: str, feeds: dict, fetches: tuple) -> tuple[Future, ProcessRun]:
        task = next(self._tasks)
        for attempt in (1, 2):
            pool = self.pool()
            with self._lock:
                pool.live.add(task)
            try:
                cfut = pool.executor.submit(worker.run, name, feeds, fetches, task)
            except BaseException as e:
                with self._lock:
                    pool.live.discard(task)
                if not isinstance(e, BrokenProcessPool):
                    raise
                # a worker died while the pool was idle: a new pool, once
                self.broke(pool)
                if attempt == 2:
                    raise ServeError(503, f"graph '{name}': the worker processes are restarting; "
                                          "try again", graph=name, kind="worker") from None
                continue
            cfut.add_done_callback(functools.partial(self._run_done, pool, task))
            return cfut, ProcessRun(pool, task)
        raise AssertionError("unreachable")

    def broke(self, pool: WorkerPool) -> None:
        """`pool` is broken (a worker died): replace it if it is still the current one."""
        self._replace(pool)
        self._stop_pool(pool)

    def abandon(self, run: ProcessRun) -> None:
        """A run timed out: its worker may be stuck for good. New runs go to a new pool; the worker is
        killed, with the old pool, as soon as no other run is in flight there (none is lost)."""
        pool = run.pool
        with self._lock:
            pool.live.discard(run.task)
            pool.abandoned.add(run.task)
        self._replace(pool)
        self._maybe_stop(pool)

    def stop(self) -> None:
        """Stop every pool (a new one starts on the next run)."""
        with self._lock:
            self._current = None
            pools = list(self._pools)
            for pool in pools:
                pool.retired = True
        for pool in pools:
            self._stop_pool(pool)
        if self.graphs:
            self.ready = False

    def _detach(self, pool: WorkerPool) -> bool:
        """Stop sending runs to `pool`; True if it was the current one (a new one is needed)."""
        with self._lock:
            pool.retired = True
            if self._current is not pool:
                return False
            self._current = None
        self.ready = False
        return True

    def _replace(self, pool: WorkerPool) -> None:
        """Detach `pool`; if it was the current one, have the new one warmed up (/readyz says "starting"
        until then)."""
        if not self._detach(pool):
            return
        hook = self.on_reset
        if hook is not None:
            try:
                hook()
            except RuntimeError:  # no running event loop: the next /readyz starts it
                pass

    def _run_done(self, pool: WorkerPool, task: int, _fut: Future) -> None:
        # in the executor's thread, maybe holding its locks: bookkeeping only, stopping on a thread
        with self._lock:
            pool.live.discard(task)
            go = pool.retired and not pool.live and not pool.stopped
        if go:
            threading.Thread(target=self._maybe_stop, args=(pool,), name="serve-pool-stop", daemon=True).start()

    def _maybe_stop(self, pool: WorkerPool) -> None:
        with self._lock:
            if not pool.retired or pool.live or pool.stopped:
                return
        self._stop_pool(pool)

    def _stop_pool(self, pool: WorkerPool) -> None:
        """Kill the workers still running abandoned runs, and shut the pool down."""
        with self._lock:
            if pool.stopped:
                return
            pool.stopped = True
            self._pools.discard(pool)
            abandoned = list(pool.abandoned)
        pids = pool.pids[:]
        for task in abandoned:
            found = worker.find_task(pool.slots, task)
            pid = pids[found[0]] if found is not None and found[0] < len(pids) else 0
            if pid > 0:
                try:
                    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
                    log.warning("killed worker process %d: its run (task %d) timed out", pid, task)
                except OSError:  # gone already
                    pass
        pool.executor.shutdown(wait=False, cancel_futures=True)
