"""The graphs an app serves: found in the start-up paths, validated and built once, then run off the
event loop with a per-graph concurrency limit and a per-request timeout.

Only files named at start-up (or found in a start-up folder) are ever opened: requests name a
graph, and the name is looked up in this registry, never turned into a path.
"""
from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import multiprocessing
import os
import threading
import weakref
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from time import perf_counter
from typing import Any, Iterable, Mapping

from ..core import BuiltGraph, FeedError, GraphError, GraphModule, NodeError, Problem, Session, build_graph
from ..core.spec import GRAPH_SUFFIXES
from .form import GraphForm
from .errors import GraphLoadError, ServeError

log = logging.getLogger("modulespack.serve")

EXECUTORS = ("thread", "process")


def graph_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Problem]]:
    """Graph files of the start-up paths: a folder gives its *.yaml, *.yml, *.json (not recursive,
    hidden files skipped); a file is taken as it is."""
    files: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.iterdir()
                           if f.is_file() and f.suffix in GRAPH_SUFFIXES and not f.name.startswith("."))
            if not found:
                problems.append(Problem(f"no graph files ({', '.join('*' + s for s in GRAPH_SUFFIXES)}) in this folder",
                                        file=str(path), kind="file"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem("no such file or folder", file=str(path), kind="file"))
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, problems


class Tracker:
    """Which node a run is in: set by the instrumented modules (thread executor), or read from the
    worker processes' shared table (process executor)."""
    __slots__ = ("node", "since", "task", "slots")

    def __init__(self) -> None:
        self.node: str | None = None
        self.since = 0.0
        self.task = 0
        self.slots: Any = None

    def running(self) -> str | None:
        if self.slots is not None:
            from .worker import read_slots
            return read_slots(self.slots, self.task)
        return self.node


_local = threading.local()


def _tracked(fn: Any, path: str) -> Any:
    @functools.wraps(fn)
    def tracked(*args: Any, **kw: Any) -> Any:
        t = getattr(_local, "tracker", None)
        if t is None:
            return fn(*args, **kw)
        prev = t.node
        t.node, t.since = path, perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            t.node = prev
    return tracked


def instrument(session: Session, prefix: str = "") -> None:
    """Let a run's Tracker see which node is running (nested graphs as `outer > inner`)."""
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


def _run_in_thread(session: Session, feeds: dict, fetches: tuple, tracker: Tracker) -> Any:
    _local.tracker = tracker
    try:
        return session.run(feeds, fetches)
    finally:
        _local.tracker = None


class GraphEntry:
    """One served graph: its validated graph, Session (thread executor), form, limits and pools."""

    def __init__(self, name: str, path: Path, graph: BuiltGraph, session: Session | None, executor: str,
                 concurrency: int, max_audio_seconds: float):
        self.name = name
        self.path = path
        self.graph = graph
        self.session = session
        self.executor = executor
        self.concurrency = concurrency
        self.form = GraphForm(graph, max_audio_seconds)
        self.cost: dict[str, float] = {}          # node -> recent seconds (names the slowest on a timeout)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._sems: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = \
            weakref.WeakKeyDictionary()
        self.svg: bytes | None = None              # diagram without timings, drawn once

    @property
    def description(self) -> str:
        return self.graph.spec.description.strip()

    def semaphore(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        # one per event loop: an asyncio.Semaphore binds to the loop it first waits on (a TestClient
        # without `with` runs each request on a new loop); under uvicorn there is one loop.
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.concurrency)
        return sem

    def thread_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"serve-{self.name}")
        return self._pool

    def note_timings(self, timings: Mapping[str, float]) -> None:
        cost = self.cost
        for n, dt in timings.items():
            old = cost.get(n)
            cost[n] = dt if old is None else 0.8 * old + 0.2 * dt

    def slowest(self) -> str | None:
        return max(self.cost, key=self.cost.__getitem__) if self.cost else None

    def shutdown(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


class RunResult:
    __slots__ = ("outputs", "timings", "seconds")

    def __init__(self, outputs: dict, timings: dict, seconds: float):
        self.outputs, self.timings, self.seconds = outputs, timings, seconds


class GraphRegistry:
    """Every served graph, and how runs reach them."""

    def __init__(self, paths: Iterable[str | os.PathLike], *, executor: str | Mapping[str, str] = "thread",
                 concurrency: int = 4, timeout_s: float | None = 60.0, max_audio_seconds: float = 600.0,
                 session_options: Mapping[str, Any] | None = None, process_workers: int | None = None,
                 debug: bool = False):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.timeout_s = timeout_s
        self.debug = debug
        self.session_options = dict(session_options or {})
        self.graphs: dict[str, GraphEntry] = {}
        self._ppool: ProcessPoolExecutor | None = None
        self._ppool_lock = threading.Lock()
        self._slots: Any = None
        self._tasks = itertools.count(1)
        self.process_ready = True
        self.process_error: str | None = None
        self.process_errors: dict[str, str] = {}
        files, problems = graph_files(paths)
        unknown_exec = set(executor) if isinstance(executor, Mapping) else set()
        names: dict[str, Path] = {}
        for f in files:
            name = f.stem
            if name in names:
                problems.append(Problem(f"two graphs would be served as '{name}': {names[name]} and {f}; "
                                        "rename one", file=str(f), kind="duplicate"))
                continue
            names[name] = f
            ex = executor.get(name, "thread") if isinstance(executor, Mapping) else executor
            if isinstance(executor, Mapping):
                unknown_exec.discard(name)
            if ex not in EXECUTORS:
                raise ValueError(f"executor is 'thread' or 'process', not {ex!r}")
            try:
                graph = build_graph(f)
                session = None
                if ex == "thread":
                    session = Session(graph, **self.session_options)
                    instrument(session)
            except GraphError as e:
                problems += e.problems
                continue
            self.graphs[name] = GraphEntry(name, f, graph, session, ex, concurrency, max_audio_seconds)
        for name in sorted(unknown_exec):
            problems.append(Problem(f"an executor is set for graph '{name}', which is not served "
                                    f"(graphs: {', '.join(names) or 'none'})", kind="executor"))
        if problems:
            self.close()
            raise GraphLoadError(problems)
        proc = [e for e in self.graphs.values() if e.executor == "process"]
        self.process_workers = process_workers or concurrency
        self.process_ready = not proc

    # ------------------------------------------------------------------ process pool

    def process_pool(self) -> ProcessPoolExecutor:
        if self._ppool is None:
            with self._ppool_lock:
                if self._ppool is None:
                    from . import worker
                    graphs = {e.name: str(e.path.resolve()) for e in self.graphs.values() if e.executor == "process"}
                    ctx = multiprocessing.get_context("spawn")
                    self._slots = ctx.Array("c", self.process_workers * worker.SLOT, lock=False)
                    counter = ctx.Value("i", 0)
                    self._ppool = ProcessPoolExecutor(
                        self.process_workers, mp_context=ctx, initializer=worker.init_worker,
                        initargs=(graphs, self.session_options, self._slots, counter))
        return self._ppool

    async def warm_up(self) -> bool:
        """Start the worker processes and wait until one has built its Sessions (for /readyz)."""
        if self.process_ready:
            return True
        from . import worker
        loop = asyncio.get_running_loop()
        try:
            futs = [loop.run_in_executor(self.process_pool(), worker.ping) for _ in range(self.process_workers)]
            info = await asyncio.gather(*futs)
        except BrokenProcessPool as e:
            self.process_error = f"worker processes could not start: {e}"
            self._reset_process_pool()
            return False
        self.process_errors = {g: m for i in info for g, m in i["errors"].items()}
        self.process_error = "; ".join(f"{g}: {m}" for g, m in self.process_errors.items()) or None
        self.process_ready = True
        return True

    def ready(self, entry: GraphEntry) -> bool:
        """Can this graph run now (its Session built here, or in the worker processes)?"""
        if entry.executor == "thread":
            return True
        return self.process_ready and entry.name not in self.process_errors

    def _reset_process_pool(self) -> None:
        with self._ppool_lock:
            pool, self._ppool = self._ppool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ running

    def _submit(self, entry: GraphEntry, feeds: dict, fetches: tuple, tracker: Tracker) -> Future:
        if entry.executor == "thread":
            return entry.thread_pool().submit(_run_in_thread, entry.session, feeds, fetches, tracker)
        from . import worker
        pool = self.process_pool()
        tracker.task = next(self._tasks)
        tracker.slots = self._slots
        return pool.submit(worker.run, entry.name, feeds, fetches, tracker.task)

    async def run(self, entry: GraphEntry, feeds: dict, fetches: tuple) -> RunResult:
        """Run a graph off the event loop; raises ServeError (422 input, 500 node, 504 timeout)."""
        loop = asyncio.get_running_loop()
        timeout = self.timeout_s
        t_end = None if timeout is None else loop.time() + timeout
        sem = entry.semaphore(loop)
        if sem.locked():
            try:
                await asyncio.wait_for(sem.acquire(), timeout)
            except asyncio.TimeoutError:
                raise ServeError(504, f"graph '{entry.name}' had no free slot within {timeout:g} s "
                                      f"({entry.concurrency} runs at a time)", graph=entry.name,
                                 timeout_s=timeout, kind="timeout") from None
        else:
            await sem.acquire()
        tracker = Tracker()
        try:
            cfut = self._submit(entry, feeds, fetches, tracker)
        except BaseException:
            sem.release()
            raise
        afut = asyncio.wrap_future(cfut, loop=loop)
        try:
            if t_end is None:
                res = await afut
            else:
                res = await asyncio.wait_for(afut, max(t_end - loop.time(), 0.0))
        except (asyncio.TimeoutError, asyncio.CancelledError) as e:
            # a running thread or worker process cannot be stopped: it keeps its slot until it ends
            def release(_f: Future) -> None:
                try:
                    loop.call_soon_threadsafe(sem.release)
                except RuntimeError:  # the loop is gone
                    pass
            cfut.add_done_callback(release)
            if isinstance(e, asyncio.CancelledError):
                raise
            node = tracker.running()
            raise ServeError(504, f"graph '{entry.name}' did not finish within {timeout:g} s"
                                  + (f" (running node '{node}')" if node else ""),
                             graph=entry.name, node=node or entry.slowest(),
                             node_state="running" if node else ("slowest-recently" if entry.slowest() else None),
                             timeout_s=timeout, kind="timeout") from None
        except FeedError as e:
            sem.release()
            raise ServeError(422, str(e), graph=entry.name, port=e.port, kind="input") from None
        except NodeError as e:
            sem.release()
            raise self._node_error(entry, str(e), e.node, e.module, e.traceback) from None
        except BrokenProcessPool:
            sem.release()
            self._reset_process_pool()
            raise ServeError(500, f"graph '{entry.name}': a worker process died during the run "
                                  "(the pool is restarted)", graph=entry.name, kind="worker") from None
        except Exception:
            sem.release()
            raise
        sem.release()
        if entry.executor == "thread":
            out = RunResult(res.outputs, res.timings, res.seconds)
        else:
            tag = res[0]
            if tag == "feed":
                raise ServeError(422, res[1], graph=entry.name, port=res[2], kind="input")
            if tag == "node":
                raise self._node_error(entry, res[1], res[2], res[3], res[4])
            if tag == "error":
                log.error("graph %s failed in a worker process: %s\n%s", entry.name, res[1], res[2])
                raise ServeError(500, f"graph '{entry.name}': {res[1]}", graph=entry.name, kind="internal",
                                 traceback=res[2] if self.debug else None)
            out = RunResult(res[1], res[2], res[3])
        entry.note_timings(out.timings)
        return out

    def _node_error(self, entry: GraphEntry, message: str, node: str, module: str, tb: str) -> ServeError:
        log.error("graph %s: %s\n%s", entry.name, message, tb)
        return ServeError(500, message, graph=entry.name, node=node, module=module, kind="node",
                          traceback=tb if self.debug else None)

    # ------------------------------------------------------------------ lifetime

    def shutdown_executors(self) -> None:
        """Stop the thread and process pools (they start again on the next run)."""
        for e in self.graphs.values():
            e.shutdown()
        self._reset_process_pool()
        if self._ppool is None and any(e.executor == "process" for e in self.graphs.values()):
            self.process_ready = False

    def close(self) -> None:
        """Stop the pools and close every Session."""
        self.shutdown_executors()
        for e in self.graphs.values():
            if e.session is not None:
                e.session.close()
