"""Runs of served graphs: off the event loop on each graph's engine, with a per-graph concurrency
limit and a per-request time-out, and the engine's errors turned into HTTP answers.

Every run has a CancelToken: a time-out, a client that went away and the server's shutdown cancel
it, and its concurrency slot is free again only when its work has really stopped (the engine's
future is done), so a hung run keeps its slot rather than pile up more work behind it.
"""
from __future__ import annotations

import asyncio
import logging
import math
from concurrent.futures import Future

from ..core import Cancelled, CancelToken, FeedError, GraphError, NodeError, NodeInputError, Result, Unavailable
from ..engines import EngineError, WorkerDied
from .entry import GraphEntry
from .errors import ServeError

log = logging.getLogger("modulespack.serve")

RETRY_AFTER_S = 1  # a run lost with its worker: another worker (or its replacement) takes the next


class Dispatcher:
    """Runs requests on the graphs' engines; `timeout_s` per run (queueing included)."""

    def __init__(self, timeout_s: float | None = 60.0, debug: bool = False):
        self.timeout_s = timeout_s
        self.debug = debug
        self._live: set[CancelToken] = set()  # tokens of the runs in progress (cancelled at shutdown)

    async def run(self, entry: GraphEntry, feeds: dict, fetches: tuple) -> Result:
        """Run a graph off the event loop; raises ServeError (422 input, 500 node, 503 worker died,
        engine unavailable or shutting down, 504 timeout). A time-out or this task being cancelled
        (the client went away) cancels the run."""
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
            if not entry.engine.ready():  # not started (no lifespan, or after a shutdown), or warming up:
                # start() is idempotent, and may build a Session: not on the loop
                await loop.run_in_executor(None, entry.engine.start)
            run = entry.engine.submit(feeds, fetches, token=token)
        except GraphError as e:  # the engine could not start: a module cannot be set up
            sem.release()
            log.error("graph %s: its engine could not start: %s", entry.name, e)
            raise ServeError(503, f"graph '{entry.name}' cannot run: {e}", graph=entry.name, kind="unavailable",
                             headers={"Retry-After": str(RETRY_AFTER_S)}) from None
        except Exception as e:  # the engine is stopping, closed or could not start
            sem.release()
            raise self.error(entry, e) from None
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
        # A run we waited for to its end frees its slot here; one we stop waiting for (time-out, client
        # gone) frees it from the future's callback, when its work has really stopped. Not always the
        # callback: waking the loop from the worker thread costs a trivial run a tenth of its time.
        try:
            waiting = asyncio.wrap_future(run.future, loop=loop)
            res = await (waiting if t_end is None else asyncio.wait_for(waiting, max(t_end - loop.time(), 0.0)))
        except asyncio.TimeoutError:
            run.future.add_done_callback(stopped)
            node = run.running()
            run.cancel(f"timed out after {timeout:g} s")
            raise ServeError(504, f"graph '{entry.name}' did not finish within {timeout:g} s"
                                  + (f" (running node '{node}')" if node else ""),
                             graph=entry.name, node=node or entry.slowest(),
                             node_state="running" if node else ("slowest-recently" if entry.slowest() else None),
                             timeout_s=timeout, kind="timeout") from None
        except asyncio.CancelledError:
            run.future.add_done_callback(stopped)
            run.cancel("the client went away")
            raise
        except BaseException as e:
            self._live.discard(token)
            sem.release()
            if isinstance(e, Exception):
                raise self.error(entry, e) from None
            raise
        self._live.discard(token)
        sem.release()
        entry.note_timings(res.timings)
        return res

    def error(self, entry: GraphEntry, e: Exception) -> Exception:
        """The answer to a run that failed: the core's errors as the client's mistake (422) or the
        server's fault (500); the engine's own troubles as 503 (retry) or 500."""
        name = entry.name
        if isinstance(e, FeedError):
            return ServeError(422, str(e), graph=name, port=e.port, kind="input")
        if isinstance(e, NodeInputError):  # before NodeError, its base: the module refused its inputs
            log.info("graph %s: %s", name, e)
            return ServeError(422, str(e), graph=name, port=e.inputs[0] if e.inputs else None,
                              inputs=list(e.inputs), node=e.node, module=e.module, node_port=e.port, kind="input")
        if isinstance(e, NodeError) and isinstance(e.cause, WorkerDied):  # e.g. a node's Serve replica died
            log.warning("graph %s: %s", name, e)
            return ServeError(503, f"graph '{name}': {e}; try again", graph=name, node=e.node, module=e.module,
                              kind="worker", headers={"Retry-After": str(RETRY_AFTER_S)})
        if isinstance(e, NodeError) and isinstance(e.cause, Unavailable):  # e.g. every model-server endpoint down
            log.warning("graph %s: %s", name, e)
            return ServeError(503, f"graph '{name}': {e}", graph=name, node=e.node, module=e.module, kind="unavailable",
                              headers={"Retry-After": str(max(1, math.ceil(e.cause.retry_after)))})
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
        if isinstance(e, EngineError):
            tb = getattr(e, "traceback", None)
            if tb is None and not entry.engine.ready():  # cannot run: closed, or failed to start
                log.error("graph %s: %s", name, e)
                return ServeError(503, f"graph '{name}': {e}", graph=name, kind="unavailable",
                                  headers={"Retry-After": str(RETRY_AFTER_S)})
            log.error("graph %s failed in its engine: %s\n%s", name, e, tb or "")
            return ServeError(500, f"graph '{name}': {e}", graph=name, kind="internal",
                              traceback=tb if self.debug else None)
        return e

    def cancel_all(self, reason: str = "the server is stopping") -> None:
        """Cancel the runs in progress (their tokens kill the programs they started: only this app's,
        never another's in the same process)."""
        for token in list(self._live):
            token.cancel(reason)
