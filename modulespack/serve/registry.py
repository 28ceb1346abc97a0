"""The graphs an app serves: found in the start-up paths, validated and built once, then run off the
event loop with a per-graph concurrency limit and a per-request timeout. Every run has a CancelToken:
a time-out, a client that went away and the server's shutdown cancel it, and its concurrency slot is
free again only when its work has really stopped.

Only files named at start-up (or found in a start-up folder) are ever opened: requests name a
graph, and the name is looked up in this registry, never turned into a path.
"""
from __future__ import annotations

import asyncio
import logging
import os
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core import (Cancelled, CancelToken, FeedError, GraphError, NodeError, NodeInputError, Problem, Result,
                    Session, build_graph)
from ..core.spec import GRAPH_SUFFIXES, parse_graph
from .entry import GraphEntry
from .errors import GraphLoadError, ServeError
from .feeds import DEFAULT_MAX_TEXT_CHARS
from .procpool import ProcessPools, ProcessRun, WorkerDied
from .tracking import Tracker, run_tracked
from .worker import WorkerError

log = logging.getLogger("modulespack.serve")

EXECUTORS = ("thread", "process")
RETRY_AFTER_S = 1  # a run lost with its worker process: another worker (or its replacement) takes the next


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


class GraphRegistry:
    """Every served graph, and how runs reach them."""

    def __init__(self, paths: Iterable[str | os.PathLike], *, executor: str | Mapping[str, str] = "thread",
                 concurrency: int = 4, timeout_s: float | None = 60.0, max_audio_seconds: float = 600.0,
                 max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, session_options: Mapping[str, Any] | None = None,
                 process_workers: int | None = None, debug: bool = False):
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if max_text_chars < 1:
            raise ValueError("max_text_chars must be at least 1")
        self.timeout_s = timeout_s
        self.debug = debug
        self.session_options = dict(session_options or {})
        self.graphs: dict[str, GraphEntry] = {}
        self._live: set[CancelToken] = set()  # tokens of the runs in progress (cancelled at shutdown)
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
                else:  # workers get this spec (as a dict), not the file: check that it round-trips
                    parse_graph(graph.spec.to_dict(), f.resolve())
            except GraphError as e:
                problems += e.problems
                continue
            self.graphs[name] = GraphEntry(name, f, graph, session, ex, concurrency, max_audio_seconds,
                                           max_text_chars)
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

    async def warm_up(self) -> bool:
        return await self.procs.warm_up()

    def worker_pids(self) -> list[int]:
        return self.procs.worker_pids()

    def ready(self, entry: GraphEntry) -> bool:
        """Can this graph run now (its Session built here, or in the worker processes)?"""
        return entry.executor == "thread" or self.procs.can_run(entry.name)

    # ------------------------------------------------------------------ running

    def _submit(self, entry: GraphEntry, feeds: dict, fetches: tuple, token: CancelToken
                ) -> tuple[Future, Tracker | ProcessRun]:
        if entry.executor == "process":
            run = self.procs.submit(entry.name, feeds, fetches, token)
            return run.future, run
        tracker = Tracker()
        return entry.thread_pool().submit(run_tracked, entry.session, feeds, fetches, tracker, token), tracker

    async def run(self, entry: GraphEntry, feeds: dict, fetches: tuple) -> Result:
        """Run a graph off the event loop; raises ServeError (422 input, 500 node, 503 worker died or
        shutting down, 504 timeout). A time-out or this task being cancelled (the client went away)
        cancels the run."""
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
        token = CancelToken()
        try:
            cfut, tracker = self._submit(entry, feeds, fetches, token)
        except Exception as e:  # the pools are stopping
            sem.release()
            raise self._error(entry, e) from None
        except BaseException:
            sem.release()
            raise
        self._live.add(token)

        def stopped(_f: Future) -> None:  # the work has ended (not just our wait for it): free the slot
            self._live.discard(token)
            try:
                loop.call_soon_threadsafe(sem.release)
            except RuntimeError:  # the loop is gone
                pass
        cfut.add_done_callback(stopped)
        try:
            if t_end is None:
                res = await asyncio.wrap_future(cfut, loop=loop)
            else:
                res = await asyncio.wait_for(asyncio.wrap_future(cfut, loop=loop), max(t_end - loop.time(), 0.0))
        except asyncio.TimeoutError:
            node = tracker.running()
            token.cancel(f"timed out after {timeout:g} s")
            raise ServeError(504, f"graph '{entry.name}' did not finish within {timeout:g} s"
                                  + (f" (running node '{node}')" if node else ""),
                             graph=entry.name, node=node or entry.slowest(),
                             node_state="running" if node else ("slowest-recently" if entry.slowest() else None),
                             timeout_s=timeout, kind="timeout") from None
        except asyncio.CancelledError:
            token.cancel("the client went away")
            raise
        except Exception as e:
            raise self._error(entry, e) from None
        entry.note_timings(res.timings)
        return res

    def _error(self, entry: GraphEntry, e: Exception) -> Exception:
        """The answer to a run that failed: the core's errors as the client's mistake (422) or the
        server's fault (500), and the process executor's own troubles (503 and retry, or 500)."""
        name = entry.name
        if isinstance(e, FeedError):
            return ServeError(422, str(e), graph=name, port=e.port, kind="input")
        if isinstance(e, NodeInputError):  # before NodeError, its base: the module refused its inputs
            log.info("graph %s: %s", name, e)
            return ServeError(422, str(e), graph=name, port=e.inputs[0] if e.inputs else None,
                              inputs=list(e.inputs), node=e.node, module=e.module, node_port=e.port, kind="input")
        if isinstance(e, NodeError):
            log.error("graph %s: %s\n%s", name, e, e.traceback)
            return ServeError(500, str(e), graph=name, node=e.node, module=e.module, kind="node",
                              traceback=e.traceback if self.debug else None)
        if isinstance(e, WorkerDied):
            return ServeError(503, f"graph '{name}': {e}; try again", graph=name, kind="worker",
                              headers={"Retry-After": str(RETRY_AFTER_S)})
        if isinstance(e, Cancelled):  # not by a time-out or the client (those answered already): a shutdown
            return ServeError(503, f"graph '{name}': {e}", graph=name, kind="cancelled",
                              headers={"Retry-After": str(RETRY_AFTER_S)})
        if isinstance(e, WorkerError):
            log.error("graph %s failed in a worker process: %s\n%s", name, e, e.traceback)
            return ServeError(500, f"graph '{name}': {e}", graph=name, kind="internal",
                              traceback=e.traceback if self.debug else None)
        return e

    # ------------------------------------------------------------------ lifetime

    def shutdown_executors(self) -> None:
        """Cancel the runs in progress (their tokens kill the programs they started: only this app's,
        never another's in the same process) and stop the thread and process pools (they start again
        on the next run)."""
        for token in list(self._live):
            token.cancel("the server is stopping")
        for e in self.graphs.values():
            e.shutdown()
        self.procs.stop()

    def close(self) -> None:
        """Stop the pools and close every Session."""
        self.shutdown_executors()
        for e in self.graphs.values():
            if e.session is not None:
                e.session.close()
