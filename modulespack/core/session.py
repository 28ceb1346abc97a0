"""The Session: build every module once, then run graphs many times, concurrently, fetching what is asked."""
from __future__ import annotations

import os
import threading
from contextvars import copy_context
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from time import perf_counter
from typing import Any, Callable, Iterable, Mapping, NoReturn

from .batching import Arrivals, Batcher
from .build import BuiltGraph, build_graph
from .cancel import CURRENT, CancelToken
from .errors import Cancelled, FeedError, GraphError, Problem
from .hooks import HOOKS, PREFIX, NodeHooks
from .plan import NO_ARGS, ONE_KW, ONE_POS, POS, Plan, compile_plan
from .registry import Registry
from .spec import GraphSpec


class Result:
    """What one run gave: `outputs` (fetch -> value), `timings` (node -> seconds) and `seconds` in all."""

    __slots__ = ("outputs", "timings", "seconds")

    def __init__(self, outputs: dict[str, Any], timings: dict[str, float], seconds: float):
        self.outputs = outputs
        self.timings = timings
        self.seconds = seconds

    def __getitem__(self, key: str) -> Any:
        return self.outputs[key]

    def __contains__(self, key: str) -> bool:
        return key in self.outputs

    def __repr__(self) -> str:
        return f"Result(outputs={list(self.outputs)}, seconds={self.seconds:.6f})"


