"""The worker processes of `executor="process"` (the server side; the worker side is `worker`).

Why not `concurrent.futures.ProcessPoolExecutor`: when one of its workers dies (kill -9, the OOM
killer, a crash in a C library) the whole executor breaks: every run in flight on any worker fails
and every worker has to be started again (seconds of imports and model loading each). It also
cannot tell a run that had started from one still waiting, nor reach a running task to cancel it.

Here each worker process has a pipe of its own and a thread in the server that feeds it one run at
a time from a shared queue. So: a run that had not started is given to another worker; a run on a
worker that died fails alone (`WorkerDied`: the server answers 503, retry); only that worker is
started again; a cancel (time-out, client gone, shutdown) is sent to the worker that has the run,
and a worker whose run does not stop within CANCEL_GRACE_S is killed with its subprocesses.
"""
from __future__ import annotations

import asyncio
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
from typing import Any, Iterator, Mapping

from ..core import CancelToken, Cancelled
from . import worker

log = logging.getLogger("modulespack.serve")

START_METHOD = "spawn"  # a fresh interpreter: a fork would copy the server's threads' locks mid-use
CANCEL_GRACE_S = 2.0    # a cancelled run ends within this, or its worker is killed (and replaced)
POLL_S = 0.1            # how often a busy worker's thread looks for a cancel of its run
EXIT_WAIT_S = 3.0       # a worker asked to stop exits within this, or is killed
START_TRIES = 3         # a worker dying this many times in a row before it is ready: the pool is in error


class WorkerDied(RuntimeError):
    """The worker process that had a run died during it (the run may be tried again)."""


class ProcessRun:
    """A run given to the pool: its result arrives in `future`; `token` cancels it."""
    __slots__ = ("task", "graph", "feeds", "fetches", "token", "future", "slots", "worker", "claimed",
                 "started")

    def __init__(self, task: int, graph: str, feeds: dict, fetches: tuple, token: CancelToken, slots: Any):
        self.task, self.graph, self.feeds, self.fetches = task, graph, feeds, fetches
        self.token, self.slots = token, slots
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


def _marked(tag: str) -> Iterator[int]:
    needle = f"\0{worker.WORKER_ENV}={tag}\0".encode()
    try:
        names = os.listdir("/proc")
    except OSError:  # not Linux: nothing to find this way
        return
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    env = b"\0" + f.read()
            except OSError:
                continue
            if needle in env:
                yield int(name)


