"""Dynamic batching: concurrent runs of one node grouped into one `run_batch` call.

A model that takes 10 ms for one input often takes 15 ms for eight: when many requests are in
flight at once, running them together multiplies throughput. The Session puts a `Batcher` in front
of each node whose graph-file entry has `batch: {max_size, max_wait_s}`, so every engine that runs
a Session (threads, worker processes, Ray actors) batches alike.

No thread of its own: the first caller of a batch leads it. It waits until `max_size` callers have
joined or `max_wait_s` has passed since it arrived, then runs `run_batch` for all of them on its
own thread (in its own context, so node hooks see it as its node) and hands each caller its item's
outputs. Callers arriving meanwhile form the next batch.

Errors: an exception in an item's slot of what `run_batch` returns (an `InputError` for bad input
values) fails that caller alone; an exception raised by `run_batch` fails every caller of the batch.
Cancellation: a caller whose run is cancelled leaves at once. Before the batch starts its item is
taken out (a leaving leader hands the lead to the next caller); once it has started, its output is
dropped. The batch runs under a token of its own, set when every caller in it has been cancelled,
so a program it started is killed only when nobody wants the results.
"""
from __future__ import annotations

import threading
from collections import deque
from time import monotonic
from typing import Any

from .cancel import CURRENT, CancelToken
from .errors import Cancelled


class _Item:
    __slots__ = ("inputs", "out", "error", "done", "lead", "token")

    def __init__(self, inputs: dict[str, Any], token: CancelToken | None):
        self.inputs = inputs
        self.token = token
        self.out: Any = None
        self.error: BaseException | None = None
        self.done = False   # out or error is set
        self.lead = False   # this caller must run the batch


class _Batch:
    __slots__ = ("items", "deadline", "started", "token", "cond")

    def __init__(self, deadline: float, lock: threading.Lock):
        # one condition per batch over the Batcher's lock: a batch ending wakes its callers only
        self.cond = threading.Condition(lock)
        self.items: list[_Item] = []
        self.deadline = deadline
        self.started = False
        self.token = CancelToken()


class Batcher:
    """Groups concurrent `run(**inputs)` calls on `instance` into `instance.run_batch(items)` calls
    of at most `max_size` items, each waiting at most `max_wait_s` for others to join. Thread-safe.

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
        self.sizes: deque[int] = deque(maxlen=1000)  # sizes of recent batches (tests, benchmarks)

    def run(self, **inputs: Any) -> Any:
        token = CURRENT.get()
        if token is not None and token.is_set():
            raise Cancelled(token.reason)
        item = _Item(inputs, token)
        with self._lock:
            batch = self._open
            if batch is None:
                batch = self._open = _Batch(monotonic() + self.max_wait_s, self._lock)
                item.lead = True
            batch.items.append(item)
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
                    left = batch.deadline - monotonic()
                    if left <= 0 or len(batch.items) >= self.max_size:
                        self._start(batch)
                        break
                    cond.wait(left)
                else:
                    cond.wait()
        if not item.done:  # this caller leads: run the batch here
            self._run(batch)
        if item.error is not None:
            raise item.error
        return item.out

    def _leave(self, batch: _Batch, item: _Item) -> None:
        """A cancelled caller goes (under the lock); its batch goes on without it."""
        if batch.started:
            return  # its output will be dropped
        batch.items.remove(item)
        if item.lead:
            item.lead = False
            if batch.items:
                batch.items[0].lead = True
                batch.cond.notify_all()
            elif self._open is batch:
                self._open = None

    def _start(self, batch: _Batch) -> None:
        if self._open is batch:
            self._open = None
        batch.started = True
        self.sizes.append(len(batch.items))

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
        with self._lock:
            for k, i in enumerate(items):
                if error is not None:
                    i.error = error
                elif isinstance(outs[k], BaseException):
                    i.error = outs[k]
                else:
                    i.out = outs[k]
                i.done = True
            batch.cond.notify_all()
        if error is not None and not isinstance(error, Exception):
            raise error  # KeyboardInterrupt and the like stop the leading thread too
