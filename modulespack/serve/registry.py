"""The graphs an app serves: found in the start-up paths, validated and built once, then run off the
event loop with a per-graph concurrency limit and a per-request timeout.

Only files named at start-up (or found in a start-up folder) are ever opened: requests name a
graph, and the name is looked up in this registry, never turned into a path.
"""
from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core import FeedError, GraphError, NodeError, Problem, Session, build_graph
from ..core.spec import GRAPH_SUFFIXES, parse_graph
from .entry import GraphEntry
from .errors import GraphLoadError, ServeError
from .procpool import ProcessPools, ProcessRun, WorkerPool
from .tracking import TRACKER, Tracker, instrument, run_tracked

# GraphEntry, WorkerPool, ProcessRun and the tracking names lived here once: still importable from here
__all__ = ["EXECUTORS", "GraphEntry", "GraphRegistry", "ProcessRun", "RunResult", "TRACKER", "Tracker",
           "WorkerPool", "graph_files", "instrument"]

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
        files, problems = graph_files(paths)
        per_graph = executor if isinstance(executor, Mapping) else None
        unknown_exec = set(per_graph or ())
        names: dict[str, Path] = {}
        for f in files:
            name = f.stem
            if name in names:
                problems.append(Problem(f"two graphs would be served as '{name}': {names[name]} and {f}; "
                                        "rename one", file=str(f), kind="duplicate"))
                continue
            names[name] = f
            ex = per_graph.get(name, "thread") if per_graph is not None else executor
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
        self.procs = ProcessPools({e.name: (e.graph.spec.to_dict(), str(e.path.resolve()))
                                   for e in self.graphs.values() if e.executor == "process"},
                                  process_workers or concurrency, self.session_options)
        if problems:
            self.close()
            raise GraphLoadError(problems)

    # ------------------------------------------------------------------ process workers

    @property
    def process_ready(self) -> bool:
        return self.procs.ready

    @property
    def process_error(self) -> str | None:
        return self.procs.error

    @property
    def on_pool_reset(self) -> Any:
        """Called (on the event loop) when a new process pool must warm up."""
        return self.procs.on_reset

    @on_pool_reset.setter
    def on_pool_reset(self, hook: Any) -> None:
        self.procs.on_reset = hook

    async def warm_up(self) -> bool:
        return await self.procs.warm_up()

    def check_process_pool(self) -> None:
        self.procs.check()

    def worker_pids(self) -> list[int]:
        return self.procs.worker_pids()

    def ready(self, entry: GraphEntry) -> bool:
        """Can this graph run now (its Session built here, or in the worker processes)?"""
        return entry.executor == "thread" or self.procs.can_run(entry.name)

    # ------------------------------------------------------------------ running

    def _submit(self, entry: GraphEntry, feeds: dict, fetches: tuple) -> tuple[Future, Tracker | ProcessRun]:
        if entry.executor == "process":
            return self.procs.submit(entry.name, feeds, fetches)
        tracker = Tracker()
        return entry.thread_pool().submit(run_tracked, entry.session, feeds, fetches, tracker), tracker

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
        release_now = True
        try:
            if t_end is None:
                res = await afut
            else:
                res = await asyncio.wait_for(afut, max(t_end - loop.time(), 0.0))
        except (asyncio.TimeoutError, asyncio.CancelledError) as e:
            # a running thread cannot be stopped: it keeps its slot until it ends; a worker process
            # is killed (see ProcessPools.abandon), which ends its run
            def release(_f: Future) -> None:
                try:
                    loop.call_soon_threadsafe(sem.release)
                except RuntimeError:  # the loop is gone
                    pass
            release_now = False
            node = tracker.running()
            cfut.add_done_callback(release)
            if isinstance(e, asyncio.CancelledError):
                raise
            if isinstance(tracker, ProcessRun):
                self.procs.abandon(tracker)
            raise ServeError(504, f"graph '{entry.name}' did not finish within {timeout:g} s"
                                  + (f" (running node '{node}')" if node else ""),
                             graph=entry.name, node=node or entry.slowest(),
                             node_state="running" if node else ("slowest-recently" if entry.slowest() else None),
                             timeout_s=timeout, kind="timeout") from None
        except FeedError as e:
            raise ServeError(422, str(e), graph=entry.name, port=e.port, kind="input") from None
        except NodeError as e:
            raise self._node_error(entry, str(e), e.node, e.module, e.traceback) from None
        except BrokenProcessPool:
            if isinstance(tracker, ProcessRun):
                self.procs.broke(tracker.pool)  # a new pool, unless another run has made one already
            raise ServeError(500, f"graph '{entry.name}': a worker process died during the run "
                                  "(the pool is restarted)", graph=entry.name, kind="worker") from None
        finally:
            if release_now:
                sem.release()
        out = RunResult(res.outputs, res.timings, res.seconds) if entry.executor == "thread" \
            else self._process_result(entry, res)
        entry.note_timings(out.timings)
        return out

    def _process_result(self, entry: GraphEntry, res: tuple) -> RunResult:
        """The result of a worker process (see `worker.run`), or its error raised as a ServeError."""
        tag = res[0]
        if tag == "feed":
            raise ServeError(422, res[1], graph=entry.name, port=res[2], kind="input")
        if tag == "node":
            raise self._node_error(entry, res[1], res[2], res[3], res[4])
        if tag == "error":
            log.error("graph %s failed in a worker process: %s\n%s", entry.name, res[1], res[2])
            raise ServeError(500, f"graph '{entry.name}': {res[1]}", graph=entry.name, kind="internal",
                             traceback=res[2] if self.debug else None)
        return RunResult(res[1], res[2], res[3])

    def _node_error(self, entry: GraphEntry, message: str, node: str, module: str, tb: str) -> ServeError:
        log.error("graph %s: %s\n%s", entry.name, message, tb)
        return ServeError(500, message, graph=entry.name, node=node, module=module, kind="node",
                          traceback=tb if self.debug else None)

    # ------------------------------------------------------------------ lifetime

    def shutdown_executors(self) -> None:
        """Stop the thread and process pools (they start again on the next run)."""
        for e in self.graphs.values():
            e.shutdown()
        self.procs.stop()

    def close(self) -> None:
        """Stop the pools and close every Session."""
        self.shutdown_executors()
        for e in self.graphs.values():
            if e.session is not None:
                e.session.close()
