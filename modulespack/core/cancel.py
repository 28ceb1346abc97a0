"""Cancelling a run: a token the caller sets (time-out, client gone, shutdown), seen by the Session
between nodes and by modules that can stop mid-work (a subprocess they started is killed).

The token of the run in progress is in a context variable, which the Session's pool threads share
(they run in the caller's context), so a module finds it without a parameter of its own.
"""
from __future__ import annotations

import contextvars
import threading
from typing import Callable

from .errors import Cancelled


class CancelToken:
    """Set once, by anyone; callbacks registered with `on_cancel` run when it is set (at once if it
    already is). Thread-safe.

    >>> t = CancelToken(); t.cancel("time-out"); t.is_set()
    True
    """

    # Made for every run, so kept cheap: a flag, not a threading.Event (whose Condition costs more
    # than the rest of a small graph's run); an Event is made only for a caller that waits.
    __slots__ = ("_set", "_event", "_lock", "_callbacks", "reason")

    def __init__(self) -> None:
        self._set = False
        self._event: threading.Event | None = None
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] | None = None
        self.reason = ""

    def is_set(self) -> bool:
        return self._set

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._set:
                return
            self.reason = reason
            self._set = True
            event = self._event
            callbacks = list(self._callbacks.values()) if self._callbacks else ()
            self._callbacks = None
        if event is not None:
            event.set()
        for fn in callbacks:
            try:
                fn()
            except Exception:  # one failing callback must not keep the others from stopping work
                pass

    def on_cancel(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call `fn` when the token is set; returns a function that unregisters it."""
        with self._lock:
            if not self._set:
                if self._callbacks is None:
                    self._callbacks = {}
                key = id(fn)
                self._callbacks[key] = fn
                return lambda: self._remove(key)
        fn()
        return lambda: None

    def _remove(self, key: int) -> None:
        with self._lock:
            if self._callbacks:
                self._callbacks.pop(key, None)

    def raise_if_set(self) -> None:
        if self._set:
            raise Cancelled(self.reason)

    def wait(self, timeout: float | None = None) -> bool:
        with self._lock:
            if self._set:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)


CURRENT: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("modulespack_cancel", default=None)


def current_token() -> CancelToken | None:
    """The token of the run this code is part of (None outside a cancellable run)."""
    return CURRENT.get()
