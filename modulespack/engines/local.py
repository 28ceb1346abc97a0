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

import collections
import itertools
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import traceback
import weakref
from concurrent.futures import Future, InvalidStateError
from time import monotonic
from typing import Any, Callable, Mapping, Sequence

from ..core import BuiltGraph, Cancelled, CancelToken
from ..core.spec import parse_graph
from . import worker
from .base import Engine, EngineError, Run, WorkerDied
from .orphans import kill_marked

log = logging.getLogger("modulespack.engines")

START_METHOD = "spawn"  # a fresh interpreter: a fork would copy the parent's threads' locks mid-use
CANCEL_GRACE_S = 2.0    # a cancelled run ends within this, or its worker is killed (and replaced)
POLL_S = 0.1            # how often a busy worker's thread looks for a cancel of its run
EXIT_WAIT_S = 3.0       # a worker asked to stop exits within this, or is killed
START_TRIES = 3         # a worker dying this many times in a row before any was ready: the pool has failed
START_TIMEOUT_S = 600.0  # a worker not ready within this (building its Session) is killed: the pool has failed
STOPPING = "the engine is stopping"
MAIN_GUARD = ("a script that starts a local engine must do so under if __name__ == '__main__': each worker "
              "process imports the script again, and would start workers of its own")


def check_not_bootstrapping() -> None:
    """Refuse to start workers from a worker that is still importing the parent's main script
    (multiprocessing raises there, and retrying would never end)."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise EngineError(f"cannot start a local engine while a worker process is starting: {MAIN_GUARD}")


class _Job:
    """A run given to the pool: its result arrives in `future`; `token` cancels it."""
    __slots__ = ("task", "feeds", "fetches", "token", "future", "slots", "worker", "claimed", "started")

    def __init__(self, task: int, feeds: dict, fetches: Any, token: CancelToken, slots: Any):
        self.task, self.feeds, self.fetches, self.token, self.slots = task, feeds, fetches, token, slots
        self.future: Future = Future()
        self.worker: _Worker | None = None
        self.claimed = False   # a worker thread took it (its future is running)
        self.started = False   # the worker process said it started

    def running(self) -> str | None:
        """The node the run is in, from its worker's slot of the shared table (best effort)."""
        w = self.worker
        found = worker.read_slot(self.slots, w.index) if w is not None else None
        return found[1] if found is not None and found[0] == self.task else None

    def settle(self, result: Any = None, exc: BaseException | None = None) -> None:
        try:
            if exc is not None:
                self.future.set_exception(exc)
            else:
                self.future.set_result(result)
        except InvalidStateError:  # cancelled by its caller meanwhile, or settled already
            pass


