"""The graphs an app serves: found in the start-up paths, validated and built once, then run off the
event loop with a per-graph concurrency limit and a per-request timeout.

Only files named at start-up (or found in a start-up folder) are ever opened: requests name a
graph, and the name is looked up in this registry, never turned into a path.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import itertools
import logging
import multiprocessing
import os
import signal
import threading
import weakref
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from time import perf_counter
from typing import Any, Iterable, Mapping

from ..core import BuiltGraph, FeedError, GraphError, GraphModule, NodeError, Problem, Session, build_graph
from ..core.spec import GRAPH_SUFFIXES, parse_graph
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
    """Which nodes a run is in, set by the instrumented modules. Found through a context variable,
    which the instrumented Sessions carry over to their thread pool: nodes of parallel branches
    are seen too. `running()` names the node that has run longest (the innermost of nested ones)."""
    __slots__ = ("_running", "_ids", "_lock")

    def __init__(self) -> None:
        self._running: dict[int, tuple[str, float]] = {}
        self._ids = itertools.count()
        self._lock = threading.RLock()  # `changed` may call `running`

    def enter(self, path: str) -> int:
        with self._lock:
            key = next(self._ids)
            self._running[key] = (path, perf_counter())
            self.changed()
        return key

    def leave(self, key: int) -> None:
        with self._lock:
            self._running.pop(key, None)
            self.changed()

    def changed(self) -> None:
        """Called (under the lock) when a node starts or ends."""

    def running(self) -> str | None:
        with self._lock:
            items = list(self._running.values())
        paths = {p for p, _ in items}
        inner = [(since, p) for p, since in items if not any(q.startswith(p + " > ") for q in paths)]
        return min(inner)[1] if inner else None


TRACKER: contextvars.ContextVar[Tracker | None] = contextvars.ContextVar("modulespack_serve_tracker", default=None)


def _tracked(fn: Any, path: str) -> Any:
    @functools.wraps(fn)
    def tracked(*args: Any, **kw: Any) -> Any:
        t = TRACKER.get()
        if t is None:
            return fn(*args, **kw)
        key = t.enter(path)
        try:
            return fn(*args, **kw)
        finally:
            t.leave(key)
    return tracked


def instrument(session: Session, prefix: str = "") -> None:
    """Let a run's Tracker see which node is running (nested graphs as `outer > inner`), also
    for the nodes the Session runs on its own thread pool (it runs them in the caller's context)."""
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
    token = TRACKER.set(tracker)
    try:
        return session.run(feeds, fetches)
    finally:
        TRACKER.reset(token)


_KEEP_ALIVE: "collections.deque[Any]" = collections.deque(maxlen=16)


class WorkerPool:
    """One ProcessPoolExecutor of the process executor, and what the registry knows of it: the
    shared "task:node" table and pids of its workers, its runs in flight (`live`), the runs that
    timed out (`abandoned`: their workers are killed once no live run is left), whether it still
    takes runs (`retired`) and whether it was stopped."""
    __slots__ = ("executor", "slots", "pids", "live", "abandoned", "retired", "stopped")

    def __init__(self, executor: ProcessPoolExecutor, slots: Any, pids: Any):
        self.executor = executor
        self.slots = slots
        self.pids = pids
        self.live: set[int] = set()
        self.abandoned: set[int] = set()
        self.retired = False
        self.stopped = False

    def worker_pids(self) -> list[int]:
        return [p for p in self.pids[:] if p > 0]

    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))


