"""The Open Inference Protocol (V2, KServe's and Triton's) over HTTP: every served graph is a model.

- ``GET /v2``: server metadata; ``GET /v2/health/live``, ``GET /v2/health/ready`` (200
  ``{"live": true}`` / ``{"ready": true}``, 503 ``{"ready": false}`` while graphs warm up);
- ``GET /v2/models/{graph}[/versions/1]``: the model's inputs and outputs (`v2_metadata`);
  ``GET /v2/models/{graph}[/versions/1]/ready``: 200 or 503 ``{"name", "ready"}``;
- ``POST /v2/models/{graph}[/versions/1]/infer``: a run, with JSON tensors or the binary tensor data
  extension (`v2_tensors`); a gzip or deflate body (``Content-Encoding``) is accepted.

Errors are the protocol's ``{"error": "..."}``: 400 for the client's input (a wrong datatype, a shape
that does not match the data, an unknown or missing input: what the native route answers 422 is
400 here), 401 without a valid key, 404 for an unknown model, 413 too large, 503 not ready (with
``Retry-After``), 504 timed out. API keys as on the native routes (``Authorization: Bearer`` or
``X-API-Key``); the health routes need none, as /healthz and /readyz.
"""
from __future__ import annotations

import logging
import zlib
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from .body import read_body
from .errors import ServeError, error_response
from .run import OFFLOAD_BYTES, maybe_offloaded, watched
from .state import ServeState
from .v2_infer import V2Models, status_of
from .v2_messages import HEADER_LENGTH, read_request, requested_outputs, write_response
from .v2_metadata import MODEL_VERSION, server_metadata
from .v2_tensors import TensorError

TAG = "Open Inference Protocol (V2)"
log = logging.getLogger("modulespack.serve")


def v2_error(err: ServeError) -> Response:
    return error_response(status_of(err), {"error": err.message}, err.headers)


def _json(body: dict, status: int = 200) -> Response:
    return error_response(status, body)


def _decompress(data: bytes, encoding: str | None, limit: int) -> bytes:
    """A request body as sent with Content-Encoding gzip or deflate (tritonclient's
    `request_compression_algorithm`), inflated within the upload limit."""
    enc = (encoding or "identity").strip().lower()
    if enc == "identity":
        return data
    if enc not in ("gzip", "deflate"):
        raise ServeError(415, f"Content-Encoding {encoding!r}: gzip, deflate or none")
    d = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib, by the header
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as err:
        raise ServeError(400, f"the {enc} body does not inflate: {err}") from None
    if len(out) > limit:
        raise ServeError(413, f"the inflated body exceeds the limit of {limit / 2**20:g} MB", kind="too-large")
    if not d.eof:
        raise ServeError(400, f"the {enc} body is truncated")
    return out


def add_v2_routes(app: FastAPI, state: ServeState) -> V2Models:
    """The V2 routes over `state`'s graphs; returns the models they serve."""
    from .snippets import register
    from .v2_snippets import tritonclient_http
    register(tritonclient_http)  # the demo page's tritonclient call of each graph
    models = V2Models(state)

    def check_key(request: Request) -> None:
        if not state.keys.valid(request):
            raise ServeError(401, "an API key is needed: send Authorization: Bearer <key> or X-API-Key",
                             headers={"WWW-Authenticate": 'Bearer realm="modulespack"'})

    async def server(request: Request) -> Response:
        try:
            check_key(request)
        except ServeError as err:
            return v2_error(err)
        return _json(server_metadata())

    async def live() -> Response:
        return _json({"live": True})

    async def ready() -> Response:
        ok = models.server_ready()
        return _json({"ready": ok}, 200 if ok else 503)

    async def metadata(request: Request, model: str, version: str | None = None) -> Response:
        try:
            check_key(request)
            return _json(models.metadata(model, version))
        except ServeError as err:
            return v2_error(err)

    async def model_ready(request: Request, model: str, version: str | None = None) -> Response:
        try:
            check_key(request)
            ok = models.model_ready(model, version)
        except ServeError as err:
            return v2_error(err)
        return _json({"name": model, "ready": ok}, 200 if ok else 503)

    async def infer(request: Request, model: str, version: str | None = None) -> Response:
        try:
            check_key(request)
            e = models.entry(model, version)
            limit = state.max_upload_bytes
            data = _decompress(await read_body(request, limit), request.headers.get("content-encoding"), limit)
            try:
                req, tensors = await maybe_offloaded(len(data) > OFFLOAD_BYTES, read_request, data,
                                                      request.headers.get(HEADER_LENGTH))
                names, binary = requested_outputs(req)
            except TensorError as err:
                raise ServeError(400, str(err), kind="input") from None
            del data
            outs = await models.infer(model, version, tensors, names, wait=watched(request, e))
            head: dict[str, Any] = {"model_name": model, "model_version": MODEL_VERSION}
            if isinstance(req.get("id"), str) and req["id"]:
                head["id"] = req["id"]
            big = sum(t.array.nbytes for t in outs if t.array.dtype != object) > OFFLOAD_BYTES
            body, json_length = await maybe_offloaded(big, write_response, head, outs, binary)
        except ServeError as err:
            return v2_error(err)
        except Exception as err:  # a fault of ours: still the protocol's shape
            log.exception("graph %s: unexpected error in a V2 infer request", model)
            return error_response(500, {"error": f"internal error: {type(err).__name__}: {err}"})
        if json_length is None:
            return Response(body, media_type="application/json")
        return Response(body, media_type="application/octet-stream",
                        headers={"Inference-Header-Content-Length": str(json_length)})

    base = "/v2/models/{model}"
    app.add_api_route("/v2", server, methods=["GET"], tags=[TAG], summary="Server metadata")
    app.add_api_route("/v2/health/live", live, methods=["GET"], tags=[TAG], summary="Live (no API key needed)")
    app.add_api_route("/v2/health/ready", ready, methods=["GET"], tags=[TAG],
                      summary="Ready: every graph warmed up (no API key needed)")
    for path in (base, base + "/versions/{version}"):
        app.add_api_route(path, metadata, methods=["GET"], tags=[TAG],
                          summary="A graph's inputs and outputs as tensors")
        app.add_api_route(path + "/ready", model_ready, methods=["GET"], tags=[TAG], summary="A graph is ready")
        app.add_api_route(path + "/infer", infer, methods=["POST"], tags=[TAG],
                          summary="Run a graph (JSON tensors or the binary tensor data extension)")
    return models
