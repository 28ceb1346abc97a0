"""The local engine: a graph run in worker processes on this machine (`LocalEngine`; the worker side
is `worker`), for modules that hold the GIL (pocketsphinx) or must not take the caller down.

Why not `concurrent.futures.ProcessPoolExecutor`: when one of its workers dies (kill -9, the OOM
killer, a crash in a C library) the whole executor breaks: every run in flight on any worker fails
and every worker has to be started again (seconds of imports and model loading each). It also
cannot tell a run that had started from one still waiting, nor reach a running task to cancel it.

Here each worker process has a pipe of its own and a thread in the parent that feeds it one run at
a time from a shared queue. So: a run that had not started is given to another worker; a run on a
worker that died fails alone (`WorkerDied`: retry); only that worker is started again; a cancel
(time-out, client gone, shutdown) is sent to the worker that has the run, and a worker whose run
does not stop within CANCEL_GRACE_S is killed with its subprocesses.

One pool per engine, i.e. per graph: each worker builds the Session of one graph. Sharing a pool
between graphs would save processes when many graphs are served, but every worker would then load
every graph's models, and a graph's `workers` could not be sized to its own load; a server with
many light graphs runs them on the thread engine instead.
"""
from __future__ import annotations

import itertools
import logging
import os
import threading
import weakref
from typing import Any, Callable, Mapping, Sequence

from ..core import BuiltGraph, CancelToken
from ..core.spec import parse_graph
from . import worker
from .base import Engine, EngineError, Run
from .local_pool import START_TIMEOUT_S, Job, Pool, check_not_bootstrapping

log = logging.getLogger("modulespack.engines")

class _PoolSlot:
    """Where a LocalEngine keeps its current pool, and whether it is closed (both under `lock`, so a
    close is never undone by a submit racing it); what its finalizer stops (which must not hold the
    engine itself, or it would keep it alive)."""
    __slots__ = ("pool", "lock", "closed")

    def __init__(self) -> None:
        self.pool: Pool | None = None
        self.lock = threading.Lock()
        self.closed = False

    def stop(self) -> None:
        with self.lock:
            self.closed = True
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.stop()


class LocalEngine(Engine):
    """A graph run in `workers` processes (default: the CPU count), each building the graph's Session
    once from the spec validated here, running one run at a time. `session_options`: for each
    Session; `warm_up`: a picklable callable given each worker's Session before it says ready (e.g.
    running an example once). `start()` returns at once: `ready()` once every worker is up.

    An engine that is never closed (an app mounted without lifespan events) is closed when it is
    collected or at interpreter exit, so no worker process or temporary folder outlives it.
    After `close()` runs are refused (EngineError) until `start()`, which starts a fresh set of
    workers. `start_timeout`: seconds a worker may take to build its Session before the engine fails."""

    kind = "local"

    def __init__(self, graph: BuiltGraph, *, workers: int | None = None,
                 session_options: Mapping[str, Any] | None = None,
                 warm_up: Callable[[Any], None] | None = None, start_timeout: float = START_TIMEOUT_S,
                 **options: Any):
        super().__init__(graph, workers=workers, session_options=session_options, **options)
        self.workers = max(1, int(workers or os.cpu_count() or 1))
        self.start_timeout = float(start_timeout)
        self.session_options = dict(session_options or {})
        self.warm_up = warm_up
        # workers get the spec as a dict, not the file (an edit after start-up changes nothing): check
        # here that it round-trips, so a spec that cannot is an error now, not in every worker
        self._spec = graph.spec.to_dict()
        self._path = str(graph.spec.path.resolve()) if graph.spec.path else None
        parse_graph(self._spec, graph.spec.path)
        self._slot = _PoolSlot()
        self._tasks = itertools.count(1)
        weakref.finalize(self, self._slot.stop)  # at exit too: daemon threads and workers get no other chance

    def start(self) -> None:
        """Start the workers (again, after `close()`)."""
        self._pool(restart=True)

    def _pool(self, restart: bool = False) -> Pool:
        check_not_bootstrapping()
        with self._slot.lock:
            if restart:
                self._slot.closed = False
            elif self._slot.closed:
                raise EngineError(f"graph '{self.name}': the local engine is closed")
            if self._slot.pool is None:
                self._slot.pool = Pool(self._spec, self._path, self.workers, self.session_options,
                                        self.warm_up, self.start_timeout)
            return self._slot.pool

    def ready(self) -> bool:
        pool = self._slot.pool
        return pool is not None and pool.warm.is_set() and pool.error is None

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start, then wait until every worker has built its Session (False on time-out or error)."""
        pool = self._pool()
        return pool.warm.wait(timeout) and pool.error is None

    def health(self) -> Mapping[str, Any]:
        pool = self._slot.pool
        return {"ready": self.ready(), "kind": self.kind, "error": pool.error if pool else None,
                "warm_up_error": pool.warm_up_error if pool else None, "started": pool is not None,
                "workers": self.workers, "pids": pool.pids() if pool else []}

    def worker_pids(self) -> list[int]:
        pool = self._slot.pool
        return pool.pids() if pool is not None else []

    def busy(self) -> dict[int, str]:
        """Worker pid -> the node its run is in ("" before the first node), for the busy workers."""
        pool = self._slot.pool
        out: dict[int, str] = {}
        for w in (pool.workers if pool is not None else ()):
            found = worker.read_slot(pool.slots, w.index) if w is not None else None
            if found is not None:
                out[w.pid] = found[1] or ""
        return out

    def submit(self, feeds: Mapping[str, Any], fetches: Sequence[str] | None = None, *,
               token: CancelToken | None = None) -> Run:
        """Queue a run for the next free worker (starting the workers if needed); its future gets
        the core Result or a core error (FeedError, NodeError, NodeInputError, Cancelled),
        WorkerDied, or EngineError (the graph cannot be set up in the workers, or a failure that is
        not the core's, with its `traceback`)."""
        pool = self._pool()
        pool_error = pool.error if pool.warm.is_set() else None
        if pool_error is not None:
            raise EngineError(f"graph '{self.name}': {pool_error}")
        token = token if token is not None else CancelToken()
        job = Job(next(self._tasks), dict(feeds), tuple(fetches) if fetches is not None else None, token,
                   pool.slots)
        try:
            pool.submit(job)
        except EngineError as e:  # closed, or the workers failed, since the checks above
            raise EngineError(f"graph '{self.name}': {e}") from None
        token.on_cancel(lambda: pool.withdraw(job))
        return Run(job.future, token, job.running)

    def close(self) -> None:
        """Stop the workers (cancelling their runs); runs are refused until `start()`."""
        self._slot.stop()