def kill_marked(tag: str) -> int:
    """Kill the processes (their groups, when they lead one) whose environment has `worker.WORKER_ENV`=tag."""
    n = 0
    own = os.getpgrp()
    for pid in _marked(tag):
        try:
            pgid = os.getpgid(pid)
            if pgid == pid and pgid != own:
                os.killpg(pgid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            n += 1
        except OSError:
            pass
    return n


class _Pool:
    """One set of workers, a thread each, and the queue of runs no worker has taken yet. `stop` ends
    it; the next run starts another."""

    def __init__(self, graphs: Mapping[str, tuple[dict, str]], n: int, session_options: Mapping[str, Any]):
        self.ctx = multiprocessing.get_context(START_METHOD)
        self.graphs, self.session_options = dict(graphs), dict(session_options)
        self.slots = self.ctx.Array("c", n * worker.SLOT, lock=False)
        self.cond = threading.Condition()
        self.queue: collections.deque[ProcessRun] = collections.deque()
        self.workers: list[_Worker | None] = [None] * n
        self.stopping = False
        self.warm = threading.Event()            # every worker has been ready once (or the pool failed)
        self.error: str | None = None            # no worker could start
        self.errors: dict[str, str] = {}         # graph -> why a worker could not build it
        self._ready: set[int] = set()
        self.threads = [threading.Thread(target=self._drive, args=(i,), name=f"serve-worker-{i}", daemon=True)
                        for i in range(n)]
        for t in self.threads:
            t.start()

    # -------------------------------------------------------------- called by the server

    def submit(self, run: ProcessRun) -> None:
        with self.cond:
            if self.stopping:
                raise Cancelled("the server is stopping")
            self.queue.append(run)
            self.cond.notify()

    def withdraw(self, run: ProcessRun) -> None:
        """`run` was cancelled: if no worker has taken it, it ends now (else its worker thread sends
        the cancel to the worker)."""
        with self.cond:
            try:
                self.queue.remove(run)
            except ValueError:
                return
        run.settle(exc=Cancelled(run.token.reason))

    def pids(self) -> list[int]:
        return [w.pid for w in self.workers if w is not None]

    def stop(self) -> None:
        """Cancel every run, stop the workers (killing those that do not stop) and their threads."""
        with self.cond:
            self.stopping = True
            queued = list(self.queue)
            self.queue.clear()
            self.cond.notify_all()
        for run in queued:
            run.settle(exc=Cancelled("the server is stopping"))
        deadline = monotonic() + CANCEL_GRACE_S + EXIT_WAIT_S + 1.0
        for t in self.threads:
            if t is not threading.current_thread():  # a collection of the owner can run on any thread
                t.join(max(0.0, deadline - monotonic()))

    # -------------------------------------------------------------- a worker's thread

    def _drive(self, i: int) -> None:
        """Keep worker `i` running and fed until the pool stops; start it again when it dies, or when
        this thread meets an error it does not expect (the run it had fails, not the thread)."""
        tries = 0
        while not self.stopping:
            try:
                w = self._start(i)
            except Exception:
                log.exception("worker process %d could not be started", i)
                w = None
            if w is None:
                tries += 1
                if tries >= START_TRIES and not self.warm.is_set():
                    self.error = f"worker process {i} exited before it was ready, {tries} times (see the log)"
                    self.warm.set()
                with self.cond:
                    self.cond.wait_for(lambda: self.stopping, timeout=min(10.0, 0.5 * 2 ** tries))
                continue
            tries = 0
            with self.cond:
                self.workers[i] = w
                self.errors.update(w.info.get("errors", {}))
                self.error = None  # runs can be served again
                self._ready.add(i)
                if len(self._ready) == len(self.workers):
                    self.warm.set()
            try:
                self._serve(w)
            except Exception:
                log.exception("worker process %d (pid %s): unexpected error in the server's thread for it; "
                              "the worker is replaced", i, w.pid)
            finally:
                with self.cond:
                    if self.workers[i] is w:
                        self.workers[i] = None
                self._retire(w)

    def _start(self, i: int) -> _Worker | None:
        parent, child = self.ctx.Pipe()
        tmp = tempfile.mkdtemp(prefix=f"modulespack-worker-{i}-")
        p = self.ctx.Process(target=worker.main, name=f"modulespack-worker-{i}", daemon=True,
                             args=(child, self.graphs, self.session_options, self.slots, i, tmp))
        try:
            p.start()
        except Exception:
            log.exception("worker process %d could not be started", i)
            parent.close()
            shutil.rmtree(tmp, ignore_errors=True)
            return None
        finally:
            child.close()  # the worker holds the only other end: its death is an EOF here
        w = _Worker(i, p, parent, tmp)
        try:
            while not self.stopping:
                if parent.poll(0.2):
                    msg = parent.recv()
                    if msg[0] == "ready":
                        w.info = msg[1]
                        return w
        except (EOFError, OSError):
            p.join(1.0)
            log.error("worker process %d (pid %s) exited with %s before it was ready", i, p.pid, p.exitcode)
        self._retire(w)
        return None

    def _next(self) -> ProcessRun | None:
        """The next run to give to a worker (None when the pool stops)."""
        with self.cond:
            while not self.stopping:
                while self.queue:
                    run = self.queue.popleft()
                    if not run.claimed:
                        if not run.future.set_running_or_notify_cancel():
                            continue  # its caller gave up on it while it waited
                        run.claimed = True
                    if run.token.is_set():
                        run.settle(exc=Cancelled(run.token.reason))
                        continue
                    return run
                self.cond.wait()
        return None

    def _serve(self, w: _Worker) -> None:
        """Feed worker `w` runs, one at a time, until it dies or the pool stops."""
        while True:
            run = self._next()
            if run is None:
                return
            try:
                if not self._give(w, run):
                    return
            except BaseException as e:  # a bug here must not leave the run's caller waiting forever
                run.settle(exc=worker.WorkerError(f"internal error of the worker pool: {type(e).__name__}: {e}",
                                                  traceback.format_exc()))
                raise

    def _give(self, w: _Worker, run: ProcessRun) -> bool:
        """Run `run` on `w`; False if the worker died."""
        run.worker = w
        try:
            w.conn.send(("run", run.task, run.graph, run.feeds, run.fetches))
        except (EOFError, OSError):  # the worker died before it got the run
            self._requeue(run)
            return False
        except Exception as e:  # inputs that do not pickle (nothing was sent)
            run.settle(exc=worker.WorkerError(f"the inputs cannot be sent to a worker process: "
                                              f"{type(e).__name__}: {e}"))
            return True
        return self._follow(w, run)

    def _follow(self, w: _Worker, run: ProcessRun) -> bool:
        """Wait for `run`'s outcome on `w`, passing a cancel on; False if the worker died."""
        deadline: float | None = None
        while True:
            if deadline is None and (run.token.is_set() or self.stopping):
                try:
                    w.conn.send(("cancel", run.task, run.token.reason or "the server is stopping"))
                except OSError:
                    pass
                deadline = monotonic() + CANCEL_GRACE_S
            try:
                msg = w.conn.recv() if w.conn.poll(POLL_S) else None
            except (EOFError, OSError):
                msg = ()
            except Exception as e:  # it came whole but does not unpickle here (an exception class whose
                # __init__ takes other arguments, a class this process cannot import): the run is over
                log.error("worker process %d: the outcome of run %d of graph '%s' could not be read: %s: %s",
                          w.pid, run.task, run.graph, type(e).__name__, e)
                run.settle(exc=worker.WorkerError(f"the result could not be read from the worker process: "
                                                  f"{type(e).__name__}: {e}"))
                return True
            if msg is None:
                if deadline is not None and monotonic() > deadline:
                    log.warning("worker process %d: run %d was cancelled (%s) and did not stop within %g s: "
                                "the worker is killed and replaced", w.pid, run.task,
                                run.token.reason or "the server is stopping", CANCEL_GRACE_S)
                    w.kill()
                    deadline = float("inf")
                continue
            if not msg:  # the worker died
                if not run.started:
                    self._requeue(run)
                elif run.token.is_set():
                    run.settle(exc=Cancelled(run.token.reason))
                else:
                    log.error("worker process %d died during run %d of graph '%s' (exit code %s)", w.pid,
                              run.task, run.graph, w.process.exitcode)
                    run.settle(exc=WorkerDied(f"the worker process running it (pid {w.pid}) died"))
                return False
            kind, task = msg[0], msg[1]
            if task != run.task:
                continue
            if kind == "started":
                run.started = True
                run.feeds = None  # not needed again: a started run is not tried again
            elif kind == "done":
                run.settle(msg[2])
                return True
            else:
                run.settle(exc=msg[2])
                return True

    def _requeue(self, run: ProcessRun) -> None:
        """A run whose worker died before it started goes back to the head of the queue."""
        run.worker = None
        with self.cond:
            if not self.stopping:
                log.warning("run %d of graph '%s' goes to another worker: its worker died before it started",
                            run.task, run.graph)
                self.queue.appendleft(run)
                self.cond.notify()
                return
        run.settle(exc=Cancelled("the server is stopping"))

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


class _PoolSlot:
    """Where a ProcessPools keeps its current pool; what its exit hook stops (the hook must not
    hold the ProcessPools itself, or it would keep it alive)."""
    __slots__ = ("pool", "lock")

    def __init__(self) -> None:
        self.pool: _Pool | None = None
        self.lock = threading.Lock()

    def stop(self) -> None:
        with self.lock:
            pool, self.pool = self.pool, None
        if pool is not None:
            pool.stop()


class ProcessPools:
    """The worker processes of every graph served with executor="process": started on first use (or
    by `warm_up`), `ready` once every worker has built its Sessions (`errors`: graph -> why a
    worker could not build it), stopped by `stop` (started again by the next run).

    An app that never gets its lifespan's shutdown (mounted in another app, a TestClient without
    `with`) does not call `stop`: the pool is then stopped when this object is collected or at
    interpreter exit, so no worker process or temporary folder outlives the server."""

    def __init__(self, graphs: Mapping[str, tuple[dict, str]], workers: int, session_options: Mapping[str, Any]):
        # the validated specs, not the files: an edit after start-up changes nothing
        self.graphs = dict(graphs)
        self.workers = workers
        self.session_options = dict(session_options)
        self._slot = _PoolSlot()
        self._tasks = itertools.count(1)
        weakref.finalize(self, self._slot.stop)  # at exit too: daemon threads and workers get no other chance

    @property
    def _pool(self) -> _Pool | None:
        return self._slot.pool

    def _get(self) -> _Pool:
        pool = self._slot.pool
        if pool is None:
            with self._slot.lock:
                if self._slot.pool is None:
                    self._slot.pool = _Pool(self.graphs, self.workers, self.session_options)
                pool = self._slot.pool
        return pool

    @property
    def ready(self) -> bool:
        pool = self._pool
        return not self.graphs or (pool is not None and pool.warm.is_set() and pool.error is None)

    @property
    def errors(self) -> dict[str, str]:
        pool = self._pool
        return dict(pool.errors) if pool is not None else {}

    @property
    def error(self) -> str | None:
        pool = self._pool
        if pool is None:
            return None
        return pool.error or "; ".join(f"{g}: {m}" for g, m in pool.errors.items()) or None

    async def warm_up(self) -> bool:
        """Start the workers and wait until each has built its Sessions (for /readyz)."""
        if not self.graphs:
            return True
        pool = self._get()
        while not pool.warm.is_set():
            if pool.stopping:
                return False
            await asyncio.sleep(0.05)
        return pool.error is None

    def can_run(self, name: str) -> bool:
        return self.ready and name not in self.errors

    def worker_pids(self) -> list[int]:
        pool = self._pool
        return pool.pids() if pool is not None else []

    def running(self) -> dict[int, str | None]:
        """Worker pid -> the node its run is in ("" before the first node), for the busy workers."""
        pool = self._pool
        out: dict[int, str | None] = {}
        for w in (pool.workers if pool is not None else ()):
            found = worker.read_slot(pool.slots, w.index) if w is not None else None
            if found is not None:
                out[w.pid] = found[1] or ""
        return out

    def submit(self, name: str, feeds: dict, fetches: tuple, token: CancelToken) -> ProcessRun:
        """Queue a run for the next free worker; `run.future` gets its core Result, or its error: a
        core error (FeedError, NodeError, NodeInputError, Cancelled), WorkerDied or WorkerError."""
        pool = self._get()
        run = ProcessRun(next(self._tasks), name, feeds, fetches, token, pool.slots)
        pool.submit(run)
        token.on_cancel(lambda: pool.withdraw(run))
        return run

    def stop(self) -> None:
        """Stop the workers (cancelling their runs); a new set starts on the next run."""
        self._slot.stop()
