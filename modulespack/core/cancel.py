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

    __slots__ = ("_event", "_lock", "_callbacks", "reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self.reason = ""

    def is_set(self) -> bool:
        return self._event.is_set()

    def cancel(self, reason: str = "cancelled") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            callbacks, self._callbacks = list(self._callbacks.values()), {}
        for fn in callbacks:
            try:
                fn()
            except Exception:  # one failing callback must not keep the others from stopping work
                pass

    def on_cancel(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call `fn` when the token is set; returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                key = id(fn)
                self._callbacks[key] = fn
                return lambda: self._remove(key)
        fn()
        return lambda: None

    def _remove(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def raise_if_set(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason)

    def wait(self, timeout: float | None = None) -> bool:
        return self._event.wait(timeout)


CURRENT: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("modulespack_cancel", default=None)


def current_token() -> CancelToken | None:
    """The token of the run this code is part of (None outside a cancellable run)."""
    return CURRENT.get()
