"""Which node a run is in: a Tracker per run, found through a context variable by the instrumented
modules, so a timeout can name the node that hung. Used here (thread executor) and in the worker
processes (which also copy it into a shared table the server reads)."""
from __future__ import annotations

import contextvars
import functools
import itertools
import threading
from time import perf_counter
from typing import Any

from ..core import GraphModule, Session


class Tracker:
    """Which nodes a run is in, set by the instrumented modules. Found through a context variable,
    which the instrumented Sessions carry over to their thread pool: nodes of parallel branches
    are seen too. `running()` names the node that has run longest (the innermost of nested ones)."""
    __slots__ = ("_running", "_ids", "_lock")

    def __init__(self) -> None:
        self._running: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()
        self._lock = threading.RLock()  # `changed` may call `running`

    def enter(self, path: str) -> int:
        with self._lock:
            key = next(self._ids)
            self._running[key] = (path, perf_counter())
            self.changed()
        return key

    def leave(self, key: int) -> None:
        with self._lock:
            self._running.pop(key, None)
            self.changed()

    def changed(self) -> None:
        """Called (under the lock) when a node starts or ends."""

    def running(self) -> str | None:
        with self._lock:
            items = list(self._running.values())
        paths = {p for p, _ in items}
        inner = [(since, p) for p, since in items if not any(q.startswith(p + " > ") for q in paths)]
        return min(inner)[1] if inner else None


TRACKER: contextvars.ContextVar[Tracker | None] = contextvars.ContextVar("modulespack_serve_tracker", default=None)


def _tracked(fn: Any, path: str) -> Any:
    @functools.wraps(fn)
    def tracked(*args: Any, **kw: Any) -> Any:
        t = TRACKER.get()
        if t is None:
            return fn(*args, **kw)
        key = t.enter(path)
        try:
            return fn(*args, **kw)
        finally:
            t.leave(key)
    return tracked


def instrument(session: Session, prefix: str = "") -> None:
    """Let a run's Tracker see which node is running (nested graphs as `outer > inner`), also
    for the nodes the Session runs on its own thread pool (it runs them in the caller's context)."""
    for name, inst in session.modules.items():
        path = prefix + name
        if isinstance(inst, GraphModule):
            instrument(inst.session, path + " > ")
            attr = "run_fetch"
        else:
            attr = "run"
        try:
            setattr(inst, attr, _tracked(getattr(inst, attr), path))
        except (AttributeError, TypeError):  # __slots__ or a read-only attribute: just not tracked
            pass


def run_tracked(session: Session, feeds: dict, fetches: tuple, tracker: Tracker) -> Any:
    """`session.run` with `tracker` seeing its nodes (run on a pool thread, whose context is its own)."""
    token = TRACKER.set(tracker)
    try:
        return session.run(feeds, fetches)
    finally:
        TRACKER.reset(token)
