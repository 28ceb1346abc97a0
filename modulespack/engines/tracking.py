"""Which node a run is in: a Tracker per run, installed as the core's node hooks, so a time-out can
name the node that hung (`Run.running()`). The thread engine reads it directly; worker processes
copy it into a shared table the parent reads (`engines.worker.SlotTracker`)."""
from __future__ import annotations

import itertools
from time import perf_counter
from typing import Any

from ..core import CancelToken, Session
from ..core.hooks import HOOKS, NodeHooks


class Tracker(NodeHooks):
    """Which nodes a run is in. The core Session calls it for every node, also on its thread pool
    and inside nested graphs (`outer > inner`). `running()` names the node that has run longest
    (the innermost of nested ones).

    No lock: every run pays for its tracker at each node, and the dict's single operations (and
    `list` of its values) are atomic under the GIL, which is all `running()` needs from another
    thread."""
    __slots__ = ("_running", "_ids")

    def __init__(self) -> None:
        self._running: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()

    def node_started(self, path: str) -> int:
        key = next(self._ids)
        self._running[key] = (path, perf_counter())
        return key

    def node_ended(self, path: str, key: Any, seconds: float, error: BaseException | None) -> None:
        self._running.pop(key, None)

    def running(self) -> str | None:
        items = list(self._running.values())
        paths = {p for p, _ in items}
        inner = [(since, p) for p, since in items if not any(q.startswith(p + " > ") for q in paths)]
        return min(inner)[1] if inner else None


def run_tracked(session: Session, feeds: Any, fetches: Any, tracker: NodeHooks,
                cancel: CancelToken | None = None) -> Any:
    """`session.run` with `tracker` seeing its nodes (run on a pool thread, whose context is its own)."""
    reset = HOOKS.set(tracker)
    try:
        return session.run(feeds, fetches, cancel=cancel)
    finally:
        HOOKS.reset(reset)
