"""Open Inference Protocol (V2) over HTTP, with tritonclient.http.

tritonclient's HTTP client runs on gevent: its sockets belong to the thread that made them and
"none of the methods are thread safe" (its docstring; sharing one across threads hangs, measured).
So each thread that calls an endpoint gets its own client, kept for the thread's life: a Session's
pool threads reuse their keep-alive connection run after run, and no two threads share a socket.

Tensors go as JSON by default, which every V2 server parses (MLServer 1.7.1 reads no binary
extension); `binary_data: true` sends and asks for raw little-endian bytes (Triton, modulespack
serve), much cheaper for long float vectors.
"""
from __future__ import annotations

import socket
import threading
from typing import Any

import numpy as np

from .endpoints import MAYBE_SENT, NOT_SENT, REFUSED, REJECTED, SERVER, TIMEOUT, Failure


def v2_metadata(meta: dict) -> dict[str, dict[str, tuple[str, list[int]]]]:
    """{"inputs"|"outputs": {tensor: (datatype, shape)}} from a V2 model-metadata answer (gRPC's
    JSON writes int64 sizes as strings)."""
    return {side: {t["name"]: (t.get("datatype", ""), [int(d) for d in t.get("shape", [])])
                   for t in meta.get(side, [])} for side in ("inputs", "outputs")}


def v2_inputs(mod: Any, inputs: dict[str, tuple[np.ndarray, str]], binary: bool | None) -> list:
    """tritonclient InferInputs (of `mod`, http or grpc) from {tensor: (array, V2 datatype)}."""
    out = []
    for name, (arr, datatype) in inputs.items():
        i = mod.InferInput(name, list(arr.shape), datatype)
        if binary is None:
            i.set_data_from_numpy(arr)
        else:
            i.set_data_from_numpy(arr, binary_data=binary)
        out.append(i)
    return out


def http_failure(e: BaseException, address: str, timeout: float) -> Failure | None:
    """The retry class of what tritonclient.http / geventhttpclient raised, or None if not a call failure."""
    from geventhttpclient.response import HTTPParseError  # also HTTPConnectionClosed, its subclass
    from tritonclient.utils import InferenceServerException
    if isinstance(e, InferenceServerException):
        status = e.status() or ""
        msg = f"HTTP {status}: {e.message()}" if status else str(e.message())
        if status == "503":
            return Failure(REFUSED, msg)
        if status.startswith("5"):
            return Failure(SERVER, msg)
        return Failure(REJECTED, msg)
    if isinstance(e, (TimeoutError, socket.timeout)):
        if _while_connecting(e):  # e.g. a host that drops SYNs: nothing was sent, and it is down
            return Failure(NOT_SENT, f"cannot connect within {timeout:g} s")
        return Failure(TIMEOUT, f"no answer within {timeout:g} s")
    if isinstance(e, (ConnectionRefusedError, socket.gaierror)):
        return Failure(NOT_SENT, f"cannot connect: {e.strerror or e}")
    if isinstance(e, (HTTPParseError, ConnectionError)):  # e.g. "Incomplete response": killed mid-answer
        return Failure(MAYBE_SENT, f"connection lost: {e}")
    if isinstance(e, OSError):
        return Failure(NOT_SENT, f"cannot connect: {e}")
    return None


def _while_connecting(e: BaseException) -> bool:
    """Did `e` come from geventhttpclient getting a connection (before any byte of the request was
    sent)? Its connect and read time-outs are the same exception; only where it was raised differs."""
    tb = e.__traceback__
    while tb is not None:
        f = tb.tb_frame
        if f.f_code.co_name == "get_socket" and f.f_globals.get("__name__") == "geventhttpclient.connectionpool":
            return True
        tb = tb.tb_next
    return False


class V2HttpTransport:
    """One V2 HTTP endpoint: a tritonclient.http client per calling thread (see the module doc)."""

    def __init__(self, address: str, timeout: float, headers: dict[str, str] | None = None,
                 binary: bool = False):
        self.address = address
        self.timeout = timeout
        self.headers = headers or None
        self.binary = binary
        self._local = threading.local()
        self._generation = 0       # bumped by reset(): threads drop clients made before it
        self._clients: list[tuple[threading.Thread, Any]] = []  # (thread using it, client)
        self._lock = threading.Lock()
        self._closed = False

    def _client(self) -> Any:
        import tritonclient.http as th
        mine = getattr(self._local, "client", None)
        if mine is not None and self._local.generation == self._generation:
            return mine
        if mine is not None:
            self._drop(mine)
        if self._closed:
            raise Failure(NOT_SENT, "the node is closed")
        c = th.InferenceServerClient(self.address, connection_timeout=self.timeout, network_timeout=self.timeout)
        self._local.client, self._local.generation = c, self._generation
        with self._lock:
            # a thread that ended leaves its client: close those, so threads that come and go
            # do not pile up connections
            gone = [x for t, x in self._clients if not t.is_alive()]
            self._clients = [(t, x) for t, x in self._clients if t.is_alive()]
            self._clients.append((threading.current_thread(), c))
        for x in gone:
            _close(x)
        return c

    def _drop(self, c: Any) -> None:
        with self._lock:
            self._clients = [(t, x) for t, x in self._clients if x is not c]
        _close(c)

    def _call(self, fn: Any) -> Any:
        try:
            return fn(self._client())
        except Failure:
            raise
        except Exception as e:
            f = http_failure(e, self.address, self.timeout)
            if f is None:
                raise
            if f.kind in (MAYBE_SENT, TIMEOUT):  # the connection's state is unknown: start afresh
                self._drop(self._local.client)
                self._local.client = None
            raise f from None

    def ready(self, model: str, version: str) -> bool:
        if self._call(lambda c: c.is_model_ready(model, version, headers=self.headers)):
            return True
        # tritonclient reads only the ready route's status: the metadata route says why (a wrong
        # API key, an unknown model) as a Failure naming it
        self._call(lambda c: c.get_model_metadata(model, version, headers=self.headers))
        return False

    def metadata(self, model: str, version: str) -> dict:
        return v2_metadata(self._call(lambda c: c.get_model_metadata(model, version, headers=self.headers)))

    def infer(self, model: str, version: str, inputs: dict[str, tuple[np.ndarray, str]],
              outputs: list[str]) -> dict[str, np.ndarray]:
        import tritonclient.http as th
        ins = v2_inputs(th, inputs, self.binary)
        outs = [th.InferRequestedOutput(n, binary_data=self.binary) for n in outputs]
        res = self._call(lambda c: c.infer(model, ins, model_version=version, outputs=outs, headers=self.headers))
        return {n: res.as_numpy(n) for n in outputs}

    def reset(self) -> None:
        # other threads' clients are closed by those threads when they next call (gevent sockets
        # belong to their thread); only the generation moves here
        self._generation += 1

    def close(self) -> None:
        self._closed = True
        with self._lock:
            clients, self._clients = self._clients, []
        for _, c in clients:
            _close(c)


def _close(client: Any) -> None:
    try:
        client.close()
    except Exception:  # a client of a thread that ended: its sockets go with the garbage
        pass
