"""Where a graph runs: one interface for every engine (threads in this process, local worker
processes, Ray), so the CLI, the batch runner and the web server use any of them alike.

An engine runs ONE validated graph. It raises the core's own errors (`FeedError`, `NodeError`,
`NodeInputError`, `Cancelled`, ...) and the two engine troubles below, never web-layer errors.

    engine = make_engine("local", graph, workers=2)
    engine.start()                                  # build Sessions / start workers
    run = engine.submit({"text": "hi"}, ("wav",))  # -> Run: run.future resolves to a core Result
    run.running()                                   # the node the run is in now ("outer > inner")
    run.cancel("timed out")                         # stops it: between nodes, and its programs
    engine.close()
"""
from __future__ import annotations

import abc
import time
from concurrent.futures import Future
from typing import Any, Callable, Mapping, Sequence

from ..core import BuiltGraph, CancelToken, Result


READY_POLL_S = 0.05  # how often the default `wait_ready` looks


class WorkerDied(RuntimeError):
    """The worker (process, Ray actor) that had this run died during it; the run may be tried again."""


class EngineError(RuntimeError):
    """The engine cannot run anything: it failed to start, or it is closed."""


class Run:
    """A submitted run: `future` gives the core `Result` (or raises a core error); `token` cancels it."""

    __slots__ = ("future", "token", "_running")

    def __init__(self, future: Future, token: CancelToken, running: Callable[[], str | None] | None = None):
        self.future = future
        self.token = token
        self._running = running

    def running(self) -> str | None:
        """The path of the node this run is in now (innermost of nested graphs), if known."""
        return self._running() if self._running is not None else None

    def cancel(self, reason: str = "cancelled") -> None:
        self.token.cancel(reason)

    def result(self, timeout: float | None = None) -> Result:
        return self.future.result(timeout)


class Engine(abc.ABC):
    """Runs one validated graph somewhere. Subclasses set `kind`."""

    kind: str = "?"

    def __init__(self, graph: BuiltGraph, **options: Any):
        self.graph = graph
        self.options = dict(options)

    @property
    def name(self) -> str:
        return self.graph.name

    @abc.abstractmethod
    def start(self) -> None:
        """Build what runs need (Sessions, worker processes, actors); may return before they are ready."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """Can a run start now?"""

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start, then wait until a run can start (False on time-out, or when health() reports an
        error: the graph cannot be set up). Engines that can wait on an event override this."""
        self.start()
        end = None if timeout is None else time.monotonic() + timeout
        while not self.ready():
            if self.health().get("error") or (end is not None and time.monotonic() >= end):
                return False
            time.sleep(READY_POLL_S)
        return True

    def health(self) -> Mapping[str, Any]:
        """What a readiness probe or an operator wants to know: at least `ready` and `error`."""
        return {"ready": self.ready(), "error": None, "kind": self.kind}

    @abc.abstractmethod
    def submit(self, feeds: Mapping[str, Any], fetches: Sequence[str] | None = None, *,
               token: CancelToken | None = None) -> Run:
        """Start a run; its Result (or core error) arrives in the returned Run's future."""

    def run(self, feeds: Mapping[str, Any], fetches: Sequence[str] | None = None,
            timeout: float | None = None) -> Result:
        """Submit and wait (cancelling the run if the wait times out)."""
        r = self.submit(feeds, fetches)
        try:
            return r.result(timeout)
        except BaseException:
            r.cancel("the caller stopped waiting")
            raise

    @abc.abstractmethod
    def close(self) -> None:
        """Cancel what runs, stop workers, release everything. Idempotent."""

    def __enter__(self) -> "Engine":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