class Session:
    """Runs a validated graph.

    `graph` is a file path, a GraphSpec or a BuiltGraph. `check` turns run-time checks of
    feeds and module outputs on or off. `parallel` is True (independent branches always run
    on the thread pool), False (one node after another) or "auto" (branches whose nodes have
    taken at least `heavy_seconds` go to the pool; cheap nodes run inline, where a thread hop
    would cost more than the work).

    `max_workers` bounds the thread pool (default as `ThreadPoolExecutor`'s, min(32, cores + 4):
    branches that wait on sleeps, sockets or subprocesses must not be capped at the core count;
    threads are only started when branches need them).

    Safe to call from many threads at once: each run keeps its values in its own list.

    >>> with Session("examples/graphs/arith.yaml") as s:      # doctest: +SKIP
    ...     s.run({"a": 1, "b": 2})["sum"]
    """

    def __init__(self, graph: str | Path | GraphSpec | BuiltGraph, *, registry: Registry | None = None,
                 check: bool = True, parallel: bool | str = "auto", max_workers: int | None = None,
                 heavy_seconds: float = 1e-3):
        if parallel not in (True, False, "auto"):
            raise ValueError("parallel is True, False or 'auto'")
        self.graph = graph if isinstance(graph, BuiltGraph) else build_graph(graph, registry)
        self.check = check
        self.parallel = parallel
        self.heavy_seconds = heavy_seconds
        self.max_workers = max_workers or min(32, (os.cpu_count() or 1) + 4)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._plans: dict[Any, Plan] = {}
        self.cost: dict[str, float] = {}  # node -> recent seconds per run, for parallel="auto"
        self.modules = self._instantiate()
        # nodes with `batch:` in the graph file: concurrent runs of this Session are grouped there
        self.batchers = {n: Batcher(self.modules[n], node.batch["max_size"], node.batch["max_wait_s"])
                         for n, node in self.graph.nodes.items() if node.batch}
        self._plan_batchers: dict[Any, tuple[Batcher, ...]] = {}  # plan key -> batchers it reaches

    def _instantiate(self) -> dict[str, Any]:
        modules, problems = {}, []
        for name in self.graph.order:
            node = self.graph.nodes[name]
            try:
                inst = node.cls(**node.params)
                inst.attach(self)
                inst.setup()
                modules[name] = inst
            except GraphError as e:
                problems += [Problem(f"in nested graph: {p}", file=self._file, node=name, kind=p.kind) for p in e.problems]
            except Exception as e:
                problems.append(Problem(f"module {node.cls.__name__} could not be set up: {type(e).__name__}: {e}",
                                        file=self._file, node=name, line=self.graph.spec.node(name).line, kind="setup"))
        if problems:
            for m in modules.values():
                m.close()
            raise GraphError(problems)
        return modules

    def sub_session(self, graph: BuiltGraph) -> "Session":
        """A Session for a graph run inside one of this Session's modules, with the same options."""
        return Session(graph, check=self.check, parallel=self.parallel, max_workers=self.max_workers,
                       heavy_seconds=self.heavy_seconds)

    @property
    def _file(self) -> str | None:
        return str(self.graph.spec.path) if self.graph.spec.path else None

    def run(self, feeds: Mapping[str, Any] | None = None, fetches: str | Iterable[str] | None = None, *,
            cancel: CancelToken | None = None) -> Result:
        """Run the nodes that `fetches` need and return their values with per-node timings.

        `fetches` names graph outputs or `node/port`s; by default every graph output (or, in a
        graph that declares none, every output of every node).

        `cancel` (default: the token of the run this one is part of, `core.cancel.CURRENT`) stops
        the run between nodes with `Cancelled` once it is set; it is the current token while the
        run's modules work, so they can stop mid-work too. Nodes already running are waited for.
        The node hooks installed in `core.hooks.HOOKS` are told when each node starts and ends.

        >>> sess.run({"x": 1}, fetches=["minus/y"]).outputs      # doctest: +SKIP
        {'minus/y': 10}
        """
        feeds = feeds or {}
        key = (fetches if fetches is None or isinstance(fetches, str) else tuple(fetches), frozenset(feeds))
        plan = self._plans.get(key)
        if plan is None:
            plan = compile_plan(self, key[0], feeds)
            if len(self._plans) < 256:  # bounded: fetch sets come from users
                self._plans[key] = plan
        vals = plan.template.copy()
        checks = plan.feed_checks if self.check else None
        for name, slot in plan.feed_slots:
            v = feeds[name]
            if checks is not None:
                c = checks[name]
                if c is not None:
                    why = c(v)
                    if why:
                        raise FeedError(f"graph input '{name}': {why}", port=name)
            vals[slot] = v
        token = CURRENT.get() if cancel is None else cancel
        hooks = HOOKS.get()
        t0 = perf_counter()
        # counted in flight at the batched nodes it will reach, so that their batches need not wait
        # for it once it is there or has ended (only Sessions with batchers pay for this)
        arrivals = self._arrivals(key, plan) if self.batchers else None
        try:
            pool = self.parallel and plan.branches and (self.parallel is True or plan.wants_pool(self))
            if token is None and hooks is None:
                timings = self._run_parallel(plan, vals) if pool else self._run_inline(plan, vals)
            else:  # watched: checks the token and calls the hooks at each node
                reset = CURRENT.set(cancel) if cancel is not None else None
                try:
                    if pool:
                        timings = self._run_parallel(plan, vals, token, hooks)
                    else:
                        timings = self._run_watched(plan, vals, token, hooks)
                finally:
                    if reset is not None:
                        CURRENT.reset(reset)
        finally:
            if arrivals is not None:
                arrivals.close()
        return Result({k: vals[s] for k, s in plan.fetch_slots}, timings, perf_counter() - t0)

    def _arrivals(self, key: Any, plan: Plan) -> Arrivals | None:
        batchers = self._plan_batchers.get(key)
        if batchers is None:
            batchers = tuple(self.batchers[s[0]] for s in plan.steps if s[0] in self.batchers)
            if len(self._plan_batchers) < 256:
                self._plan_batchers[key] = batchers
        return Arrivals(batchers) if batchers else None

    def _run_inline(self, plan: Plan, vals: list) -> dict[str, float]:
        timings = {}
        pc = perf_counter
        check = self.check
        # This loop is the per-node cost the overhead bench measures: the call dispatch of `_timed`
        # and the output storing of `_run_parallel` are written out here on purpose, with the
        # plan.py call modes as literals (ONE_POS=1, POS=2, NO_ARGS=0, ONE_KW=3, KW=4), since a
        # helper call or a global look-up per node would cost more than the rest of the loop.
        for name, fn, mode, get, names, outs, checker, _succ in plan.steps:
            t = pc()
            try:
                if mode == 1:
                    out = fn(get(vals))
                elif mode == 2:
                    out = fn(*get(vals))
                elif mode == 0:
                    out = fn()
                elif mode == 3:
                    out = fn(**{names[0]: get(vals)})
                else:
                    out = fn(**dict(zip(names, get(vals))))
            except Cancelled:
                raise
            except Exception as e:
                raise plan.node_error(name, e) from e
            timings[name] = pc() - t
            if check and checker is not None:
                checker(out)
            try:
                for p, s in outs:
                    vals[s] = out[p]
            except Exception as e:
                raise plan.output_error(name, out) from e
        return timings

    def _run_watched(self, plan: Plan, vals: list, token: CancelToken | None,
                     hooks: NodeHooks | None) -> dict[str, float]:
        """`_run_inline` for a run with a cancel token or node hooks (kept apart so that the plain
        loop pays nothing for them)."""
        timings = {}
        check = self.check
        prefix = PREFIX.get() if hooks is not None else ""
        for step in plan.steps:
            try:
                out, timings[step[0]] = _watched(step, vals, token, hooks, prefix)
            except Exception as e:
                _fail(plan, step[0], e, token)
            if check and step[6] is not None:
                step[6](out)
            try:
                for p, s in step[5]:
                    vals[s] = out[p]
            except Exception as e:
                raise plan.output_error(step[0], out) from e
        return timings

    def _pool_executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="modulespack")
        return self._pool

    def _run_parallel(self, plan: Plan, vals: list, token: CancelToken | None = None,
                      hooks: NodeHooks | None = None) -> dict[str, float]:
        """Ready-list scheduler: heavy ready nodes go to the pool while the caller runs the rest."""
        pool = self._pool_executor()
        steps = plan.steps
        remaining = plan.indegree.copy()
        ready = list(plan.roots)
        pending: dict[Future, int] = {}
        timings: dict[str, float] = {}
        heavy = plan.heavy_flags(self)
        if token is None and hooks is None:
            call, extra = _timed, ()
        else:
            call, extra = _watched, (token, hooks, PREFIX.get() if hooks is not None else "")

        def finish(i: int, out: Any) -> None:
            name, outs, checker, succ = steps[i][0], steps[i][5], steps[i][6], steps[i][7]
            if self.check and checker is not None:
                checker(out)
            try:
                for p, s in outs:
                    vals[s] = out[p]
            except Exception as e:
                raise plan.output_error(name, out) from e
            for j in succ:
                remaining[j] -= 1
                if remaining[j] == 0:
                    ready.append(j)

        def settle(i: int, outcome: Callable[[], tuple[Any, float]]) -> None:
            """Store node i's outputs (`outcome()`: run here, or a pool task's result) or fail the run."""
            try:
                out, dt = outcome()
            except Exception as e:
                _fail(plan, steps[i][0], e, token)
            timings[steps[i][0]] = dt
            finish(i, out)

        def run_here(i: int) -> None:
            settle(i, lambda: call(steps[i], vals, *extra))

        try:
            while ready or pending:
                while ready:
                    i = ready.pop()
                    if heavy[i] and ready:  # the caller runs the last ready node itself
                        # in the caller's context, so context variables (request ids, tracing, the
                        # cancel token, node hooks) set around run() are seen by modules on the pool too
                        pending[pool.submit(copy_context().run, call, steps[i], vals, *extra)] = i
                        continue
                    run_here(i)
                if not pending:
                    continue
                stolen = _steal(pending)
                if stolen is not None:  # the pool had not started it (busy with other runs): do it here
                    run_here(pending.pop(stolen))
                    continue
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    settle(pending.pop(f), f.result)
        except BaseException:
            for f in pending:
                f.cancel()
            wait(pending)  # no module of this run keeps running after run() has returned
            raise
        if self.parallel == "auto":
            cost = self.cost
            for n, dt in timings.items():
                old = cost.get(n)
                cost[n] = dt if old is None else 0.7 * old + 0.3 * dt
            plan._light = None  # re-judge with what this run learnt (the first run knows no costs)
        return timings

    def close(self) -> None:
        """Close every module and stop the thread pool."""
        for m in self.modules.values():
            try:
                m.close()
            except Exception:
                pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _timed(step, vals):
    _name, fn, mode, get, names = step[:5]
    t = perf_counter()
    if mode == NO_ARGS:
        out = fn()
    elif mode == ONE_POS:
        out = fn(get(vals))
    elif mode == POS:
        out = fn(*get(vals))
    elif mode == ONE_KW:
        out = fn(**{names[0]: get(vals)})
    else:
        out = fn(**dict(zip(names, get(vals))))
    return out, perf_counter() - t


