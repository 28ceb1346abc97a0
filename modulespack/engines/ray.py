"""The Ray engine: runs of one graph on `workers` Ray actors, each holding a Session built once.

    engine = RayEngine(graph, workers=2, address=None)   # None: the Ray this process has, or a local one
    run = engine.submit({"text": "hi"}, ("wav",))         # run.future -> core Result

`address`: None (use `ray.init()` as this process would: RAY_ADDRESS, else a new local cluster),
"auto" (the cluster started on this machine with `ray start`), or "ray://head:10001" (Ray Client).
Ray is only initialised when it is not already, and `close()` shuts down only a Ray it started:
never the user's cluster.

Each actor builds its Session from the validated spec (`graph.spec.to_dict()`) and the graph file's
path (module folders are found relative to it), so graph files and module folders must be readable
on every node, and modulespack (with the packages its modules import) installed there. On one
machine they are. On a multi-machine cluster either share the project folder (NFS) at the same path
on every node, or pass `runtime_env={"working_dir": PROJECT}`: Ray uploads that folder to each node
(up to Ray's size limit) and actors get the graph path relative to it (`actor_graph_path`). A
batch's input files are read by the actors (shared storage); its outputs are written by the driver.

Runs are dispatched here, one at a time per actor (not queued inside Ray), so:
- a run no actor has taken waits here and goes to whichever actor is free, after a death too;
- a run whose actor dies during it fails alone with `WorkerDied` (never re-run behind the caller's
  back: modules may have side effects); Ray restarts the actor (`max_restarts`), which builds its
  Session again, and it takes runs once it answers; an actor that cannot come back is replaced;
- a cancel sets the run's token inside its actor (the Session stops between nodes and kills the
  run's programs); a run still running CANCEL_GRACE_S later has its actor killed (and restarted).
Errors are the core's own: Ray's `RayTaskError` wrapper is removed.
"""
from __future__ import annotations

import collections
import itertools
import logging
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any, Mapping, Sequence

from ..core import BuiltGraph, Cancelled, CancelToken
from .base import Engine, EngineError, Run, WorkerDied
from .ray_actor import remote_class
from .ray_cluster import (
    acquire_ray,
    actor_graph_path,
    graph_resources,
    release_ray,
    unwrap,
)

log = logging.getLogger("modulespack.engines")

REPLACE_TRIES = 3       # an actor slot whose actors keep dying this many times in a row is given up
CANCEL_GRACE_S = 2.0    # a cancelled run ends within this, or its actor is killed (and restarted)
RUNNING_WAIT_S = 0.5    # how long `Run.running()` waits for the actor's answer
CLOSE_WAIT_S = 3.0      # `close()` waits this long for actors to stop their runs before killing them


# ------------------------------------------------------------------------------- the driver side


def _kill(actor: Any) -> None:
    import ray
    try:
        ray.kill(actor, no_restart=True)
    except Exception:
        pass


class _RayRun:
    __slots__ = ("task", "feeds", "fetches", "token", "future", "slot", "killed", "unregister")

    def __init__(self, task: int, feeds: dict, fetches: tuple | None, token: CancelToken):
        self.task, self.feeds, self.fetches, self.token = task, feeds, fetches, token
        self.future: Future = Future()
        self.slot: _Slot | None = None
        self.killed = False            # its actor was killed because it did not stop when cancelled
        self.unregister: Any = None

    def settle(self, result: Any = None, exc: BaseException | None = None) -> None:
        if self.unregister is not None:
            self.unregister()
        try:
            if exc is not None:
                self.future.set_exception(exc)
            else:
                self.future.set_result(result)
        except InvalidStateError:
            pass


class _Slot:
    __slots__ = ("index", "actor", "state", "info", "run", "deaths")

    def __init__(self, index: int, actor: Any):
        self.index, self.actor = index, actor
        self.state = "starting"        # starting | idle | busy | recovering | failed
        self.info: dict[str, Any] = {}
        self.run: _RayRun | None = None
        self.deaths = 0                # in a row, without a run that ended normally between