class _Worker:
    __slots__ = ("index", "process", "conn", "tmp", "info")

    def __init__(self, index: int, process: Any, conn: Any, tmp: str):
        self.index, self.process, self.conn, self.tmp = index, process, conn, tmp
        self.info: dict[str, Any] = {}

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL the worker, then what it started (in process groups of their own, so not killed
        with it, and orphaned once it is gone: found by the variable they inherited from it)."""
        if self.process.exitcode is None:  # not reaped yet: the pid is still this process's
            try:
                os.kill(self.pid, signal.SIGKILL)
            except OSError:
                pass
        kill_marked(f"{os.getpid()}:{self.pid}")


class _Pool:
    """One set of workers, a thread each, and the queue of runs no worker has taken yet. `stop` ends it."""

    def __init__(self, spec: dict, path: str | None, n: int, session_options: Mapping[str, Any],
                 warm_up: Callable[[Any], None] | None, start_timeout: float = START_TIMEOUT_S):
        check_not_bootstrapping()
        self.start_timeout = start_timeout
        self.ctx = multiprocessing.get_context(START_METHOD)
        self.spec, self.path, self.session_options, self.warm_up = spec, path, dict(session_options), warm_up
        self.slots = self.ctx.Array("c", n * worker.SLOT, lock=False)
        self.cond = threading.Condition()
        self.queue: collections.deque[_Job] = collections.deque()
        self.workers: list[_Worker | None] = [None] * n
        self.stopping = False
        self.warm = threading.Event()            # every worker has been ready once (or the pool failed)
        self.error: str | None = None            # no worker could start, or build the Session
        self.failed = False                      # no worker could start: for good, every run fails
        self.warm_up_error: str | None = None    # the warm-up failed (runs may work all the same)
        self._ready: set[int] = set()
        self._exitcode: int | None = None        # of the last worker that exited before it was ready
        self.threads = [threading.Thread(target=self._drive, args=(i,), name=f"engine-worker-{i}", daemon=True)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    # -------------------------------------------------------------- called by the engine

    def submit(self, job: _Job) -> None:
        with self.cond:
            if self.stopping:
                raise EngineError("the local engine is closed")
            if self.failed:
                raise EngineError(self.error or "the local engine could not start its workers")
            self.queue.append(job)
            self.cond.notify()

    def withdraw(self, job: _Job) -> None:
        """`job` was cancelled: if no worker has taken it, it ends now (else its worker thread sends
        the cancel to the worker)."""
        with self.cond:
            try:
                self.queue.remove(job)
            except ValueError:
                return
        job.settle(exc=Cancelled(job.token.reason))

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w is not None]

    def stop(self) -> None:
        """Cancel every run, stop the workers (killing those that do not stop) and their threads."""
        with self.cond:
            self.stopping = True
            queued = list(self.queue)
            self.queue.clear()
            self.cond.notify_all()
        for job in queued:
            job.settle(exc=Cancelled(STOPPING))
        deadline = monotonic() + CANCEL_GRACE_S + EXIT_WAIT_S + 1.0
        for t in self.threads:
            if t is not threading.current_thread():  # a collection of the owner can run on any thread
                t.join(max(0.0, deadline - monotonic()))

    # -------------------------------------------------------------- a worker's thread

    def _drive(self, i: int) -> None:
        """Keep worker `i` running and fed until the pool stops; start it again when it dies, or when
        this thread meets an error it does not expect (the run it had fails, not the thread)."""
        tries = 0
        while not self.stopping and not self.failed:
            try:
                w = self._start(i)
            except _Permanent as e:
                self._fail(str(e))
                return
            except Exception:
                log.exception("worker process %d could not be started", i)
                w = None
            if w is None:
                if self.failed:
                    return
                tries += 1
                if tries >= START_TRIES:
                    # exit code 1: an exception, e.g. the script without a main guard raising EngineError
                    hint = f"; {MAIN_GUARD}" if self._exitcode == 1 else ""
                    if self._fail(f"worker process {i} exited before it was ready, {tries} times "
                                  f"(exit code {self._exitcode}; see the log){hint}", unless_ready=True):
                        return
                    if not self.warm.is_set():  # others serve: wait_ready() need not wait for this one
                        log.error("worker process %d exited before it was ready, %d times: the engine "
                                  "runs with fewer workers while it is tried again", i, tries)
                        self.warm.set()
                with self.cond:
                    self.cond.wait_for(lambda: self.stopping, timeout=min(10.0, 0.5 * 2 ** tries))
                continue
            tries = 0
            with self.cond:
                failed = self.failed  # another worker gave up meanwhile: the pool is over
                if not failed:
                    self.workers[i] = w
                    self.error = w.info.get("error")  # None: runs can be served (again)
                    self.warm_up_error = self.warm_up_error or w.info.get("warm_up_error")
                    self._ready.add(i)
                    if len(self._ready) == len(self.workers):
                        self.warm.set()
            if failed:
                self._retire(w)
                return
            try:
                self._serve(w)
            except Exception:
                log.exception("worker process %d (pid %s): unexpected error in the parent's thread for it; "
                              "the worker is replaced", i, w.pid)
            finally:
                with self.cond:
                    if self.workers[i] is w:
                        self.workers[i] = None
                self._retire(w)

    def _fail(self, error: str, unless_ready: bool = False) -> bool:
        """No worker can start: refuse every run from now on, and fail those waiting. With
        `unless_ready`, only if no worker was ever ready (else the others serve): False then."""
        with self.cond:
            if unless_ready and self._ready:
                return False
            self.error, self.failed = error, True
            queued = list(self.queue)
            self.queue.clear()
            self.cond.notify_all()
        log.error("the local engine cannot start its workers: %s", error)
        self.warm.set()
        for job in queued:
            job.settle(exc=EngineError(error))
        return True

    def _start(self, i: int) -> _Worker | None:
        parent, child = self.ctx.Pipe()
        tmp = tempfile.mkdtemp(prefix=f"modulespack-worker-{i}-")
        p = self.ctx.Process(target=worker.main, name=f"modulespack-worker-{i}", daemon=True,
                             args=(child, self.spec, self.path, self.session_options, self.slots, i, tmp,
                                   self.warm_up))
        try:
            p.start()
        except Exception as e:
            parent.close()
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, RuntimeError) and "bootstrapping" in str(e):  # would fail on every try
                raise _Permanent(f"worker process {i} cannot be started: {MAIN_GUARD}") from e
            log.exception("worker process %d could not be started", i)
            return None
        finally:
            child.close()  # the worker holds the only other end: its death is an EOF here
        w = _Worker(i, p, parent, tmp)
        deadline = monotonic() + self.start_timeout
        try:
            while not self.stopping and not self.failed:
                if parent.poll(0.2):
                    msg = parent.recv()
                    if msg[0] == "ready":
                        w.info = msg[1]
                        return w
                elif monotonic() > deadline:
                    w.kill()
                    self._retire(w)
                    raise _Permanent(f"worker process {i} was not ready within {self.start_timeout:g} s "
                                     f"(building the graph's Session); it was killed")
        except (EOFError, OSError):
            p.join(1.0)
            self._exitcode = p.exitcode
            log.error("worker process %d (pid %s) exited with %s before it was ready", i, p.pid, p.exitcode)
        self._retire(w)
        return None

    def _next(self) -> _Job | None:
        """The next run to give to a worker (None when the pool stops)."""
        with self.cond:
            while not self.stopping:
                while self.queue:
                    job = self.queue.popleft()
                    if not job.claimed:
                        if not job.future.set_running_or_notify_cancel():
                            continue  # its caller gave up on it while it waited
                        job.claimed = True
                    if job.token.is_set():
                        job.settle(exc=Cancelled(job.token.reason))
                        continue
                    return job
                self.cond.wait()
        return None

    def _serve(self, w: _Worker) -> None:
        """Feed worker `w` runs, one at a time, until it dies or the pool stops."""
        while True:
            job = self._next()
            if job is None:
                return
            try:
                if not self._give(w, job):
                    return
            except BaseException as e:  # a bug here must not leave the run's caller waiting forever
                job.settle(exc=worker.internal_error(f"internal error of the worker pool: {type(e).__name__}: {e}",
                                                     traceback.format_exc()))
                raise

    def _give(self, w: _Worker, job: _Job) -> bool:
        """Run `job` on `w`; False if the worker died."""
        job.worker = w
        try:
            w.conn.send(("run", job.task, job.feeds, job.fetches))
        except (EOFError, OSError):  # the worker died before it got the run
            self._requeue(job)
            return False
        except Exception as e:  # inputs that do not pickle (nothing was sent)
            job.settle(exc=worker.internal_error(f"the inputs cannot be sent to a worker process: "
                                                 f"{type(e).__name__}: {e}"))
            return True
        return self._follow(w, job)

    def _follow(self, w: _Worker, job: _Job) -> bool:
        """Wait for `job`'s outcome on `w`, passing a cancel on; False if the worker died."""
        deadline: float | None = None
        while True:
            if deadline is None and (job.token.is_set() or self.stopping):
                try:
                    w.conn.send(("cancel", job.task, job.token.reason or STOPPING))
                except OSError:
                    pass
                deadline = monotonic() + CANCEL_GRACE_S
            try:
                msg = w.conn.recv() if w.conn.poll(POLL_S) else None
            except (EOFError, OSError):
                msg = ()
            except Exception as e:  # it came whole but does not unpickle here (an exception class whose
                # __init__ takes other arguments, a class this process cannot import): the run is over
                log.error("worker process %d: the outcome of run %d could not be read: %s: %s",
                          w.pid, job.task, type(e).__name__, e)
                job.settle(exc=worker.internal_error(f"the result could not be read from the worker process: "
                                                     f"{type(e).__name__}: {e}"))
                return True
            if msg is None:
                if deadline is not None and monotonic() > deadline:
                    log.warning("worker process %d: run %d was cancelled (%s) and did not stop within %g s: "
                                "the worker is killed and replaced", w.pid, job.task,
                                job.token.reason or STOPPING, CANCEL_GRACE_S)
                    w.kill()
                    deadline = float("inf")
                continue
            if not msg:  # the worker died
                if not job.started:
                    self._requeue(job)
                elif job.token.is_set():
                    job.settle(exc=Cancelled(job.token.reason))
                else:
                    log.error("worker process %d died during run %d (exit code %s)", w.pid, job.task,
                              w.process.exitcode)
                    job.settle(exc=WorkerDied(f"the worker process running it (pid {w.pid}) died"))
                return False
            kind, task = msg[0], msg[1]
            if task != job.task:
                continue
            if kind == "started":
                job.started = True
                job.feeds = None  # not needed again: a started run is not tried again
            elif kind == "done":
                job.settle(msg[2])
                return True
            else:
                job.settle(exc=msg[2])
                return True

    def _requeue(self, job: _Job) -> None:
        """A run whose worker died before it started goes back to the head of the queue."""
        job.worker = None
        with self.cond:
            if not self.stopping:
                log.warning("run %d goes to another worker: its worker died before it started", job.task)
                self.queue.appendleft(job)
                self.cond.notify()
                return
        job.settle(exc=Cancelled(STOPPING))

    def _retire(self, w: _Worker) -> None:
        """Let an idle worker exit (kill it if it does not), or reap a dead one; kill what it left."""
        if w.process.is_alive():
            try:
                w.conn.send(None)
            except OSError:
                pass
            w.process.join(EXIT_WAIT_S)
            if w.process.is_alive():
                log.warning("worker process %d did not stop within %g s: killed", w.pid, EXIT_WAIT_S)
        w.kill()  # a dead worker's subprocesses are orphans: nothing else would stop them
        w.process.join(1.0)
        w.conn.close()
        shutil.rmtree(w.tmp, ignore_errors=True)  # what a killed worker could not remove


class _Permanent(Exception):
    """A worker cannot be started, and trying again would not help."""


class _PoolSlot:
    """Where a LocalEngine keeps its current pool, and whether it is closed (both under `lock`, so a
    close is never undone by a submit racing it); what its finalizer stops (which must not hold the
    engine itself, or it would keep it alive)."""
    __slots__ = ("pool", "lock", "closed")

    def __init__(self) -> None:
        self.pool: _Pool | None = None
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

    def _pool(self, restart: bool = False) -> _Pool:
        check_not_bootstrapping()
        with self._slot.lock:
            if restart:
                self._slot.closed = False
            elif self._slot.closed:
                raise EngineError(f"graph '{self.name}': the local engine is closed")
            if self._slot.pool is None:
                self._slot.pool = _Pool(self._spec, self._path, self.workers, self.session_options,
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
        job = _Job(next(self._tasks), dict(feeds), tuple(fetches) if fetches is not None else None, token,
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
