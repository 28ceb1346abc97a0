"""Dynamic batching: concurrent runs of one node grouped into one `run_batch` call.

A model that takes 10 ms for one input often takes 15 ms for eight: when many requests are in
flight at once, running them together multiplies throughput. The Session puts a `Batcher` in front
of each node whose graph-file entry has `batch: {max_size, max_wait_s}`, so every engine that runs
a Session (threads, worker processes, Ray actors) batches alike.

No thread of its own: the first caller of a batch leads it. It waits until `max_size` callers have
joined, or every run that could still join has joined, or `max_wait_s` has passed since it arrived;
then it runs `run_batch` for all of them on its own thread (in its own context, so node hooks see it
as its node) and hands each caller its item's outputs. Callers arriving meanwhile form the next batch.
For "every run that could still join", the Session counts at each batched node the runs in flight
whose plan reaches the node and that have not passed it yet (`Arrivals`): the leader goes once all
of them are in its batch. A run alone (as on the local and Ray engines, whose workers run one run at
a time) therefore goes at once instead of waiting `max_wait_s` for nobody. Runs in a batch of this
node that is still running count too: while the model is busy the next batch keeps collecting
(at most `max_wait_s`), rather than starting alone beside it. Callers from outside a Session run
are not counted: a batch holding one waits as before.

Errors: an exception in an item's slot of what `run_batch` returns (an `InputError` for bad input
values) fails that caller alone; an exception raised by `run_batch` fails every caller of the batch,
each with its own copy (same type and message, caused by the original), since one exception object
raised in several threads at once would have its traceback rewritten by each.
Cancellation: a caller whose run is cancelled leaves at once. Before the batch starts its item is
taken out (a leaving leader hands the lead to the next caller); once it has started, its output is
dropped: a follower leaves at once, the leader (whose thread runs the batch) raises `Cancelled` when
`run_batch` returns. The batch runs under a token of its own, set when every caller in it has been
cancelled, so a program it started is killed only when nobody wants the results.
"""
from __future__ import annotations

import copy
import threading
from collections import deque
from contextvars import ContextVar
from time import monotonic
from typing import Any, Iterable

from .cancel import CURRENT, CancelToken
from .errors import Cancelled


class Arrivals:
    """The batched nodes one Session run will reach and has not passed yet. Made by `Session.run`
    (for plans through a batched node only) and current while the run works; `close()` when it ends
    stops counting it at nodes it never passed (it failed, or was cancelled, before them)."""

    __slots__ = ("owed", "_reset")

    def __init__(self, batchers: Iterable["Batcher"]):
        self.owed = set(batchers)
        for b in self.owed:
            b._expect()
        self._reset = ARRIVALS.set(self)

    def close(self) -> None:
        ARRIVALS.reset(self._reset)
        for b in tuple(self.owed):
            b._run_ended(self)


#: the `Arrivals` of the Session run this thread works for (copied to pool threads with the context)
ARRIVALS: ContextVar[Arrivals | None] = ContextVar("modulespack_batch_arrivals", default=None)


class _Item:
    __slots__ = ("inputs", "out", "error", "done", "lead", "token", "arrivals")

    def __init__(self, inputs: dict[str, Any], token: CancelToken | None):
        self.inputs = inputs
        self.token = token
        self.arrivals: Arrivals | None = None  # its run's, when counted in flight at this node
        self.out: Any = None
        self.error: BaseException | None = None
        self.done = False   # out or error is set
        self.lead = False   # this caller must run the batch


class _Batch:
    __slots__ = ("items", "deadline", "started", "token", "cond", "uncounted")

    def __init__(self, deadline: float, lock: threading.Lock):
        # one condition per batch over the Batcher's lock: a batch ending wakes its callers only
        self.cond = threading.Condition(lock)
        self.items: list[_Item] = []
        self.uncounted = 0  # callers from outside a counted run: nobody knows who else may come
        self.deadline = deadline
        self.started = False
        self.token = CancelToken()