class RayEngine(Engine):
    """`workers` Ray actors running the graph; see the module doc."""

    kind = "ray"

    def __init__(self, graph: BuiltGraph, *, workers: int = 1, address: str | None = None,
                 session_options: Mapping[str, Any] | None = None,
                 runtime_env: Mapping[str, Any] | None = None, warm_up: Any = None, **options: Any):
        if options:
            raise TypeError(f"unknown option(s) of the ray engine: {', '.join(sorted(options))}")
        super().__init__(graph, workers=workers, address=address)
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.workers = workers
        self.address = address
        self.session_options = dict(session_options or {})
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self.warm_up = warm_up
        self._lock = threading.RLock()
        self._start_lock = threading.Lock()  # a start() that finds another under way waits for it
        self._changed = threading.Condition(self._lock)  # a slot's state changed (for wait_ready)
        self._queue: collections.deque[_RayRun] = collections.deque()
        self._slots: list[_Slot] = []
        self._tasks = itertools.count(1)
        self._cls: Any = None
        self._started = False
        self._closed = False
        self._acquired = False
        self._error: str | None = None

    # -- life cycle

    def start(self) -> None:
        """Connect to Ray and start the actors (returns before they have built their Sessions).
        Idempotent; after `close()` it starts afresh (a server's next lifespan)."""
        with self._start_lock:
            with self._lock:
                if self._started and not self._closed:
                    return
                self._started, self._closed, self._error = True, False, None
                self._slots, self._queue = [], collections.deque()
            try:
                acquire_ray(self.address, self.runtime_env)
            except EngineError as e:
                with self._lock:
                    self._started, self._error = False, str(e)
                raise
            with self._lock:
                closed = self._closed
                self._acquired = not closed
            if closed:  # close() came meanwhile and saw nothing to release
                release_ray()
                return
            self._cls = remote_class(graph_resources(self.graph), self.runtime_env)
            for i in range(self.workers):
                actor = self._new_actor()
                with self._lock:
                    closed = self._closed
                    if not closed:
                        slot = _Slot(i, actor)
                        self._slots.append(slot)
                if closed:  # close() did not see this actor: it is ours to stop
                    _kill(actor)
                    return
                self._probe(slot)

    def _new_actor(self) -> Any:
        return self._cls.remote(self.graph.spec.to_dict(), actor_graph_path(self.graph, self.runtime_env),
                                self.session_options, self.warm_up)

    def _probe(self, slot: _Slot) -> None:
        """Ask the slot's actor who it is: it takes runs once it answers (after a start or a restart)."""
        actor = slot.actor
        ref = actor.info.options(concurrency_group="control").remote()
        ref.future().add_done_callback(lambda f: self._probed(slot, actor, f))

    def _probed(self, slot: _Slot, actor: Any, fut: Future) -> None:
        exc = fut.exception()
        with self._lock:
            if self._closed or slot.actor is not actor or slot not in self._slots:
                return
            if exc is None:
                slot.info = fut.result()
                if slot.info.get("error"):
                    # every actor builds the same Session: it will not work anywhere
                    self._error = f"graph '{self.name}' could not be set up in a Ray actor: {slot.info['error']}"
                    slot.state = "failed"
                else:
                    slot.state = "idle"
            else:
                slot.deaths += 1
                if slot.deaths >= REPLACE_TRIES:
                    slot.state = "failed"
                    self._error = f"Ray actors of graph '{self.name}' keep dying: {unwrap(exc)}"
                else:  # beyond Ray's restarts (or killed for good): a new actor in its place
                    log.warning("Ray actor %d of graph '%s' is gone (%s); starting another",
                                slot.index, self.name, exc)
                    slot.actor = self._new_actor()
                    slot.state = "starting"
                    self._probe(slot)
                    return
            self._changed.notify_all()
        self._dispatch()

    def ready(self) -> bool:
        with self._lock:
            return not self._closed and any(s.state in ("idle", "busy") for s in self._slots)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Start, then wait until every actor has built its Session (False on time-out or error)."""
        self.start()
        with self._lock:
            self._changed.wait_for(lambda: self._closed or bool(self._slots) and all(
                s.state != "starting" for s in self._slots), timeout)
            return self.ready() and self._error is None

    def health(self) -> Mapping[str, Any]:
        with self._lock:
            warm = next((s.info["warm_up_error"] for s in self._slots if s.info.get("warm_up_error")), None)
            return {"ready": self.ready(), "error": self._error, "kind": self.kind, "warm_up_error": warm,
                    "started": self._started and not self._closed, "workers": self.workers,
                    "pids": self.worker_pids(),
                    "actors": [{"state": s.state, "pid": s.info.get("pid"), "host": s.info.get("host")}
                               for s in self._slots],
                    "queued": len(self._queue)}

    def worker_pids(self) -> list[int | None]:
        """The process id of each actor, as it last said (None while it starts)."""
        with self._lock:
            return [s.info.get("pid") for s in self._slots]

    def close(self) -> None:
        import ray
        with self._lock:
            if self._closed:
                return
            self._closed = True
            queued, self._queue = list(self._queue), collections.deque()
            busy = [s.run for s in self._slots if s.run is not None]
            slots, self._slots = list(self._slots), []
            acquired, self._acquired = self._acquired, False  # released once, here or by start()
            self._changed.notify_all()
        for r in queued:
            r.settle(exc=EngineError(f"the Ray engine of graph '{self.name}' was closed before the run started"))
        for r in busy:
            r.settle(exc=Cancelled("the engine was closed"))
        # each actor stops its runs and their programs, and closes its Session, before it is killed
        if slots:
            closing = [s.actor.close.options(concurrency_group="control").remote() for s in slots]
            try:
                ray.wait(closing, num_returns=len(closing), timeout=CLOSE_WAIT_S)
            except Exception:
                pass
        for s in slots:
            _kill(s.actor)
        if acquired:
            release_ray()

    # -- runs

    def submit(self, feeds: Mapping[str, Any], fetches: Sequence[str] | None = None, *,
               token: CancelToken | None = None) -> Run:
        if not self._started:
            self.start()
        if isinstance(fetches, str):
            fetches = (fetches,)
        with self._lock:  # numbered in queue order: each actor gets its runs in increasing numbers
            r = _RayRun(next(self._tasks), dict(feeds), None if fetches is None else tuple(fetches),
                        token or CancelToken())
            if self._closed:
                raise EngineError(f"the Ray engine of graph '{self.name}' is closed")
            if self._error and not any(s.state not in ("failed",) for s in self._slots):
                raise EngineError(self._error)
            self._queue.append(r)
        r.unregister = r.token.on_cancel(lambda: self._cancel(r))
        self._dispatch()
        return Run(r.future, r.token, lambda: self._running(r))

    def _dispatch(self) -> None:
        launch = []
        with self._lock:
            if self._closed:
                return
            for slot in self._slots:
                if slot.state != "idle":
                    continue
                while self._queue:
                    r = self._queue.popleft()
                    if r.future.done():
                        continue
                    slot.state, slot.run, r.slot = "busy", r, slot
                    launch.append((slot, slot.actor, r))
                    break
            # no slots yet: a start() is under way, the runs wait for its actors
            if self._queue and self._slots and all(s.state == "failed" for s in self._slots):
                failed, self._queue = list(self._queue), collections.deque()
            else:
                failed = []
        for r in failed:
            r.settle(exc=EngineError(self._error or f"no Ray actor can run graph '{self.name}'"))
        for slot, actor, r in launch:
            ref = actor.run.remote(r.task, r.feeds, r.fetches)
            ref.future().add_done_callback(lambda f, s=slot, a=actor, r=r: self._finished(s, a, r, f))

    def _finished(self, slot: _Slot, actor: Any, r: _RayRun, fut: Future) -> None:
        exc = fut.exception()
        if exc is None:
            r.settle(fut.result())
        else:
            err = unwrap(exc)
            if isinstance(err, WorkerDied) and (r.killed or r.token.is_set()):
                err = Cancelled(r.token.reason or "cancelled")
            r.settle(exc=err)
        with self._lock:
            if slot.actor is not actor or slot.run is not r or slot not in self._slots:
                return
            slot.run = None
            r.slot = None
            if exc is not None and isinstance(unwrap(exc), WorkerDied):
                slot.state = "recovering"  # Ray restarts it; it takes runs again once it answers
                slot.info = {}
                recover = True
            else:
                slot.state, slot.deaths = "idle", 0
                recover = False
        if recover:
            self._probe(slot)
        else:
            self._dispatch()

    def _cancel(self, r: _RayRun) -> None:
        with self._lock:
            slot = r.slot
            if slot is None:  # not given to an actor yet: it never starts
                try:
                    self._queue.remove(r)
                except ValueError:
                    pass
                actor = None
            else:
                actor = slot.actor
        if actor is None:
            r.settle(exc=Cancelled(r.token.reason))
            return
        actor.cancel.options(concurrency_group="control").remote(r.task, r.token.reason)
        timer = threading.Timer(CANCEL_GRACE_S, self._kill_if_still, (r, actor))
        timer.daemon = True
        timer.start()

    def _kill_if_still(self, r: _RayRun, actor: Any) -> None:
        """The run ignored its token: kill its actor (Ray restarts it), the run ends as cancelled."""
        import ray
        with self._lock:
            if self._closed or r.slot is None or r.slot.actor is not actor:
                return
            r.killed = True
        log.warning("run %d of graph '%s' did not stop %.1f s after its cancel: killing its Ray actor",
                    r.task, self.name, CANCEL_GRACE_S)
        try:
            ray.kill(actor, no_restart=False)
        except Exception:
            pass

    def _running(self, r: _RayRun) -> str | None:
        import ray
        with self._lock:
            actor = r.slot.actor if r.slot is not None else None
        if actor is None:
            return None
        try:
            return ray.get(actor.running.options(concurrency_group="control").remote(r.task),
                           timeout=RUNNING_WAIT_S)
        except Exception:
            return None
