"""The thread engine: a graph's Session in this process, its runs on a pool of `workers` threads.

The default for `serve` and `run`: no start-up cost, no copies of inputs and outputs. Modules that
hold the GIL serialise here; use the local engine (worker processes) for them.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from typing import Any, Callable, Mapping, Sequence

from ..core import BuiltGraph, Cancelled, CancelToken, Session
from .base import Engine, EngineError, Run
from .tracking import Tracker, run_tracked

log = logging.getLogger("modulespack.engines")


def _settle(fut: Future, result: Any = None, exc: BaseException | None = None) -> None:
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    except InvalidStateError:  # settled already (cancelled while it started)
        pass


class ThreadEngine(Engine):
    """A Session built here (`session_options` for it), runs on `workers` threads (default: the
    standard library's thread pool size). `warm_up(session)`, if given, runs once after the Session
    is built, on the pool: `ready()` after it. `start()` builds the Session (raising the core's
    GraphError if a module cannot be set up); `submit` starts the engine if needed. `close()` then
    `start()` builds a new Session."""

    kind = "thread"

    def __init__(self, graph: BuiltGraph, *, workers: int | None = None,
                 session_options: Mapping[str, Any] | None = None,
                 warm_up: Callable[[Session], None] | None = None, **options: Any):
        super().__init__(graph, workers=workers, session_options=session_options, **options)
        self.workers = workers
        self.session_options = dict(session_options or {})
        self.warm_up = warm_up
        self.session: Session | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._warm = threading.Event()
        self._error: str | None = None
        self._warm_up_error: str | None = None
        self._closed = False
        self._live: set[CancelToken] = set()

    def start(self) -> None:
        """Build the Session (again, after `close()`: the only way to undo a close)."""
        with self._lock:
            self._closed = False
            self._build()

    def _build(self) -> None:
        """Under `_lock`: the Session and the pool, if there are none."""
        if self.session is not None:
            return
        try:
            self.session = Session(self.graph, **self.session_options)
        except Exception as e:
            self._error = f"{type(e).__name__}: {e}"
            raise
        self._error = None
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix=f"engine-{self.name}")
        self._warm.clear()
        self._warm_up_error = None
        if self.warm_up is None:
            self._warm.set()
        else:
            self._pool.submit(self._run_warm_up, self.session)

    def _run_warm_up(self, session: Session) -> None:
        try:
            self.warm_up(session)  # type: ignore[misc]
        except Exception as e:  # a warm-up only: the graph stays usable
            self._warm_up_error = str(e) or type(e).__name__
        finally:
            self._warm.set()

    def ready(self) -> bool:
        return self.session is not None and self._warm.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        with self._lock:
            if self._closed:
                raise EngineError(f"graph '{self.name}': the thread engine is closed")
            self._build()
        return self._warm.wait(timeout)

    def health(self) -> Mapping[str, Any]:
        return {"ready": self.ready(), "kind": self.kind, "error": self._error,
                "warm_up_error": self._warm_up_error, "started": self.session is not None,
                "workers": self._pool._max_workers if self._pool is not None else self.workers}

    def submit(self, feeds: Mapping[str, Any], fetches: Sequence[str] | None = None, *,
               token: CancelToken | None = None) -> Run:
        with self._lock:  # a close() on another thread is not undone by building again here
            if self._closed:
                raise EngineError(f"graph '{self.name}': the thread engine is closed")
            try:
                self._build()
            except Exception as e:
                raise EngineError(f"graph '{self.name}' cannot run: {self._error or e}") from e
            session, pool = self.session, self._pool
        assert session is not None and pool is not None
        token = token if token is not None else CancelToken()
        tracker = Tracker()
        out: Future = Future()
        self._live.add(token)

        def work() -> None:
            if not out.set_running_or_notify_cancel():
                return
            try:
                _settle(out, run_tracked(session, feeds, fetches, tracker, token))
            except BaseException as e:
                _settle(out, exc=e)

        try:
            inner = pool.submit(work)
        except RuntimeError:  # the pool was shut down meanwhile (close on another thread)
            self._live.discard(token)
            raise EngineError(f"graph '{self.name}': the thread engine is closed") from None

        def cancelled() -> None:  # a run no thread has taken ends now
            if inner.cancel():
                _settle(out, exc=Cancelled(token.reason))
        unregister = token.on_cancel(cancelled)

        def ended(_f: Future) -> None:
            unregister()
            self._live.discard(token)
        out.add_done_callback(ended)
        return Run(out, token, tracker.running)

    def close(self) -> None:
        """Cancel the runs in progress (they stop between nodes; their programs are killed), stop
        the pool and close the Session's modules."""
        with self._lock:
            self._closed = True
            session, pool = self.session, self._pool
            self.session = self._pool = None
        for token in list(self._live):
            token.cancel("the engine is stopping")
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if session is not None:
            # a node that ignores its token may still run on a pool thread: close the modules when
            # the pool is idle, on a thread of its own, not under the caller
            if pool is None or not self._live:
                _close_quietly(session)
            else:
                threading.Thread(target=_close_after, args=(pool, session), daemon=True,
                                 name=f"engine-close-{self.name}").start()


def _close_after(pool: ThreadPoolExecutor, session: Session) -> None:
    pool.shutdown(wait=True)
    _close_quietly(session)


def _close_quietly(session: Session) -> None:
    try:
        session.close()
    except Exception:
        log.exception("closing a Session failed")