class ProcessRun:
    """A run in a worker process: its pool and task number; names the running node from the table."""
    __slots__ = ("pool", "task")

    def __init__(self, pool: WorkerPool, task: int):
        self.pool, self.task = pool, task

    def running(self) -> str | None:
        from .worker import read_slots
        return read_slots(self.pool.slots, self.task)


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
        self._ppool: WorkerPool | None = None     # the pool new runs go to
        self._pools: set[WorkerPool] = set()      # every pool not stopped yet (retired ones drain)
        self._ppool_lock = threading.RLock()       # never held while calling into an executor
        self._tasks = itertools.count(1)
        self.on_pool_reset: Any = None             # called (on the event loop) when a new pool must warm up
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
                else:  # workers get this spec (as a dict), not the file: check that it round-trips
                    parse_graph(graph.spec.to_dict(), f.resolve())
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

    def process_pool(self) -> WorkerPool:
        """The pool new runs go to (started on first use, and again after a reset)."""
        pool = self._ppool
        if pool is not None:
            return pool
        with self._ppool_lock:
            if self._ppool is None:
                from . import worker
                # the validated specs, not the files: an edit after start-up changes nothing
                graphs = {e.name: (e.graph.spec.to_dict(), str(e.path.resolve()))
                          for e in self.graphs.values() if e.executor == "process"}
                ctx = multiprocessing.get_context("spawn")
                slots = ctx.Array("c", self.process_workers * worker.SLOT, lock=False)
                pids = ctx.Array("i", self.process_workers, lock=False)
                counter = ctx.Value("i", 0)
                executor = ProcessPoolExecutor(
                    self.process_workers, mp_context=ctx, initializer=worker.init_worker,
                    initargs=(graphs, self.session_options, slots, counter, pids))
                self._ppool = WorkerPool(executor, slots, pids)
                # a worker still starting when its pool is stopped and dropped would find the counter's
                # semaphore gone (FileNotFoundError on stderr): keep the last few alive a while
                _KEEP_ALIVE.append(counter)
                self._pools.add(self._ppool)
            return self._ppool

    async def warm_up(self) -> bool:
        """Start the worker processes and wait until they have built their Sessions (for /readyz);
        if the pool is replaced meanwhile, warm up the new one."""
        from . import worker
        loop = asyncio.get_running_loop()
        while not self.process_ready:
            pool = self.process_pool()
            try:
                futs = [loop.run_in_executor(pool.executor, worker.ping) for _ in range(self.process_workers)]
                info = await asyncio.gather(*futs)
            except BrokenProcessPool as e:
                current = self._detach(pool)
                self._stop_pool(pool)
                if not current:  # replaced meanwhile (a run timed out there): warm up the new one
                    continue
                self.process_error = f"worker processes could not start: {e}"
                return False
            except RuntimeError:  # the pool was shut down (a reset, or the app stopping)
                if self._ppool is pool:
                    return False
                continue
            except asyncio.CancelledError:  # this task, or the pings (their pool was stopped)
                task = asyncio.current_task()
                cancelling = getattr(task, "cancelling", None)  # Python >= 3.11
                if self._ppool is pool or cancelling is None or cancelling():
                    raise
                continue
            if self._ppool is not pool:  # replaced while starting: warm up the new one
                continue
            self.process_errors = {g: m for i in info for g, m in i["errors"].items()}
            self.process_error = "; ".join(f"{g}: {m}" for g, m in self.process_errors.items()) or None
            self.process_ready = True
        return True

    def ready(self, entry: GraphEntry) -> bool:
        """Can this graph run now (its Session built here, or in the worker processes)?"""
        if entry.executor == "thread":
            return True
        return self.process_ready and entry.name not in self.process_errors

    def check_process_pool(self) -> None:
        """A worker that died while idle (kill -9, the OOM killer) breaks the pool without any run
        noticing: replace it now (for /readyz, which then says "starting" until it is warm)."""
        pool = self._ppool
        if pool is not None and pool.broken():
            self._pool_broke(pool)

    def _detach(self, pool: WorkerPool) -> bool:
        """Stop sending runs to `pool`; True if it was the current one (a new one is needed)."""
        with self._ppool_lock:
            pool.retired = True
            if self._ppool is not pool:
                return False
            self._ppool = None
        self.process_ready = False
        return True

    def _rebuild(self) -> None:
        """A new pool is needed: /readyz says "starting" until it is warm (the hook starts the warm-up)."""
        hook = self.on_pool_reset
        if hook is not None:
            try:
                hook()
            except RuntimeError:  # no running event loop: the next /readyz starts it
                pass

    def _pool_broke(self, pool: WorkerPool) -> None:
        """`pool` is broken (a worker died): replace it if it is still the current one."""
        if self._detach(pool):
            self._rebuild()
        self._stop_pool(pool)

    def _abandon(self, run: ProcessRun) -> None:
        """A run timed out: its worker may be stuck for good. New runs go to a new pool; the worker is
        killed, with the old pool, as soon as no other run is in flight there (none is lost)."""
        pool = run.pool
        with self._ppool_lock:
            pool.live.discard(run.task)
            pool.abandoned.add(run.task)
        if self._detach(pool):
            self._rebuild()
        self._maybe_stop(pool)

    def _run_done(self, pool: WorkerPool, task: int, _fut: Future) -> None:
        # in the executor's thread, maybe holding its locks: bookkeeping only, stopping on a thread
        with self._ppool_lock:
            pool.live.discard(task)
            go = pool.retired and not pool.live and not pool.stopped
        if go:
            threading.Thread(target=self._maybe_stop, args=(pool,), name="serve-pool-stop", daemon=True).start()

    def _maybe_stop(self, pool: WorkerPool) -> None:
        with self._ppool_lock:
            if not pool.retired or pool.live or pool.stopped:
                return
        self._stop_pool(pool)

    def _stop_pool(self, pool: WorkerPool) -> None:
        """Kill the workers still running abandoned runs, and shut the pool down."""
        from .worker import find_task
        with self._ppool_lock:
            if pool.stopped:
                return
            pool.stopped = True
            self._pools.discard(pool)
            abandoned = list(pool.abandoned)
        pids = pool.pids[:]
        for task in abandoned:
            found = find_task(pool.slots, task)
            if found is not None and found[0] < len(pids) and pids[found[0]] > 0:
                try:
                    os.kill(pids[found[0]], getattr(signal, "SIGKILL", signal.SIGTERM))
                    log.warning("killed worker process %d: its run (task %d) timed out", pids[found[0]], task)
                except OSError:  # gone already
                    pass
        pool.executor.shutdown(wait=False, cancel_futures=True)

    def worker_pids(self) -> list[int]:
        """Pids of the current pool's worker processes (those started so far)."""
        pool = self._ppool
        return pool.worker_pids() if pool is not None else []

    # ------------------------------------------------------------------ running

    def _submit(self, entry: GraphEntry, feeds: dict, fetches: tuple) -> tuple[Future, Tracker | ProcessRun]:
        if entry.executor == "thread":
            tracker = Tracker()
            return entry.thread_pool().submit(_run_in_thread, entry.session, feeds, fetches, tracker), tracker
        from . import worker
        task = next(self._tasks)
        for attempt in (1, 2):
            pool = self.process_pool()
            with self._ppool_lock:
                pool.live.add(task)
            try:
                cfut = pool.executor.submit(worker.run, entry.name, feeds, fetches, task)
            except BrokenProcessPool:  # a worker died while the pool was idle: a new pool, once
                with self._ppool_lock:
                    pool.live.discard(task)
                self._pool_broke(pool)
                if attempt == 2:
                    raise ServeError(503, f"graph '{entry.name}': the worker processes are restarting; "
                                          "try again", graph=entry.name, kind="worker") from None
                continue
            except BaseException:
                with self._ppool_lock:
                    pool.live.discard(task)
                raise
            cfut.add_done_callback(functools.partial(self._run_done, pool, task))
            return cfut, ProcessRun(pool, task)
        raise AssertionError("unreachable")

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
        try:
            cfut, tracker = self._submit(entry, feeds, fetches)
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
            # a running thread cannot be stopped: it keeps its slot until it ends; a worker process
            # is killed (see _abandon), which ends its run
            def release(_f: Future) -> None:
                try:
                    loop.call_soon_threadsafe(sem.release)
                except RuntimeError:  # the loop is gone
                    pass
            node = tracker.running()
            cfut.add_done_callback(release)
            if isinstance(e, asyncio.CancelledError):
                raise
            if isinstance(tracker, ProcessRun):
                self._abandon(tracker)
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
            if isinstance(tracker, ProcessRun):
                self._pool_broke(tracker.pool)  # a new pool, unless another run has made one already
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
        with self._ppool_lock:
            self._ppool = None
            pools = list(self._pools)
            for pool in pools:
                pool.retired = True
        for pool in pools:
            self._stop_pool(pool)
        if any(e.executor == "process" for e in self.graphs.values()):
            self.process_ready = False

    def close(self) -> None:
        """Stop the pools and close every Session."""
        self.shutdown_executors()
        for e in self.graphs.values():
            if e.session is not None:
                e.session.close()
