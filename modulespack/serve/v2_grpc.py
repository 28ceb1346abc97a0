"""The Open Inference Protocol (V2) over gRPC: `modulespack serve --grpc-port N` serves the protocol's
`inference.GRPCInferenceService` (ServerLive, ServerReady, ServerMetadata, ModelReady,
ModelMetadata, ModelInfer) with the generated stubs tritonclient ships (no hand-written protobufs),
on grpc.aio on the app's event loop: started and stopped with the app's lifespan, runs through the
app's dispatcher as over HTTP (`v2_infer`).

Tensors come as `raw_input_contents` (tritonclient's way) or typed `contents`; outputs are answered
in `raw_output_contents`, as Triton does. API keys as over HTTP, from the call's metadata
(`authorization: Bearer <key>` or `x-api-key`); ServerLive and ServerReady need none. Errors are
status codes with the message: INVALID_ARGUMENT (the client's input), UNAUTHENTICATED, NOT_FOUND
(unknown model), RESOURCE_EXHAUSTED (too large), UNAVAILABLE (not ready; `retry-after` in the
trailing metadata), DEADLINE_EXCEEDED (timed out), INTERNAL.
"""
from __future__ import annotations

import errno
import logging
import math
from types import SimpleNamespace
from typing import Any

import numpy as np

from .errors import ServeError
from .v2_infer import V2Models
from .v2_metadata import MODEL_VERSION, NUMPY_OF, server_metadata
from .v2_tensors import (
    Tensor,
    TensorError,
    check_datatype,
    check_shape,
    from_raw,
    to_raw,
)

log = logging.getLogger("modulespack.serve")

STOP_GRACE_S = 2.0   # calls in progress at shutdown get this long, then are cancelled (their runs too)
MESSAGE_SLACK = 1 << 16  # protobuf framing beyond the upload limit's tensor bytes
# the HTTP status of a ServeError -> the gRPC status code (others: INTERNAL)
CODES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 413: "RESOURCE_EXHAUSTED",
         415: "INVALID_ARGUMENT", 422: "INVALID_ARGUMENT", 499: "CANCELLED", 501: "UNIMPLEMENTED",
         503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}
CONTENTS = {"BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
            "INT64": "int64_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
            "UINT32": "uint_contents", "UINT64": "uint64_contents", "FP32": "fp32_contents",
            "FP64": "fp64_contents", "BYTES": "bytes_contents"}


def check_address(address: str) -> str:
    """`address` if it is HOST:PORT ([v6]:PORT) with a port number; ValueError otherwise."""
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"gRPC address {address!r}: HOST:PORT, e.g. 127.0.0.1:8001")
    return address


def from_contents(name: str, datatype: str, shape: list[int], contents: Any) -> Tensor:
    """A tensor from the typed `contents` of a gRPC input (FP16 has none: raw contents only)."""
    field = CONTENTS.get(datatype)
    if field is None:
        raise TensorError(f"input '{name}': {datatype} data go in raw_input_contents")
    values = list(getattr(contents, field))
    n = math.prod(shape)  # Python's ints: numpy's would wrap round on a huge shape
    if len(values) != n:
        raise TensorError(f"input '{name}': shape {shape} holds {n} elements, but its {field} has {len(values)}")
    if datatype == "BYTES":
        arr = np.empty(n, dtype=object)
        arr[:] = values
        return Tensor(name, datatype, shape, arr.reshape(shape))
    wide = np.asarray(values) if values else np.empty(0, dtype=NUMPY_OF[datatype])
    arr = wide.astype(NUMPY_OF[datatype])
    if arr.dtype.kind in "iu" and arr.size and not np.array_equal(arr, wide):  # int_contents carry INT8/16 in 32 bits
        raise TensorError(f"input '{name}': a value is out of range for {datatype}")
    return Tensor(name, datatype, shape, arr.reshape(shape))


def _import():
    try:
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc
    except ImportError as e:
        raise ValueError(f"the gRPC front door needs grpcio and tritonclient[grpc] (pip install "
                         f"'modulespack[remote]'): {e}") from None
    return grpc, service_pb2, service_pb2_grpc


