"""The endpoints of one remote node: a pooled client each, balancing, health, taking a failing
endpoint out and probing it again later, and which failed requests go to another endpoint.

What is retried when (on another endpoint, each endpoint at most once per request):
- the server never received the request (connection refused or reset before sending, unknown
  host, a connect time-out) or said it could not take it (HTTP 503, gRPC UNAVAILABLE before a
  connection was made): always, for any model; the endpoint is taken out;
- the server may have received it (the connection broke after sending, no answer within
  `timeout`, an HTTP 5xx other than 503, any other gRPC error but the client's): only when the
  graph file says `idempotent: true` (a broken connection also takes the endpoint out);
- the server refused the request itself (HTTP 4xx, gRPC INVALID_ARGUMENT / NOT_FOUND...): never.
`retries` caps how many times a request the server may have run is sent again (idempotent
models only; default: once to each other endpoint); requests never received always move on.

An endpoint taken out is skipped until its probe time (0.25 s after failing, doubling to 4 s),
when its ready route is asked (by a background thread the next request starts, or by that request
itself when no other endpoint is up) and, if ready, it drops its old connections and takes
requests again: the node recovers without a restart. When every endpoint is out and none is due
for a probe, a request fails at once with `Unavailable` (503, Retry-After: the next probe).
"""
from __future__ import annotations

import itertools
import random
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from ..core.errors import Unavailable

NOT_SENT = "not-sent"        # the server did not receive the request
REFUSED = "refused"          # it answered that it cannot take requests now (503)
MAYBE_SENT = "maybe-sent"    # the connection broke after sending: it may have run
TIMEOUT = "timeout"          # no answer within the time-out: it may have run
SERVER = "server"            # it answered with a fault of its own (5xx)
REJECTED = "rejected"        # it refused the request itself (4xx): no other endpoint would differ

PROBE_FIRST_S = 0.25
PROBE_MAX_S = 4.0


class Failure(Exception):
    """A transport's failed call, classified for the retry rules above."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


class Transport(Protocol):
    """One endpoint's pooled client, for one protocol; safe to call from many threads."""

    address: str

    def ready(self, model: str, version: str) -> bool: ...
    def metadata(self, model: str, version: str) -> dict[str, dict[str, tuple[str, list[int]]]]: ...
    def infer(self, model: str, version: str, inputs: dict[str, Any], outputs: list[str]) -> dict[str, Any]: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


class Endpoint:
    __slots__ = ("address", "backoff", "down_since", "last_error", "next_probe", "outstanding", "transport")

    def __init__(self, transport: Transport):
        self.address = transport.address
        self.transport = transport
        self.outstanding = 0
        self.down_since: float | None = None
        self.next_probe = 0.0
        self.backoff = PROBE_FIRST_S
        self.last_error = ""


