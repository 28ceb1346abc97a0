"""A Wyoming connection handler that keeps reading its connection while it runs something, so that
a client leaving (end of stream) cancels the run rather than let it finish for nobody, as the HTTP
routes do on `http.disconnect`. Events that arrive during the run are kept and handled after it.

The `wyoming` package's `AsyncEventHandler.run` reads only between events; this one's loop reads
through `_next_event`, and `_unless_client_leaves(work)` awaits a run while reading ahead.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from wyoming.event import Event, async_read_event
    from wyoming.server import AsyncEventHandler

log = logging.getLogger("modulespack.serve")

MAX_PENDING = 64  # events read ahead during a run; past it reading waits (the client's sending is held back)


class ClientGone(Exception):
    """The client closed its connection during a run (which was cancelled)."""


class ReadingHandler(AsyncEventHandler):
    """An event handler whose runs are cancelled when their client leaves."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        super().__init__(reader, writer)
        self._reading: asyncio.Task | None = None  # a read started during a run, not yet handled
        self._pending: collections.deque[Event] = collections.deque()  # events read during a run

    async def run(self) -> None:
        """The base class's loop, but reading through `_next_event`: a run in progress keeps reading."""
        self._is_running = True
        try:
            while self._is_running:
                event = await self._next_event()
                if event is None or not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as e:  # the client went away mid-event
            log.debug("wyoming: a client went away: %s", e)
        finally:
            reading, self._reading = self._reading, None
            if reading is not None and not reading.done():
                reading.cancel()
            elif reading is not None and not reading.cancelled():
                reading.exception()  # the client's broken last event: retrieved, not logged as unhandled
            await self.disconnect()
            self.writer.close()

    async def _next_event(self) -> Event | None:
        if self._pending:
            return self._pending.popleft()
        reading, self._reading = self._reading, None
        if reading is not None:  # started during the last run: its bytes are read already, maybe
            return await reading
        return await async_read_event(self.reader)

    async def _unless_client_leaves(self, work: Any) -> Any:
        """Await `work` (a run) while reading the connection: if the client leaves meanwhile, the run is
        cancelled (the dispatcher cancels its token) and ClientGone raised. A read in progress when the
        run ends is kept for `_next_event` (cancelling it could lose half an event)."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                if self._reading is None and len(self._pending) < MAX_PENDING:
                    self._reading = asyncio.ensure_future(async_read_event(self.reader))
                waits = {task} if self._reading is None else {task, self._reading}
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    return task.result()
                reading, self._reading = self._reading, None
                try:
                    event = reading.result()  # type: ignore[union-attr]
                except (ConnectionError, asyncio.IncompleteReadError):
                    event = None
                if event is None:
                    break
                self._pending.append(event)
        except asyncio.CancelledError:
            task.cancel()
            raise
        task.cancel()
        try:
            await task
        except BaseException:  # cancelled, as asked (or it failed meanwhile: nobody is there to tell)
            pass
        raise ClientGone()