class GrpcDoor:
    """The V2 gRPC server of one app (`state`: its ServeState), listening on `address` once started."""

    def __init__(self, state: Any, address: str):
        self.address = check_address(address)
        self.grpc, self.pb, self.pb_grpc = _import()
        self.state = state
        self.models = V2Models(state)
        self._server: Any = None

    async def start(self) -> None:
        limit = self.state.max_upload_bytes + MESSAGE_SLACK
        # no SO_REUSEPORT (grpc's default): a port another server holds is an error, not shared
        server = self.grpc.aio.server(options=[("grpc.max_receive_message_length", limit),
                                               ("grpc.max_send_message_length", -1), ("grpc.so_reuseport", 0)])
        self.pb_grpc.add_GRPCInferenceServiceServicer_to_server(_servicer(self), server)
        try:
            server.add_insecure_port(self.address)
        except RuntimeError as e:
            raise OSError(errno.EADDRINUSE, f"--grpc-port: cannot listen on {self.address}: {e}") from None
        await server.start()
        self._server = server
        log.info("V2 gRPC on %s", self.address)

    def check_can_listen(self) -> None:
        """OSError naming the address if it cannot be listened on now (taken, or not this machine's):
        the CLI asks before it starts the engines, rather than fail after them."""
        import socket
        host, _, port = self.address.rpartition(":")
        try:
            family, kind, proto, _, addr = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM,
                                                              flags=socket.AI_PASSIVE)[0]
            with socket.socket(family, kind, proto) as s:
                s.bind(addr)
        except OSError as e:
            raise OSError(e.errno, f"--grpc-port: cannot listen on {self.address}: {e.strerror or e}") from None

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop(STOP_GRACE_S)

    async def fail(self, context: Any, err: ServeError) -> None:
        """End the call with the status code of `err` (raises)."""
        code = getattr(self.grpc.StatusCode, CODES.get(err.status, "INTERNAL"))
        retry = err.headers.get("Retry-After")
        await context.abort(code, err.message, trailing_metadata=(("retry-after", retry),) if retry else ())

    async def check_key(self, context: Any) -> None:
        md = {k.lower(): v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
        if not self.state.keys.valid(SimpleNamespace(headers=md)):  # read as the HTTP headers are
            await self.fail(context, ServeError(401, "an API key is needed: send the metadata "
                                                     "authorization: Bearer <key>, or x-api-key"))


def _servicer(door: GrpcDoor) -> Any:
    pb, models = door.pb, door.models

    class Servicer(door.pb_grpc.GRPCInferenceServiceServicer):
        async def ServerLive(self, request, context):
            return pb.ServerLiveResponse(live=True)

        async def ServerReady(self, request, context):
            return pb.ServerReadyResponse(ready=models.server_ready())

        async def ServerMetadata(self, request, context):
            await door.check_key(context)
            m = server_metadata()
            return pb.ServerMetadataResponse(name=m["name"], version=m["version"], extensions=m["extensions"])

        async def ModelReady(self, request, context):
            await door.check_key(context)
            try:
                return pb.ModelReadyResponse(ready=models.model_ready(request.name, request.version))
            except ServeError as err:
                await door.fail(context, err)

        async def ModelMetadata(self, request, context):
            await door.check_key(context)
            try:
                m = models.metadata(request.name, request.version)
            except ServeError as err:
                await door.fail(context, err)
            tm = pb.ModelMetadataResponse.TensorMetadata
            return pb.ModelMetadataResponse(name=m["name"], versions=m["versions"], platform=m["platform"],
                                            inputs=[tm(**t) for t in m["inputs"]],
                                            outputs=[tm(**t) for t in m["outputs"]])

        async def ModelInfer(self, request, context):
            await door.check_key(context)
            try:
                models.entry(request.model_name, request.model_version)
                outs = await models.infer(request.model_name, request.model_version, _inputs(request),
                                          [o.name for o in request.outputs] or None)
            except ServeError as err:
                await door.fail(context, err)
            except Exception as err:  # a fault of ours: INTERNAL with what it was, not grpc's UNKNOWN
                log.exception("graph %s: unexpected error in a V2 gRPC infer call", request.model_name)
                await door.fail(context, ServeError(500, f"internal error: {type(err).__name__}: {err}"))
            resp = pb.ModelInferResponse(model_name=request.model_name, model_version=MODEL_VERSION, id=request.id)
            for t in outs:
                resp.outputs.add(name=t.name, datatype=t.datatype, shape=t.shape)
                resp.raw_output_contents.append(to_raw(t.datatype, t.array))
            return resp

    return Servicer()


def _inputs(request: Any) -> list[Tensor]:
    raw = request.raw_input_contents
    try:
        if raw and len(raw) != len(request.inputs):
            raise TensorError(f"{len(request.inputs)} inputs but {len(raw)} raw_input_contents: give every input "
                              f"its raw contents, or none")
        out = []
        for i, t in enumerate(request.inputs):
            datatype, shape = check_datatype(t.name, t.datatype), check_shape(t.name, list(t.shape))
            out.append(from_raw(t.name, datatype, shape, raw[i]) if raw else
                       from_contents(t.name, datatype, shape, t.contents))
        return out
    except TensorError as err:
        raise ServeError(400, str(err), kind="input") from None