def _watched(step, vals, token: CancelToken | None, hooks: NodeHooks | None, prefix: str):
    """`_timed` for a run with a cancel token or node hooks (on the caller's or a pool thread)."""
    if token is not None and token.is_set():
        raise Cancelled(token.reason)
    if hooks is None:
        return _timed(step, vals)
    path = prefix + step[0]
    key = hooks.node_started(path)
    reset = PREFIX.set(path + " > ")  # a graph this node runs names its nodes from here
    t = perf_counter()
    try:
        out, dt = _timed(step, vals)
    except BaseException as e:
        PREFIX.reset(reset)
        hooks.node_ended(path, key, perf_counter() - t, e)
        raise
    PREFIX.reset(reset)
    hooks.node_ended(path, key, dt, None)
    return out, dt


def _fail(plan: Plan, name: str, e: Exception, token: CancelToken | None) -> NoReturn:
    """Raise what a run raises when node `name` raised `e`: Cancelled as it is, or when the run was
    cancelled meanwhile (a subprocess killed by the cancel fails its module); else a NodeError."""
    if isinstance(e, Cancelled):
        raise e
    if token is not None and token.is_set():
        raise Cancelled(token.reason) from e
    raise plan.node_error(name, e) from e


def _steal(pending: dict[Future, int]) -> Future | None:
    """The most recently submitted task the pool has not started, cancelled there; None if all started."""
    for f in reversed(pending):
        if f.cancel():
            return f
    return None
