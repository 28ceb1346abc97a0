"""A worker process of the local engine (the child side of `local`): it builds the graph's Session
once, from the spec the parent validated, runs an optional warm-up, then runs one run at a time.

Messages on its pipe, parent -> worker: ("run", task, feeds, fetches), ("cancel", task, reason),
None (stop). Worker -> parent: ("ready", {"pid", "error", "warm_up_error"}), then per run
("started", task) and ("done", task, core Result) or ("failed", task, exception): the core's own
errors (FeedError, NodeError, NodeInputError, Cancelled pickle), or an `EngineError` carrying any
other one as text (with its `traceback` attribute).

One run at a time per worker: modules that hold the GIL (pocketsphinx) gain nothing from a second
run in the same process, and a kill -9 then loses one run only.

A listener thread reads the pipe while a run works, so a cancel reaches the run's CancelToken at
once: the Session stops between nodes and subprocesses started with `core.proc.run_process` are
killed. If the parent goes away (the pipe closes), the worker cancels its run and leaves.

The worker also writes `task:node` into its slot of a shared table (`SLOT` bytes) while it runs,
so the parent can name the running node when a run times out (a memory write per node, no message).
"""
from __future__ import annotations

import os
import queue
import signal
import threading
import traceback
from pathlib import Path
from typing import Any, Callable

from .base import EngineError
from .tracking import Tracker, run_tracked

SLOT = 256  # bytes per worker in the shared "which node is running" table
# set to "parent pid:worker pid" in each worker: the programs it starts inherit it, so the parent can
# find and stop them when the worker dies (they run in process groups of their own, see core.proc)
WORKER_ENV = "MODULESPACK_SERVE_WORKER"
EXIT_GRACE_S = 3.0  # after the parent is gone or asks a stop, the worker ends by itself within this


def internal_error(message: str, tb: str = "") -> EngineError:
    """An EngineError for a failure that is not the core's (it pickles with its traceback)."""
    e = EngineError(message)
    e.traceback = tb  # type: ignore[attr-defined]  # kept by pickle (in the exception's __dict__)
    return e


# ------------------------------------------------------------------------------- the shared table


class SlotTracker(Tracker):
    """A Tracker that also writes `task:node` into this worker's slot of the shared table (under a
    lock, so that parallel branches' writes land in the order of their changes)."""
    __slots__ = ("task", "slots", "offset", "_lock")

    def __init__(self, task: int, slots: Any, index: int):
        super().__init__()
        self.task, self.slots, self.offset = task, slots, index * SLOT
        self._lock = threading.Lock()
        self._write(f"{task}:")  # running, before any node

    def _write(self, text: str) -> None:
        data = text.encode("utf-8")[:SLOT - 1]
        self.slots[self.offset:self.offset + SLOT] = data + bytes(SLOT - len(data))

    def node_started(self, path: str) -> int:
        with self._lock:
            key = super().node_started(path)
            self._write(f"{self.task}:{self.running() or ''}")
        return key

    def node_ended(self, path: str, key: Any, seconds: float, error: BaseException | None) -> None:
        with self._lock:
            super().node_ended(path, key, seconds, error)
            self._write(f"{self.task}:{self.running() or ''}")

    def clear(self) -> None:
        with self._lock:
            self._write("")


def read_slot(slots: Any, index: int) -> tuple[int, str | None] | None:
    """(task, running node) that worker `index` reports in the shared table, or None if idle."""
    entry = bytes(slots[index * SLOT:(index + 1) * SLOT]).split(b"\0", 1)[0]
    task, sep, node = entry.partition(b":")
    if not sep or not task.isdigit():
        return None
    return int(task), node.decode("utf-8", "replace") or None


# ------------------------------------------------------------------------------- the process


