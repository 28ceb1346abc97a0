"""The local engine's worker pool: one process per worker, each with a pipe of its own and a thread
in the parent that feeds it one run at a time from a shared queue (why not ProcessPoolExecutor: see
`local`). `Pool` starts, feeds, follows, cancels and replaces the workers; `Job` is one run in it."""
from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import shutil
import signal
import tempfile
import threading
import traceback
from concurrent.futures import Future, InvalidStateError
from time import monotonic
from typing import Any, Callable, Mapping

from ..core import Cancelled, CancelToken
from . import worker
from .base import EngineError, WorkerDied
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


class Job:
    """A run given to the pool: its result arrives in `future`; `token` cancels it."""
    __slots__ = ("task", "feeds", "fetches", "token", "future", "slots", "worker", "claimed", "started")

    def __init__(self, task: int, feeds: dict, fetches: Any, token: CancelToken, slots: Any):
        self.task, self.feeds, self.fetches, self.token, self.slots = task, feeds, fetches, token, slots
        self.future: Future = Future()
        self.worker: WorkerProc | None = None
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


class WorkerProc:
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


class Pool:
    """One set of workers, a thread each, and the queue of runs no worker has taken yet. `stop` ends it."""

    def __init__(self, spec: dict, path: str | None, n: int, session_options: Mapping[str, Any],
                 warm_up: Callable[[Any], None] | None, start_timeout: float = START_TIMEOUT_S):
        check_not_bootstrapping()
        self.start_timeout = start_timeout
        self.ctx = multiprocessing.get_context(START_METHOD)
        self.spec, self.path, self.session_options, self.warm_up = spec, path, dict(session_options), warm_up
        self.slots = self.ctx.Array("c", n * worker.SLOT, lock=False)
        self.cond = threading.Condition()
        self.queue: collections.deque[Job] = collections.deque()
        self.workers: list[WorkerProc | None] = [None] * n
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

    def submit(self, job: Job) -> None:
        with self.cond:
            if self.stopping:
                raise EngineError("the local engine is closed")
            if self.failed:
                raise EngineError(self.error or "the local engine could not start its workers")
            self.queue.append(job)
            self.cond.notify()

    def withdraw(self, job: Job) -> None:
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
            except Permanent as e:
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

    def _start(self, i: int) -> WorkerProc | None:
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
                raise Permanent(f"worker process {i} cannot be started: {MAIN_GUARD}") from e
            log.exception("worker process %d could not be started", i)
            return None
        finally:
            child.close()  # the worker holds the only other end: its death is an EOF here
        w = WorkerProc(i, p, parent, tmp)
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
                    raise Permanent(f"worker process {i} was not ready within {self.start_timeout:g} s "
                                     f"(building the graph's Session); it was killed")
        except (EOFError, OSError):
            p.join(1.0)
            self._exitcode = p.exitcode
            log.error("worker process %d (pid %s) exited with %s before it was ready", i, p.pid, p.exitcode)
        self._retire(w)
        return None

    def _next(self) -> Job | None:
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

    def _serve(self, w: WorkerProc) -> None:
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

    def _give(self, w: WorkerProc, job: Job) -> bool:
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

    def _follow(self, w: WorkerProc, job: Job) -> bool:
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

    def _requeue(self, job: Job) -> None:
        """A run whose worker died before it started goes back to the head of the queue."""
        job.worker = None
        with self.cond:
            if not self.stopping:
                log.warning("run %d goes to another worker: its worker died before it started", job.task)
                self.queue.appendleft(job)
                self.cond.notify()
                return
        job.settle(exc=Cancelled(STOPPING))

    def _retire(self, w: WorkerProc) -> None:
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


class Permanent(Exception):
    """A worker cannot be started, and trying again would not help."""