class Endpoints:
    """A node's endpoints; `call(fn)` runs `fn(transport)` on one, by the rules above. Thread-safe."""

    def __init__(self, transports: list[Transport], model: str, version: str, balance: str = "round_robin",
                 retries: int | None = None, idempotent: bool = False):
        self.eps = [Endpoint(t) for t in transports]
        self.model, self.version = model, version
        self.balance = balance
        self.retries = len(self.eps) - 1 if retries is None else retries  # re-sends of a maybe-run request
        self.idempotent = idempotent
        self._lock = threading.Lock()
        self._rr = itertools.count()

    # -- health ----------------------------------------------------------------------------
    def mark_down(self, ep: Endpoint, why: str) -> None:
        with self._lock:
            now = time.monotonic()
            if ep.down_since is None:
                ep.down_since, ep.backoff = now, PROBE_FIRST_S
            else:
                ep.backoff = min(ep.backoff * 2, PROBE_MAX_S)
            ep.next_probe = now + ep.backoff
            ep.last_error = why

    def _mark_up(self, ep: Endpoint) -> None:
        with self._lock:
            ep.down_since, ep.last_error, ep.backoff = None, "", PROBE_FIRST_S

    def probe(self, ep: Endpoint) -> bool:
        """Ask an endpoint's ready route; bring it back (with fresh connections) when ready."""
        try:
            ok = ep.transport.ready(self.model, self.version)
            why = "" if ok else f"model '{self.model}' not ready"
        except Failure as e:
            ok, why = False, str(e)
        if ok:
            ep.transport.reset()  # connections from before it went away are stale
            self._mark_up(ep)
        else:
            self.mark_down(ep, why)
        return ok

    def _probe_due_in_background(self) -> None:
        """Probe, off the request's thread, any endpoint out whose probe time has come: requests
        keep going to the others meanwhile, and it rejoins when ready."""
        now = time.monotonic()
        if not any(e.down_since is not None and e.next_probe <= now for e in self.eps):
            return  # the common case, without the lock
        with self._lock:
            due = [e for e in self.eps if e.down_since is not None and e.next_probe <= now]
            for e in due:
                e.next_probe = now + e.backoff  # claimed: one probe per endpoint at a time
        for e in due:
            threading.Thread(target=self.probe, args=(e,), name=f"probe {e.address}", daemon=True).start()

    def check_all(self) -> list[Endpoint]:
        """Probe every endpoint (at start-up); the ready ones."""
        return [ep for ep in self.eps if self.probe(ep)]

    # -- choosing ----------------------------------------------------------------------------
    def _choose(self, tried: list[Endpoint]) -> tuple[Endpoint | None, bool]:
        """(endpoint, needs a probe first): an up endpoint not tried yet by the balancing rule,
        else a down one whose probe is due (claimed, so one request probes it, not all)."""
        with self._lock:
            up = [e for e in self.eps if e.down_since is None and e not in tried]
            if up:
                if len(up) == 1 or self.balance == "round_robin":
                    return up[next(self._rr) % len(up)], False
                if self.balance == "random":
                    return random.choice(up), False
                least = min(e.outstanding for e in up)
                best = [e for e in up if e.outstanding == least]
                return best[next(self._rr) % len(best)], False
            now = time.monotonic()
            due = [e for e in self.eps if e not in tried and e.next_probe <= now]
            if not due:
                return None, False
            ep = min(due, key=lambda e: e.next_probe)
            ep.next_probe = now + ep.backoff  # others skip it while this request probes
            return ep, True

    def retry_after(self) -> float:
        now = time.monotonic()
        return max(0.1, min((e.next_probe - now for e in self.eps if e.down_since is not None), default=1.0))

    # -- calling ---------------------------------------------------------------------------------
    def call(self, fn: Callable[[Transport], Any], node: str, cancelled: Callable[[], None] = lambda: None) -> Any:
        """`fn(transport)` on one endpoint, retried on others by the rules above.

        Raises `Unavailable` when no endpoint could take the request, `TimeoutError` naming the
        endpoint on a time-out that is not retried, RuntimeError for other answered failures."""
        tried: list[Endpoint] = []
        errors: list[str] = []
        resent = 0
        if any(e.down_since is None for e in self.eps):
            self._probe_due_in_background()
        while True:
            cancelled()
            ep, probe = self._choose(tried)
            if ep is None:
                break
            tried.append(ep)
            if probe and not self.probe(ep):
                errors.append(f"{ep.address} (down: {ep.last_error})")
                continue
            with self._lock:
                ep.outstanding += 1
            try:
                return fn(ep.transport)
            except Failure as f:
                errors.append(f"{ep.address} ({f})")
                if f.kind in (NOT_SENT, REFUSED, MAYBE_SENT):
                    self.mark_down(ep, str(f))
                if f.kind in (NOT_SENT, REFUSED):
                    continue
                if self.idempotent and f.kind != REJECTED and resent < self.retries:
                    resent += 1
                    continue
                if f.kind == TIMEOUT:
                    raise TimeoutError(f"{node}: {ep.address} did not answer within the time-out: {f}") from None
                if f.kind == REJECTED:
                    raise RuntimeError(f"{node}: {ep.address}: {f}") from None
                why = f"sent {resent + 1} times" if self.idempotent else "not retried: the model is not marked idempotent"
                raise RuntimeError(f"{node}: {ep.address}: {f} ({why})") from None
            finally:
                with self._lock:
                    ep.outstanding -= 1
        msg = f"{node}: no endpoint could take the request: " + "; ".join(
            errors + [f"{e.address} (down: {e.last_error or 'not ready'})" for e in self.eps if e not in tried])
        raise Unavailable(msg, self.retry_after())

    def close(self) -> None:
        for ep in self.eps:
            ep.transport.close()
