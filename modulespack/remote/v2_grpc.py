"""Open Inference Protocol (V2) over gRPC, with tritonclient.grpc.

One client (one gRPC channel, one HTTP/2 connection multiplexing every call) per endpoint, shared
by all threads: gRPC channels are thread-safe and tritonclient's unary calls are too (its
docstring excepts only streams). Tensors travel as raw bytes (`raw_input_contents`), as
tritonclient sends them.

gRPC reconnects a broken channel by itself, but with a back-off that grows to minutes; the
channel's back-off is capped at a second here, and `reset()` (an endpoint coming back) makes a
fresh channel so the first request after a probe does not wait for it.
"""
from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .endpoints import MAYBE_SENT, NOT_SENT, REFUSED, REJECTED, SERVER, TIMEOUT, Failure
from .v2_http import v2_inputs, v2_metadata

_CHANNEL_ARGS = [
    ("grpc.max_send_message_length", 2**31 - 1),
    ("grpc.max_receive_message_length", 2**31 - 1),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]
# details gRPC gives when no connection could be made: the request never left
_NOT_CONNECTED = ("failed to connect", "connection refused", "connect failed", "dns resolution failed",
                  "name resolution", "no route to host")
# the server's answer about the request itself
_REJECTED = ("INVALID_ARGUMENT", "NOT_FOUND", "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNIMPLEMENTED",
             "UNAUTHENTICATED", "PERMISSION_DENIED", "ALREADY_EXISTS")


def grpc_failure(e: BaseException, timeout: float) -> Failure | None:
    from tritonclient.utils import InferenceServerException
    if not isinstance(e, InferenceServerException):
        return None
    code = (e.status() or "").replace("StatusCode.", "")
    msg = f"gRPC {code}: {e.message()}" if code else str(e.message())
    if code == "DEADLINE_EXCEEDED":
        return Failure(TIMEOUT, f"no answer within {timeout:g} s")
    if code == "UNAVAILABLE":
        said = f"{e.message()} {e.debug_details() or ''}".lower()
        return Failure(NOT_SENT if any(s in said for s in _NOT_CONNECTED) else REFUSED
                       if "not ready" in said else MAYBE_SENT, msg)
    if code in _REJECTED or not code:
        return Failure(REJECTED, msg)
    return Failure(SERVER, msg)


class V2GrpcTransport:
    """One V2 gRPC endpoint: one tritonclient.grpc client (channel) shared by every thread."""

    def __init__(self, address: str, timeout: float, headers: dict[str, str] | None = None):
        self.address = address
        self.timeout = timeout
        # gRPC metadata keys are lower case (HTTP/2); "Authorization" would be refused before sending
        self.headers = {k.lower(): v for k, v in headers.items()} if headers else None
        self._lock = threading.Lock()
        self._client: Any = None
        self._closed = False

    def _get(self) -> Any:
        import tritonclient.grpc as tg
        with self._lock:
            if self._closed:
                raise Failure(NOT_SENT, "the node is closed")
            if self._client is None:
                self._client = tg.InferenceServerClient(self.address, channel_args=_CHANNEL_ARGS)
            return self._client

    def _call(self, fn: Any) -> Any:
        try:
            return fn(self._get())
        except Failure:
            raise
        except Exception as e:
            f = grpc_failure(e, self.timeout)
            if f is None:
                raise
            raise f from None

    def ready(self, model: str, version: str) -> bool:
        return self._call(lambda c: c.is_model_ready(model, version, headers=self.headers,
                                                     client_timeout=self.timeout))

    def metadata(self, model: str, version: str) -> dict:
        return v2_metadata(self._call(lambda c: c.get_model_metadata(
            model, version, headers=self.headers, as_json=True, client_timeout=self.timeout)))

    def infer(self, model: str, version: str, inputs: dict[str, tuple[np.ndarray, str]],
              outputs: list[str]) -> dict[str, np.ndarray]:
        import tritonclient.grpc as tg
        ins = v2_inputs(tg, inputs, None)
        outs = [tg.InferRequestedOutput(n) for n in outputs]
        res = self._call(lambda c: c.infer(model, ins, model_version=version, outputs=outs, headers=self.headers,
                                           client_timeout=self.timeout))
        return {n: res.as_numpy(n) for n in outputs}

    def reset(self) -> None:
        with self._lock:
            old, self._client = self._client, None
        if old is not None:
            old.close()  # calls in flight on it finish or fail; new ones take the new channel

    def close(self) -> None:
        with self._lock:
            self._closed = True
            old, self._client = self._client, None
        if old is not None:
            old.close()