class Batcher:
    """Groups concurrent `run(**inputs)` calls on `instance` into `instance.run_batch(items)` calls
    of at most `max_size` items, each waiting at most `max_wait_s` for others to join. Thread-safe.

    `sizes` and `reasons` record recent batches: how many items, and why each started ("full",
    "all-joined": no other run that could join was in flight, "waited": `max_wait_s` passed).

    >>> b = Batcher(model, max_size=8, max_wait_s=0.01)   # doctest: +SKIP
    >>> b.run(mel=m)                                       # from many threads at once  # doctest: +SKIP
    {'logits': ...}
    """

    def __init__(self, instance: Any, max_size: int = 8, max_wait_s: float = 0.01):
        if max_size < 1 or max_wait_s < 0:
            raise ValueError(f"max_size must be >= 1 and max_wait_s >= 0, got {max_size} and {max_wait_s}")
        self.instance = instance
        self.max_size = int(max_size)
        self.max_wait_s = float(max_wait_s)
        self._lock = threading.Lock()
        self._open: _Batch | None = None  # the batch new callers join
        self._pending = 0  # counted runs in flight that will reach this node and have not passed it
        self.sizes: deque[int] = deque(maxlen=1000)  # sizes of recent batches (tests, benchmarks)
        self.reasons: deque[str] = deque(maxlen=1000)  # why each of them started

    def run(self, **inputs: Any) -> Any:
        token = CURRENT.get()
        if token is not None and token.is_set():
            raise Cancelled(token.reason)
        item = _Item(inputs, token)
        arrivals = ARRIVALS.get()
        with self._lock:
            batch = self._open
            if batch is None:
                batch = self._open = _Batch(monotonic() + self.max_wait_s, self._lock)
                item.lead = True
            batch.items.append(item)
            if arrivals is not None and self in arrivals.owed:
                item.arrivals = arrivals
            else:
                batch.uncounted += 1
            if self._why_start(batch) is not None:
                if len(batch.items) >= self.max_size:
                    self._open = None  # full: the next caller starts a new one
                batch.cond.notify_all()
        unregister = token.on_cancel(lambda: self._cancelled(batch)) if token is not None else None
        try:
            return self._wait(batch, item)
        finally:
            if unregister is not None:
                unregister()

    def waiting(self) -> int:
        """How many callers wait in the batch that new callers would join."""
        with self._lock:
            return len(self._open.items) if self._open is not None else 0

    def _expect(self) -> None:
        with self._lock:
            self._pending += 1

    def _run_ended(self, arrivals: Arrivals) -> None:
        with self._lock:
            self._passed(arrivals)

    def _passed(self, arrivals: Arrivals | None) -> None:
        """A counted run has passed this node (its batch ran, it left, or its run ended): the
        collecting batch's leader may have waited for it alone (under the lock)."""
        if arrivals is not None and self in arrivals.owed:
            arrivals.owed.discard(self)
            self._pending -= 1
            if self._open is not None:
                self._open.cond.notify_all()

    def _why_start(self, batch: _Batch) -> str | None:
        """Why the collecting `batch` should start now, or None (under the lock)."""
        if len(batch.items) >= self.max_size:
            return "full"
        if batch.uncounted == 0 and self._pending == len(batch.items):
            return "all-joined"
        if batch.deadline <= monotonic():
            return "waited"
        return None

    def _cancelled(self, batch: _Batch) -> None:
        """A caller's token was set: wake it (to leave) and stop the batch if nobody is left."""
        with self._lock:
            batch.cond.notify_all()
            nobody = batch.started and all(i.token is not None and i.token.is_set() for i in batch.items)
        if nobody:  # outside the lock: the batch token's callbacks may kill programs
            batch.token.cancel("every run in this batch was cancelled")

    def _wait(self, batch: _Batch, item: _Item) -> Any:
        cond = batch.cond
        with cond:
            while True:
                if item.done:
                    break
                if item.token is not None and item.token.is_set():
                    self._leave(batch, item)
                    raise Cancelled(item.token.reason)
                if item.lead:
                    why = self._why_start(batch)
                    if why is not None:
                        self._start(batch, why)
                        break
                    cond.wait(batch.deadline - monotonic())
                else:
                    cond.wait()
        if not item.done:  # this caller leads: run the batch here
            self._run(batch)
        if item.token is not None and item.token.is_set():
            raise Cancelled(item.token.reason)  # its output is dropped (a leader gets here late)
        if item.error is not None:
            raise item.error
        return item.out

    def _leave(self, batch: _Batch, item: _Item) -> None:
        """A cancelled caller goes (under the lock); its batch goes on without it."""
        if batch.started:
            return  # its output will be dropped
        batch.items.remove(item)
        if item.arrivals is None:
            batch.uncounted -= 1
        self._passed(item.arrivals)
        if item.lead:
            item.lead = False
            if batch.items:
                batch.items[0].lead = True
                batch.cond.notify_all()
            elif self._open is batch:
                self._open = None

    def _start(self, batch: _Batch, why: str) -> None:
        if self._open is batch:
            self._open = None
        batch.started = True
        self.sizes.append(len(batch.items))
        self.reasons.append(why)

    def _run(self, batch: _Batch) -> None:
        items = batch.items
        reset = CURRENT.set(batch.token)
        try:
            outs = self.instance.run_batch([i.inputs for i in items])
            if not isinstance(outs, (list, tuple)) or len(outs) != len(items):
                n = len(outs) if isinstance(outs, (list, tuple)) else type(outs).__name__
                raise TypeError(f"{type(self.instance).__name__}.run_batch got {len(items)} items but "
                                f"returned {n} results (one output dict, or exception, per item)")
        except BaseException as e:
            outs, error = None, e
        else:
            error = None
        finally:
            CURRENT.reset(reset)
        seen: set[int] = set()
        with self._lock:
            for k, i in enumerate(items):
                if error is not None:
                    i.error = _own_copy(error)
                elif isinstance(outs[k], BaseException):
                    e = outs[k]
                    i.error = _own_copy(e) if id(e) in seen else e  # one object in several slots
                    seen.add(id(e))
                else:
                    i.out = outs[k]
                i.done = True
                self._passed(i.arrivals)
            batch.cond.notify_all()
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt and the like stop the leading thread too


def _own_copy(e: BaseException) -> BaseException:
    """A copy of `e` for one caller: same type, arguments and attributes (so the Session's NodeError
    reads the same), caused by `e`, whose traceback shows where `run_batch` failed."""
    for make in (copy.copy, _bare_copy):
        try:
            new = make(e)
            if type(new) is type(e) and str(new) == str(e):
                new.__cause__ = e
                return new
        except Exception:
            pass
    return e  # cannot be copied faithfully: shared rather than changed


def _bare_copy(e: BaseException) -> BaseException:
    """For an exception whose __init__ does not take its own args (what copy.copy calls it with)."""
    new = BaseException.__new__(type(e), *e.args)
    new.__dict__.update(getattr(e, "__dict__", {}))
    return new
