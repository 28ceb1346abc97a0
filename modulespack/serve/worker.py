"""Process-pool side of `executor="process"`: each worker process builds its own Sessions once (in the
pool initializer) from the specs the server validated at start-up, and runs requests on them.

Results and errors cross the process boundary as plain tuples, so nothing depends on exception
classes pickling well.

Each worker owns one slot of a shared table (`SLOT` bytes) where it writes `task:node` while it runs a
task (the server names the running node on a timeout, and finds which worker to stop), and its pid
in a shared array (the server kills the worker of a run that timed out).
"""
from __future__ import annotations

import os
import traceback
from pathlib import Path
from typing import Any

from .tracking import TRACKER, Tracker, instrument

SLOT = 256  # bytes per worker in the shared "which node is running" table

_SESSIONS: dict[str, Any] = {}
_SETUP_ERRORS: dict[str, str] = {}
_SLOTS: Any = None
_SLOT_OFFSET = -1


def _write_slot(text: str) -> None:
    if _SLOTS is not None and _SLOT_OFFSET >= 0:
        data = text.encode("utf-8")[:SLOT - 1]
        _SLOTS[_SLOT_OFFSET:_SLOT_OFFSET + SLOT] = data + bytes(SLOT - len(data))


class SlotTracker(Tracker):
    """A Tracker that also writes `task:node` into this worker's slot of the shared table, so the
    server can name the running node when a run times out (no IPC per node: a memory write)."""
    __slots__ = ("task",)

    def __init__(self, task: int):
        super().__init__()
        self.task = task
        _write_slot(f"{task}:")  # running, before any node: the server can find this worker

    def changed(self) -> None:
        _write_slot(f"{self.task}:{self.running() or ''}")

    def clear(self) -> None:
        _write_slot("")


def _entries(slots: Any) -> list[bytes]:
    raw = bytes(slots[:])
    return [raw[i:i + SLOT].split(b"\0", 1)[0] for i in range(0, len(raw), SLOT)]


def find_task(slots: Any, task: int) -> tuple[int, str | None] | None:
    """(worker index, running node) of task `task` from the shared table, or None if no worker runs
    it now (best effort)."""
    prefix = f"{task}:".encode()
    for index, entry in enumerate(_entries(slots)):
        if entry.startswith(prefix):
            return index, entry[len(prefix):].decode("utf-8", "replace") or None
    return None


def read_slots(slots: Any, task: int) -> str | None:
    """The node task `task` is running, from the shared table (best effort)."""
    found = find_task(slots, task)
    return found[1] if found else None


def init_worker(graphs: dict[str, tuple[dict, str]], session_options: dict[str, Any], slots: Any = None,
                counter: Any = None, pids: Any = None) -> None:
    """Build one Session per graph (name -> (validated spec as a dict, its file path, for relative
    module paths)); a graph that fails is remembered, not fatal."""
    global _SLOTS, _SLOT_OFFSET
    from ..core import Session
    from ..core.spec import parse_graph

    if slots is not None and counter is not None:
        with counter.get_lock():
            index = counter.value
            counter.value += 1
        if (index + 1) * SLOT <= len(slots):
            _SLOTS, _SLOT_OFFSET = slots, index * SLOT
            if pids is not None and index < len(pids):
                pids[index] = os.getpid()
    for name, (data, path) in graphs.items():
        try:
            # the spec the server validated, not the file as it is now (it may have been edited)
            _SESSIONS[name] = sess = Session(parse_graph(data, Path(path)), **session_options)
            instrument(sess)
        except Exception as e:  # reported on every run of that graph
            _SETUP_ERRORS[name] = f"{type(e).__name__}: {e}"


def ping() -> dict[str, Any]:
    return {"pid": os.getpid(), "graphs": sorted(_SESSIONS), "errors": dict(_SETUP_ERRORS)}


def run(name: str, feeds: dict[str, Any], fetches: tuple[str, ...], task: int = 0) -> tuple:
    """("ok", outputs, timings, seconds) | ("feed", message, port) | ("node", message, node, module, tb)
    | ("error", message, tb)."""
    from ..core import FeedError, NodeError

    sess = _SESSIONS.get(name)
    if sess is None:
        return ("error", f"graph '{name}' could not be set up in worker process {os.getpid()}: "
                         f"{_SETUP_ERRORS.get(name, 'unknown graph')}", "")
    tracker = SlotTracker(task)
    token = TRACKER.set(tracker)
    try:
        res = sess.run(feeds, fetches)
    except FeedError as e:
        return ("feed", str(e), e.port)
    except NodeError as e:
        return ("node", str(e), e.node, e.module, e.traceback)
    except Exception as e:
        return ("error", f"{type(e).__name__}: {e}", traceback.format_exc())
    finally:
        TRACKER.reset(token)
        tracker.clear()
    return ("ok", res.outputs, res.timings, res.seconds)


def shutdown_worker() -> None:
    for s in _SESSIONS.values():
        try:
            s.close()
        except Exception:
            pass
    _SESSIONS.clear()
