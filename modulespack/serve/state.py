"""What the routes of one app share (`app.state.modulespack`): the graphs, their examples, limits,
API keys, metrics, and the warm-up: process workers started, and each graph's first example run once
(off the event loop) before /readyz says ready."""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable

from starlette.requests import Request

from .access import ApiKeys
from .errors import ServeError
from .examples import Example, example_feeds
from .metrics import Metrics
from .entry import GraphEntry
from .registry import GraphRegistry

log = logging.getLogger("modulespack.serve")


class ServeState:
    """What the routes share: the graphs, limits, keys and metrics."""

    def __init__(self, registry: GraphRegistry, *, api_keys: Iterable[str], max_upload_bytes: int,
                 debug: bool, docs_public: bool, examples: dict[str, list[Example]] | None = None):
        self.registry = registry
        self.graphs: dict[str, GraphEntry] = registry.graphs
        self.examples = examples or {}
        # graphs whose first run is behind them: thread graphs after their first example (process
        # workers run theirs while they start, see `examples.warm_in_worker`)
        self.warmed = {n for n, e in self.graphs.items() if e.executor != "thread" or not self.examples.get(n)}
        self.example_errors: dict[str, str] = {}
        self.keys = ApiKeys(api_keys)   # the dependency of every keyed route
        self.max_upload_bytes = max_upload_bytes
        self.debug = debug
        self.docs_public = docs_public
        self.warm_task: asyncio.Future | None = None
        self.metrics = Metrics(self.graphs, {n: e.graph.order for n, e in self.graphs.items()})
        for n, e in self.graphs.items():
            self.metrics.set_ready(n, e.executor, e.executor == "thread" and n in self.warmed)

    def ready(self, name: str) -> bool:
        """Can graph `name` run now, its first run behind it?"""
        return name in self.warmed and self.registry.ready(self.graphs[name])

    def all_warm(self) -> bool:
        return len(self.warmed) == len(self.graphs) and self.registry.process_ready

    def start_warm_up(self) -> "asyncio.Future[None]":
        """Start the process workers and run the first examples, once (a task on the running loop);
        returns that task."""
        t = self.warm_task
        if t is None or (t.done() and not self.all_warm()) or t.get_loop() is not _loop():
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


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _warm(state: ServeState) -> None:
    jobs = [_warm_example(state, n) for n in state.graphs if n not in state.warmed]
    if not state.registry.process_ready:
        jobs.append(_warm_processes(state))
    await asyncio.gather(*jobs)


async def _warm_processes(state: ServeState) -> None:
    reg = state.registry
    ok = await reg.warm_up()
    for n, e in state.graphs.items():
        if e.executor == "process":
            state.metrics.set_ready(n, "process", ok and reg.ready(e))
    if reg.process_error:
        log.error("process workers: %s", reg.process_error)


async def _warm_example(state: ServeState, name: str) -> None:
    """Run the first example of thread graph `name` once; a failure is logged (and named to keyed
    callers of /readyz), and the graph is ready all the same: its other runs may well work."""
    e, ex = state.graphs[name], state.examples[name][0]
    try:
        feeds = await asyncio.get_running_loop().run_in_executor(None, example_feeds, e.form, ex)
        await state.registry.run(e, feeds, e.form.output_plan(None).fetches)
    except ServeError as err:
        state.example_errors[name] = f"example '{ex.name}': {err.message}"
        log.error("graph %s: its example '%s' failed at start-up: %s", name, ex.name, err.message)
    except Exception as err:
        state.example_errors[name] = f"example '{ex.name}': {type(err).__name__}: {err}"
        log.exception("graph %s: its example '%s' failed at start-up", name, ex.name)
    state.warmed.add(name)
    state.metrics.set_ready(name, e.executor, True)
