"""Process-pool side of `executor="process"`: each worker process builds its own Sessions from the
graph files once (in the pool initializer) and runs requests on them.

Results and errors cross the process boundary as plain tuples, so nothing depends on exception
classes pickling well.
"""
from __future__ import annotations

import os
import traceback
from typing import Any

SLOT = 256  # bytes per worker in the shared "which node is running" table

_SESSIONS: dict[str, Any] = {}
_SETUP_ERRORS: dict[str, str] = {}
_SLOTS: Any = None
_SLOT_OFFSET = -1


class SlotTracker:
    """A registry.Tracker that also writes `task:node` into this worker's slot of a shared table,
    so the server can name the running node when a run times out (no IPC per node: a memory write)."""
    __slots__ = ("task", "_node", "since")

    def __init__(self, task: int):
        self.task = task
        self._node: str | None = None
        self.since = 0.0

    @property
    def node(self) -> str | None:
        return self._node

    @node.setter
    def node(self, value: str | None) -> None:
        self._node = value
        if _SLOTS is not None and _SLOT_OFFSET >= 0:
            data = f"{self.task}:{value or ''}".encode("utf-8")[:SLOT - 1]
            _SLOTS[_SLOT_OFFSET:_SLOT_OFFSET + SLOT] = data + bytes(SLOT - len(data))


def read_slots(slots: Any, task: int) -> str | None:
    """The node task `task` is running, from the shared table (best effort)."""
    raw = bytes(slots[:])
    prefix = f"{task}:".encode()
    for i in range(0, len(raw), SLOT):
        entry = raw[i:i + SLOT].split(b"\0", 1)[0]
        if entry.startswith(prefix):
            node = entry[len(prefix):].decode("utf-8", "replace")
            return node or None
    return None


def init_worker(graphs: dict[str, str], session_options: dict[str, Any], slots: Any = None,
                counter: Any = None) -> None:
    """Build one Session per graph (name -> file path); a graph that fails is remembered, not fatal."""
    global _SLOTS, _SLOT_OFFSET
    from ..core import Session
    from .registry import instrument

    if slots is not None and counter is not None:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        if (index + 1) * SLOT <= len(slots):
            _SLOTS, _SLOT_OFFSET = slots, index * SLOT
    for name, path in graphs.items():
        try:
            _SESSIONS[name] = sess = Session(path, **session_options)
            instrument(sess)
        except Exception as e:  # reported on every run of that graph
            _SETUP_ERRORS[name] = f"{type(e).__name__}: {e}"


def ping() -> dict[str, Any]:
    return {"pid": os.getpid(), "graphs": sorted(_SESSIONS), "errors": dict(_SETUP_ERRORS)}


def run(name: str, feeds: dict[str, Any], fetches: tuple[str, ...], task: int = 0) -> tuple:
    """("ok", outputs, timings, seconds) | ("feed", message, port) | ("node", message, node, module, tb)
    | ("error", message, tb)."""
    from ..core import FeedError, NodeError
    from .registry import _local

    sess = _SESSIONS.get(name)
    if sess is None:
        return ("error", f"graph '{name}' could not be set up in worker process {os.getpid()}: "
                         f"{_SETUP_ERRORS.get(name, 'unknown graph')}", "")
    tracker = _local.tracker = SlotTracker(task)
    try:
        res = sess.run(feeds, fetches)
    except FeedError as e:
        return ("feed", str(e), e.port)
    except NodeError as e:
        return ("node", str(e), e.node, e.module, e.traceback)
    except Exception as e:
        return ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
    finally:
        _local.tracker = None
        tracker.node = None
    return ("ok", res.outputs, res.timings, res.seconds)


def shutdown_worker() -> None:
    for s in _SESSIONS.values():
        try:
            s.close()
        except Exception:
            pass
    _SESSIONS.clear()