class _Current:
    """The run in progress and its token; a cancel may come before the run starts (it is kept until
    then), or after it ended (it is dropped)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.task: int | None = None
        self.token: Any = None
        self.waiting: set[int] = set()    # tasks received, not started yet
        self.early: dict[int, str] = {}   # task -> reason, cancelled before it started (waiting only)

    def received(self, task: int) -> None:
        """The listener got run `task` (before it is queued: a cancel for it is read after it)."""
        with self.lock:
            self.waiting.add(task)

    def begin(self, task: int) -> Any:
        from ..core import CancelToken
        token = CancelToken()
        with self.lock:
            self.task, self.token = task, token
            self.waiting.discard(task)
            reason = self.early.pop(task, None)
        if reason is not None:
            token.cancel(reason)
        return token

    def end(self) -> None:
        with self.lock:
            self.task = self.token = None

    def cancel(self, task: int | None, reason: str) -> None:
        with self.lock:
            token = self.token if task is None or task == self.task else None
            if token is None and task in self.waiting:
                self.early[task] = reason
            # else: a run that has ended (its outcome and this cancel crossed on the pipe): nothing to do
        if token is not None:
            token.cancel(reason)  # kills this run's subprocesses now, from this thread


def main(conn: Any, spec: dict, path: str | None, session_options: dict[str, Any], slots: Any, index: int,
         tmp: str | None = None, warm_up: Callable[[Any], None] | None = None) -> None:
    """The worker process: build the Session (the validated spec as a dict, and its file path for
    relative module paths; a failure is reported, not fatal), warm it up, then serve runs. `tmp`: the
    temporary folder of this worker and what it starts, which the parent removes when it ends (a
    killed worker cleans nothing up)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the parent stops us
    os.environ[WORKER_ENV] = f"{os.getppid()}:{os.getpid()}"
    if tmp is not None:
        import tempfile
        os.environ["TMPDIR"] = tempfile.tempdir = tmp
    session = None
    current = _Current()
    jobs: "queue.SimpleQueue[Any]" = queue.SimpleQueue()

    def leave(reason: str) -> None:
        from ..core.proc import kill_all
        current.cancel(None, reason)
        kill_all()
        jobs.put(None)
        timer = threading.Timer(EXIT_GRACE_S, _exit_now, (tmp,))  # a run that ignores its token
        timer.daemon = True
        timer.start()

    # on a thread: the handler interrupts the main thread, which may hold a lock `leave` needs
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=leave, args=("the worker was terminated",),
                                                              daemon=True).start())
    try:  # from here on the folder is removed however this ends (the parent may die during setup)
        session, error, warm_error = _build(spec, path, session_options, warm_up)
        conn.send(("ready", {"pid": os.getpid(), "error": error, "warm_up_error": warm_error}))
        threading.Thread(target=_listen, args=(conn, jobs, current, leave), daemon=True,
                         name="worker-listener").start()
        while True:
            job = jobs.get()
            if job is None:
                break
            _, task, feeds, fetches = job
            token = current.begin(task)
            conn.send(("started", task))
            message = _run(session, error, feeds, fetches, token, SlotTracker(task, slots, index))
            current.end()
            _send(conn, task, message)
    except (BrokenPipeError, EOFError, OSError):  # the parent is gone
        pass
    finally:
        if session is not None:
            try:
                session.close()
            except Exception:
                pass
        _remove(tmp)


def _remove(tmp: str | None) -> None:
    if tmp is not None:  # the parent removes it too, unless it was killed (kill -9 of a batch run)
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


def _exit_now(tmp: str | None) -> None:
    """End a worker whose run does not stop: os._exit skips `main`'s finally, so clean up first."""
    _remove(tmp)
    os._exit(0)


def _build(spec: dict, path: str | None, session_options: dict[str, Any],
           warm_up: Callable[[Any], None] | None) -> tuple[Any, str | None, str | None]:
    from ..core import Session
    from ..core.spec import parse_graph

    try:
        # the spec the parent validated, not the file as it is now (it may have been edited)
        session = Session(parse_graph(spec, Path(path) if path else None), **session_options)
    except Exception as e:  # reported by health() and on every run
        return None, f"{type(e).__name__}: {e}", None
    if warm_up is not None:  # before this worker says it is ready: its first-run costs are paid
        try:
            warm_up(session)
        except Exception as e:  # a warm-up only: the graph stays usable
            return session, None, str(e) or type(e).__name__
    return session, None, None


def _listen(conn: Any, jobs: "queue.SimpleQueue[Any]", current: _Current, leave: Any) -> None:
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            leave("the parent process is gone")
            return
        if msg is None:
            jobs.put(None)
            return
        if msg[0] == "cancel":
            current.cancel(msg[1], msg[2])
        else:
            current.received(msg[1])
            jobs.put(msg)


def _run(session: Any, error: str | None, feeds: dict, fetches: Any, token: Any, tracker: SlotTracker) -> tuple:
    from ..core import Cancelled, FeedError, GraphError, NodeError

    if session is None:
        return ("failed", EngineError(f"the graph could not be set up in worker process {os.getpid()}: {error}"))
    try:
        return ("done", run_tracked(session, feeds, fetches, tracker, cancel=token))
    except (FeedError, NodeError, Cancelled, GraphError) as e:
        return ("failed", e)
    except Exception as e:
        return ("failed", internal_error(f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        tracker.clear()


def _send(conn: Any, task: int, message: tuple) -> None:
    try:
        conn.send((message[0], task, message[1]))
    except (BrokenPipeError, EOFError):
        raise
    except Exception as e:  # an output or an exception that does not pickle
        conn.send(("failed", task, internal_error(
            f"the run's {'result' if message[0] == 'done' else 'error'} cannot be sent back from the worker "
            f"process: {type(e).__name__}: {e}")))
