"""What the routes of one app share (`app.state.modulespack`): the graphs, limits, API keys, metrics,
and the start of the process workers."""
from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Iterable

from starlette.requests import Request

from .errors import ServeError
from .metrics import Metrics
from .registry import GraphEntry, GraphRegistry

log = logging.getLogger("modulespack.serve")


class ServeState:
    """What the routes share: the graphs, limits, keys and metrics."""

    def __init__(self, registry: GraphRegistry, *, api_keys: Iterable[str], max_upload_bytes: int,
                 debug: bool, docs_public: bool):
        self.registry = registry
        self.graphs: dict[str, GraphEntry] = registry.graphs
        self.keys = [k.encode("utf-8") for k in api_keys if k]
        self.max_upload_bytes = max_upload_bytes
        self.debug = debug
        self.docs_public = docs_public
        self.warm_task: asyncio.Future | None = None
        self.metrics = Metrics(self.graphs, {n: e.graph.order for n, e in self.graphs.items()})
        for n, e in self.graphs.items():
            self.metrics.set_ready(n, e.executor, e.executor == "thread")
        registry.on_pool_reset = self._pool_reset

    def _pool_reset(self) -> None:
        """The process pool is being replaced (a worker died, or was killed after a timeout): not
        ready until the new one is warm."""
        asyncio.get_running_loop()  # RuntimeError without one: the next /readyz starts the warm-up
        for n, e in self.graphs.items():
            if e.executor == "process":
                self.metrics.set_ready(n, "process", False)
        self.start_warm_up()

    def check_key(self, request: Request) -> None:
        if not self.keys:
            return
        key = request.headers.get("x-api-key")
        if key is None:
            auth = request.headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                key = auth[7:].strip()
        if key:
            given = key.encode("utf-8")
            ok = False
            for k in self.keys:  # compare with every key: the time does not tell which one matched
                ok |= hmac.compare_digest(given, k)
            if ok:
                return
        raise ServeError(401, "an API key is needed: send the X-API-Key header or Authorization: Bearer <key>"
                         if not key else "the API key is not valid", kind="auth",
                         headers={"WWW-Authenticate": 'Bearer realm="modulespack"'})

    def start_warm_up(self) -> "asyncio.Future[None]":
        """Start the process workers once (a task on the running loop); returns that task."""
        t = self.warm_task
        if t is None or (t.done() and not self.registry.process_ready) or t.get_loop() is not _loop():
            t = self.warm_task = asyncio.ensure_future(_warm(self))
        return t

    def entry(self, name: str) -> GraphEntry:
        e = self.graphs.get(name)
        if e is None:
            raise ServeError(404, f"no graph named '{name}' (graphs: {', '.join(self.graphs) or 'none'})",
                             kind="unknown-graph")
        return e

    def check_docs_key(self, request: Request) -> None:
        """/docs, /openapi.json: need the API key (when keys are set) unless `docs_public`."""
        if not self.docs_public:
            self.check_key(request)


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _warm(state: ServeState) -> None:
    reg = state.registry
    ok = await reg.warm_up()
    for n, e in state.graphs.items():
        if e.executor == "process":
            state.metrics.set_ready(n, "process", ok and reg.ready(e))
    if reg.process_error:
        log.error("process workers: %s", reg.process_error)
