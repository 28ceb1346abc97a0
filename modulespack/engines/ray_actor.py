"""The Ray engine's actor side: one Session of one graph in a Ray actor (`SessionActor`), which runs
one run at a time and answers cancel / running / info meanwhile; `remote_class` makes the Ray actor
class with a graph's resources. The driver side, which dispatches runs to actors, is `ray`."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

from ..core import CancelToken, NodeHooks
from .base import EngineError

MAX_RESTARTS = 4        # Ray restarts a dead actor this many times before it is replaced


class _NodeNow(NodeHooks):
    """Remembers the node each run is in (best effort with parallel branches: the latest started)."""
    __slots__ = ("now", "task")

    def __init__(self, now: dict, task: int):
        self.now, self.task = now, task

    def node_started(self, path: str) -> Any:
        prev = self.now.get(self.task)
        self.now[self.task] = path
        return prev

    def node_ended(self, path: str, key: Any, seconds: float, error: BaseException | None) -> None:
        if self.now.get(self.task) == path:
            self.now[self.task] = key


class SessionActor:
    """One Session of one graph in a Ray actor. `run` is one at a time (the default concurrency
    group); `cancel`, `running` and `info` answer meanwhile (group "control")."""

    def __init__(self, spec: dict, path: str | None, session_options: dict, warm_up: Any = None):
        from ..core import Session
        from ..core.spec import parse_graph
        self.error: str | None = None
        self.warm_up_error: str | None = None
        self.session = None
        self.tokens: dict[int, CancelToken] = {}
        self.now: dict[int, str | None] = {}
        self.done_upto = 0  # the driver numbers runs in order and gives an actor one at a time
        self.lock = threading.Lock()
        try:
            # the spec the driver validated, not the file as it is now (it may have been edited)
            self.session = Session(parse_graph(spec, Path(path) if path else None), **session_options)
        except Exception as e:  # kept, so the driver can say why instead of seeing actors die
            self.error = f"{type(e).__name__}: {e}"
        if self.session is not None and warm_up is not None:  # first-run costs paid before `info` answers
            try:
                warm_up(self.session)
            except Exception as e:  # a warm-up only: the graph stays usable
                self.warm_up_error = str(e) or type(e).__name__

    def info(self) -> dict:
        import socket
        return {"pid": os.getpid(), "host": socket.gethostname(), "error": self.error,
                "warm_up_error": self.warm_up_error}

    def run(self, task: int, feeds: dict, fetches: Any) -> Any:
        from ..core.cancel import CURRENT
        from ..core.hooks import HOOKS
        if self.session is None:
            raise EngineError(f"the graph could not be set up in Ray actor {os.getpid()}: {self.error}")
        with self.lock:
            token = self.tokens.setdefault(task, CancelToken())  # a cancel may have come first
        self.now[task] = None
        hooks = HOOKS.set(_NodeNow(self.now, task))
        current = CURRENT.set(None)
        try:
            return self.session.run(feeds, fetches, cancel=token)
        finally:
            HOOKS.reset(hooks)
            CURRENT.reset(current)
            with self.lock:
                self.tokens.pop(task, None)
                self.done_upto = max(self.done_upto, task)
            self.now.pop(task, None)

    def cancel(self, task: int, reason: str) -> None:
        with self.lock:
            if task <= self.done_upto:  # it ended as the cancel came: nothing to keep
                return
            token = self.tokens.setdefault(task, CancelToken())
        token.cancel(reason)

    def running(self, task: int) -> str | None:
        return self.now.get(task)

    def close(self) -> None:
        """Before the driver kills this actor: stop runs and their programs (which run in process
        groups of their own, so a killed actor would leave them behind), release the modules."""
        from ..core.proc import kill_all
        with self.lock:
            tokens = list(self.tokens.values())
        for t in tokens:
            t.cancel("the engine was closed")
        kill_all()
        if self.session is not None:
            self.session.close()


def remote_class(resources: Mapping[str, Any], runtime_env: Mapping[str, Any] | None) -> Any:
    import ray
    # `run` in the default group (one at a time); the other methods are called with
    # `.options(concurrency_group="control")`, so they answer while a run works
    cls = ray.remote(concurrency_groups={"control": 4})(SessionActor)
    opts: dict[str, Any] = dict(resources, max_restarts=MAX_RESTARTS, max_task_retries=0)
    if runtime_env:
        opts["runtime_env"] = dict(runtime_env)
    return cls.options(**opts)
