"""What the routes of one app share (`app.state.modulespack`): the graphs and their engines, the
dispatcher, examples, limits, API keys, metrics, and the warm-up: every engine started (each runs
its graph's first example once, see `examples.warm_up_session`) before /readyz says ready."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

from starlette.requests import Request

from .access import ApiKeys
from .catalog import close_all
from .dispatch import Dispatcher
from .entry import GraphEntry
from .errors import ServeError
from .examples import Example
from .metrics import Metrics

log = logging.getLogger("modulespack.serve")

READY_POLL_S = 0.05  # how often the warm-up looks whether an engine has become ready


class ServeState:
    """What the routes share: the graphs, the dispatcher, limits, keys and metrics."""

    def __init__(self, graphs: dict[str, GraphEntry], dispatch: Dispatcher, *, api_keys: Iterable[str],
                 max_upload_bytes: int, debug: bool, docs_public: bool,
                 examples: dict[str, list[Example]] | None = None):
        self.graphs = graphs
        self.dispatch = dispatch
        self.examples = examples or {}
        self.keys = ApiKeys(api_keys)   # the dependency of every keyed route
        self.max_upload_bytes = max_upload_bytes
        self.debug = debug
        self.docs_public = docs_public
        self.warm_task: asyncio.Future | None = None
        self.wyoming: Any = None  # the Wyoming front door (`wyoming_server.WyomingDoor`, `.uri`) when set
        self.start_errors: dict[str, str] = {}  # graph -> why its engine could not start
        self.metrics = Metrics(self.graphs, {n: e.graph.order for n, e in self.graphs.items()})
        for n, e in self.graphs.items():
            self.metrics.set_ready(n, e.engine.kind, False)

    def ready(self, name: str) -> bool:
        """Can graph `name` run now, its first run behind it?"""
        return self.graphs[name].engine.ready()

    def all_warm(self) -> bool:
        return all(e.engine.ready() for e in self.graphs.values())

    def health(self) -> dict[str, dict[str, Any]]:
        """Each graph's engine health (what /readyz tells a keyed caller)."""
        out = {}
        for n, e in self.graphs.items():
            h = dict(e.engine.health())
            if n in self.start_errors and not h.get("error"):
                h["error"] = self.start_errors[n]
            out[n] = h
        return out

    def start_engines(self, timeout: float | None) -> tuple[dict[str, str], dict[str, str]]:
        """Start every engine and wait (up to `timeout` s, all at once) until it is ready, off any
        event loop (the CLI, before the server listens); returns (graph -> why it cannot run,
        graph -> why its warm-up failed). A graph still starting at the time-out is in the first."""
        from concurrent.futures import ThreadPoolExecutor

        def one(name: str) -> tuple[str | None, str | None]:
            engine = self.graphs[name].engine
            try:
                ok = engine.wait_ready(timeout)
            except Exception as e:
                return f"its {engine.kind} engine could not start: {type(e).__name__}: {e}", None
            h = engine.health()
            if h.get("error"):
                return str(h["error"]), None
            if not ok:
                return f"its {engine.kind} engine was not ready within {timeout:g} s", None
            self.metrics.set_ready(name, engine.kind, True)
            return None, h.get("warm_up_error")

        errors, warm_errors = {}, {}
        if not self.graphs:
            return errors, warm_errors
        with ThreadPoolExecutor(len(self.graphs), thread_name_prefix="engine-start") as pool:
            for name, (err, warm) in zip(self.graphs, pool.map(one, list(self.graphs))):
                if err:
                    errors[name] = self.start_errors[name] = err
                elif warm:
                    warm_errors[name] = warm
        return errors, warm_errors

    def start_warm_up(self) -> "asyncio.Future[None]":
        """Start every engine and wait for it to be ready, once (a task on the running loop);
        returns that task."""
        t = self.warm_task
        if t is None or (t.done() and not self.all_warm()) or t.get_loop() is not asyncio.get_running_loop():
            t = self.warm_task = asyncio.ensure_future(_warm(self))
        return t

    def entry(self, name: str) -> GraphEntry:
        e = self.graphs.get(name)
        if e is None:
            raise ServeError(404, f"no graph named '{name}' (graphs: {', '.join(self.graphs) or 'none'})",
                             kind="unknown-graph")
        return e

    async def docs_key(self, request: Request) -> None:
        """The dependency of /docs, /openapi.json: the API key (when keys are set) unless `docs_public`."""
        if not self.docs_public:
            await self.keys(request)

    def shutdown(self) -> None:
        """Cancel the runs in progress and close the engines (the next warm-up or run starts them again)."""
        self.dispatch.cancel_all()
        close_all(self.graphs.values())


async def _warm(state: ServeState) -> None:
    await asyncio.gather(*[_warm_engine(state, n) for n in state.graphs])


async def _warm_engine(state: ServeState, name: str) -> None:
    """Start graph `name`'s engine (off the loop: a thread engine builds its Session there) and wait
    until it is ready; a failure to start is logged and reported by /readyz."""
    engine = state.graphs[name].engine
    loop = asyncio.get_running_loop()
    try:
        await loop.run_in_executor(None, engine.start)
    except Exception as e:
        state.start_errors[name] = f"{type(e).__name__}: {e}"
        log.error("graph %s: its %s engine could not start: %s", name, engine.kind, e)
        return
    state.start_errors.pop(name, None)
    while not engine.ready():
        h = engine.health()
        if h.get("error"):
            log.error("graph %s: %s", name, h["error"])
            return
        await asyncio.sleep(READY_POLL_S)
    warm_error = engine.health().get("warm_up_error")
    if warm_error:
        log.error("graph %s: %s", name, warm_error)
    state.metrics.set_ready(name, engine.kind, True)
