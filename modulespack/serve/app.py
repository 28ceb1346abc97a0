"""The ASGI app: `create_app(paths, ...)` serves every graph file of the start-up paths.

See the package docstring (`modulespack.serve`) for routes, the audio convention and mounting.
"""
from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from time import perf_counter
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from .. import __version__
from .codecs import dumps, parse_multipart, split_fetch, to_jsonable
from .errors import ServeError, error_response
from .metrics import Metrics
from .registry import GraphEntry, GraphRegistry

log = logging.getLogger("modulespack.serve")

STATIC_DIR = Path(__file__).resolve().parent / "static"
RESERVED_QUERY = {"fetch", "wav_format"}
AUDIO_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "application/octet-stream"}
_MB = 1024 * 1024
OFFLOAD_BYTES = 256 * 1024  # bodies and outputs beyond this are parsed / encoded on a thread
MAX_TIMING_HEADERS = 64  # nodes named in X-Timings / Server-Timing (the slowest, for big graphs)

PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>modulespack</title></head>
<body><h1>modulespack</h1><p>The demo page is not installed. The API: <a href="graphs">graphs</a>,
<a href="docs">docs</a>.</p></body></html>"""


class ServeState:
    """What the routes share: the graphs, limits, keys and metrics."""

    def __init__(self, registry: GraphRegistry, *, api_keys: Iterable[str], max_upload_bytes: int,
                 debug: bool, docs_public: bool):
        self.registry = registry
        self.graphs: dict[str, GraphEntry] = registry.graphs
        self.keys = [k.encode("utf-8") for k in api_keys if k]
        self.max_upload_bytes = max_upload_bytes
        self.debug = debug
        self.docs_public = docs_public
        self.warm_task: asyncio.Future | None = None
        self.metrics = Metrics(self.graphs, {n: e.graph.order for n, e in self.graphs.items()})
        for n, e in self.graphs.items():
            self.metrics.set_ready(n, e.executor, e.executor == "thread")

    def check_key(self, request: Request) -> None:
        if not self.keys:
            return
        key = request.headers.get("x-api-key")
        if key is None:
            auth = request.headers.get("authorization", "")
            if auth[:7].lower() == "bearer ":
                key = auth[7:].strip()
        if key:
            given = key.encode("utf-8")
            ok = False
            for k in self.keys:  # compare with every key: the time does not tell which one matched
                ok |= hmac.compare_digest(given, k)
            if ok:
                return
        raise ServeError(401, "an API key is needed: send the X-API-Key header or Authorization: Bearer <key>"
                         if not key else "the API key is not valid", kind="auth",
                         headers={"WWW-Authenticate": 'Bearer realm="modulespack"'})

    def start_warm_up(self) -> "asyncio.Future[None]":
        """Start the process workers once (a task on the running loop); returns that task."""
        t = self.warm_task
        if t is None or (t.done() and not self.registry.process_ready) or t.get_loop() is not _loop():
            t = self.warm_task = asyncio.ensure_future(_warm(self))
        return t

    def entry(self, name: str) -> GraphEntry:
        e = self.graphs.get(name)
        if e is None:
            raise ServeError(404, f"no graph named '{name}' (graphs: {', '.join(self.graphs) or 'none'})",
                             kind="unknown-graph")
        return e


def create_app(paths: str | os.PathLike | Iterable[str | os.PathLike], *, api_keys: str | Iterable[str] | None = None,
               cors_origins: str | Iterable[str] | None = None, max_upload_mb: float = 20,
               max_audio_seconds: float = 600, timeout_s: float | None = 60, concurrency: int = 4,
               executor: str | Mapping[str, str] = "thread", debug: bool = False, docs_public: bool = True,
               process_workers: int | None = None, session_options: Mapping[str, Any] | None = None,
               title: str = "modulespack") -> FastAPI:
    """The web app serving every graph file in `paths` (folders give their *.yaml, *.yml, *.json).

    Every graph is validated and its Session built here, once; a graph that does not validate
    raises `GraphLoadError` (a core GraphError) listing the problems of every file.

    `api_keys`: keys accepted in `X-API-Key` or `Authorization: Bearer` on every route except
    /healthz, the demo page and its static files (and /docs, /openapi.json while `docs_public`).
    `cors_origins`: origins allowed to call the API from a browser (CORS is off without them).
    `max_upload_mb`: request bodies beyond this get 413. `max_audio_seconds`: longer audio gets 413.
    `timeout_s`: a run taking longer (queueing included) answers 504. `concurrency`: runs at a time
    per graph. `executor`: "thread" (the graph's Session in this process, modules on a thread pool),
    "process" (a pool of `process_workers` processes, each building its own Sessions from the graph
    files: for modules that hold the GIL), or a mapping graph name -> either. `debug`: tracebacks in
    500 answers. `session_options`: passed to every `Session` (e.g. `{"parallel": False}`).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(api_keys, str):
        api_keys = [k.strip() for k in api_keys.split(",")]
    if isinstance(cors_origins, str):
        cors_origins = [cors_origins]
    registry = GraphRegistry(list(paths), executor=executor, concurrency=concurrency, timeout_s=timeout_s,
                             max_audio_seconds=max_audio_seconds, session_options=session_options,
                             process_workers=process_workers, debug=debug)
    state = ServeState(registry, api_keys=api_keys or (), max_upload_bytes=int(max_upload_mb * _MB), debug=debug,
                       docs_public=docs_public)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not registry.process_ready:
            state.start_warm_up()  # worker processes build their Sessions; /readyz says when done
        try:
            yield
        finally:
            warm, state.warm_task = state.warm_task, None
            if warm is not None and not warm.done():
                warm.cancel()
            registry.shutdown_executors()

    app = FastAPI(title=title, version=__version__, lifespan=lifespan, openapi_url=None, docs_url=None,
                  redoc_url=None, description=_api_description(state))
    app.state.modulespack = state

    @app.exception_handler(ServeError)
    async def _serve_error(request: Request, exc: ServeError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return error_response(exc.status_code, {"error": str(exc.detail)}, getattr(exc, "headers", None))

    if cors_origins:
        from starlette.middleware.cors import CORSMiddleware
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type", "Accept"],
                           expose_headers=["X-Timings", "Server-Timing", "X-Sample-Rate"], max_age=600)

    _add_page_routes(app, state)
    _add_api_routes(app, state)
    _add_openapi(app, state, title)
    return app


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()


async def _warm(state: ServeState) -> None:
    reg = state.registry
    ok = await reg.warm_up()
    for n, e in state.graphs.items():
        if e.executor == "process":
            state.metrics.set_ready(n, "process", ok and reg.ready(e))
    if reg.process_error:
        log.error("process workers: %s", reg.process_error)


def _api_description(state: ServeState) -> str:
    names = ", ".join(f"`{n}`" for n in state.graphs) or "none"
    return ("Graphs served: " + names + ". `GET /graphs` lists their inputs and outputs (with a form `kind`); "
            "`POST /graphs/{name}/run` runs one.")


# ============================================================================ page, health, metrics


def _add_page_routes(app: FastAPI, state: ServeState) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html")
        return HTMLResponse(PLACEHOLDER)

    if STATIC_DIR.is_dir():
        from starlette.staticfiles import StaticFiles
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    else:
        @app.get("/static/{path:path}", include_in_schema=False)
        async def no_static(path: str) -> Response:
            raise ServeError(404, "the demo page's files are not installed")

    @app.get("/healthz", tags=["service"], summary="Alive (no API key needed)")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/readyz", tags=["service"], summary="Ready: every graph is built")
    async def readyz(request: Request) -> Response:
        state.check_key(request)
        reg = state.registry
        if not reg.process_ready:
            try:  # nothing started the workers (no lifespan, e.g. mounted): start them now
                await asyncio.wait_for(asyncio.shield(state.start_warm_up()), 0.05)
            except asyncio.TimeoutError:
                pass
        graphs = {n: reg.ready(e) for n, e in state.graphs.items()}
        ready = all(graphs.values())
        body: dict[str, Any] = {"status": "ready" if ready else "starting", "graphs": graphs}
        if reg.process_error:
            body["errors"] = reg.process_error
        return error_response(200 if ready else 503, body)

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics")
    async def metrics(request: Request) -> Response:
        state.check_key(request)
        return Response(state.metrics.render(), media_type=state.metrics.content_type)


# ============================================================================ graphs


def graph_listing(e: GraphEntry) -> dict[str, Any]:
    return {"name": e.name, "description": e.description, "executor": e.executor,
            "inputs": e.form.inputs_info(), "outputs": e.form.outputs_info(),
            "run": f"graphs/{e.name}/run", "diagram": f"graphs/{e.name}/diagram"}


def _add_api_routes(app: FastAPI, state: ServeState) -> None:
    listing_cache: list[bytes] = []

    @app.get("/graphs", tags=["graphs"], summary="The served graphs, with their inputs and outputs",
             description="A list of {name, description, inputs, outputs}; each port has dtype, shape, doc, "
                         "and a `kind` (audio, text, number, integer, boolean, array, any) for building a form. "
                         "An audio input's sample-rate input is filled from the WAV and left out.")
    async def list_graphs(request: Request) -> Response:
        state.check_key(request)
        if not listing_cache:
            listing_cache.append(dumps([graph_listing(e) for e in state.graphs.values()]))
        return Response(listing_cache[0], media_type="application/json")

    @app.get("/graphs/{name}", tags=["graphs"], summary="A graph's spec, as JSON")
    async def get_graph(name: str, request: Request) -> Response:
        state.check_key(request)
        e = state.entry(name)
        spec = to_jsonable(e.graph.spec.to_dict())
        return Response(dumps(spec), media_type="application/json")

    @app.get("/graphs/{name}/diagram", tags=["graphs"], summary="A diagram of the graph (SVG)",
             description="`timings`: a JSON object node -> milliseconds to show in the node labels; "
                         "`format`: svg (default) or dot.")
    async def diagram(name: str, request: Request, timings: str | None = None, format: str = "svg") -> Response:
        state.check_key(request)
        e = state.entry(name)
        return await _diagram(e, timings, format)

    async def run_any(name: str, request: Request) -> Response:
        return await run_graph(state, name, request)

    # one route per graph (a form each in /docs), then the generic one
    from .openapi import graph_models, model_name, run_operation
    used: set[str] = set()
    models: list[Any] = []
    for name, e in state.graphs.items():
        base = model_name(name)
        while base in used:
            base += "_"
        used.add(base)
        m = graph_models(name, e.form, base)
        models += list(m.values())
        if not _url_safe(name):
            continue
        app.add_api_route(f"/graphs/{name}/run", _named_runner(state, name), methods=["POST"],
                          tags=["run"], summary=f"Run {name}", operation_id=f"run_{base}",
                          openapi_extra=run_operation(name, e.form, m))
    app.state.modulespack_models = models
    from .openapi import error_responses
    app.add_api_route("/graphs/{name}/run", run_any, methods=["POST"], tags=["graphs"],
                      summary="Run any graph by name",
                      openapi_extra={"requestBody": {"content": {
                          "application/json": {"schema": {"$ref": "#/components/schemas/GenericRunRequest"}},
                          "multipart/form-data": {"schema": {"type": "object"}}}},
                          "responses": {"200": {"description": "outputs and per-node timings", "content": {
                              "application/json": {"schema": {"$ref": "#/components/schemas/GenericRunResponse"}},
                              "audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
                              **error_responses()}})


def _url_safe(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "._-~" for c in name) and name.isascii()


def _named_runner(state: ServeState, name: str) -> Any:
    async def run_named(request: Request) -> Response:
        return await run_graph(state, name, request)
    run_named.__name__ = f"run_{name}"
    return run_named


async def _diagram(e: GraphEntry, timings: str | None, fmt: str) -> Response:
    if fmt not in ("svg", "dot"):
        raise ServeError(422, f"format: 'svg' or 'dot', not {fmt!r}", port="format")
    ms: dict[str, float] | None = None
    if timings:
        try:
            raw = json.loads(timings)
        except ValueError as err:
            raise ServeError(422, f"timings: invalid JSON ({err})", port="timings") from None
        if not isinstance(raw, dict) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                for v in raw.values()):
            raise ServeError(422, "timings: a JSON object node -> milliseconds", port="timings")
        ms = {str(k): float(v) / 1000.0 for k, v in raw.items()}
    try:
        from ..draw import render, to_dot
    except ImportError as err:
        raise ServeError(501, f"diagrams are not available: {err}") from None
    if fmt == "svg" and ms is None and e.svg is not None:
        return Response(e.svg, media_type="image/svg+xml")
    dot = to_dot(e.graph, timings=ms)
    if fmt == "dot":
        return Response(dot, media_type="text/vnd.graphviz")
    try:
        svg = await asyncio.get_running_loop().run_in_executor(None, render, dot, "svg")
    except Exception as err:  # GraphvizError: `dot` missing or failed
        raise ServeError(503, f"cannot draw the diagram: {err}", graph=e.name) from None
    if ms is None:
        e.svg = svg
    return Response(svg, media_type="image/svg+xml")


# ============================================================================ running


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing (413) beyond `limit` bytes: by Content-Length before reading, and
    by counting while reading (chunked uploads)."""
    cl = request.headers.get("content-length")
    if cl is not None:
        try:
            n = int(cl)
        except ValueError:
            raise ServeError(400, "invalid Content-Length") from None
        if n > limit:
            raise ServeError(413, f"the upload is {n / _MB:.1f} MB; the limit is {limit / _MB:g} MB",
                             limit_mb=limit / _MB, kind="too-large")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ServeError(413, f"the upload exceeds the limit of {limit / _MB:g} MB", limit_mb=limit / _MB,
                             kind="too-large")
        if chunk:
            chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _accepts_audio(accept: str | None) -> tuple[bool, bool]:
    """(audio wanted, JSON acceptable) from an Accept header."""
    if not accept or "audio" not in accept:
        return False, True
    audio_q = json_q = 0.0
    any_q = 0.0
    for item in accept.split(","):
        parts = item.strip().split(";")
        mt = parts[0].strip().lower()
        q = 1.0
        for p in parts[1:]:
            k, _, v = p.strip().partition("=")
            if k.strip() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if mt in ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/*"):
            audio_q = max(audio_q, q)
        elif mt in ("application/json", "application/*"):
            json_q = max(json_q, q)
        elif mt == "*/*":
            any_q = max(any_q, q)
    json_ok = max(json_q, any_q)
    return audio_q > 0 and audio_q >= json_q, json_ok > 0


def parse_inputs(e: GraphEntry, query: list[tuple[str, str]], ctype: str, body: bytes
                 ) -> tuple[dict, dict, dict, tuple[str, ...] | None]:
    """(JSON values, text values, files, fetch) of a run request's query and body."""
    values: dict[str, Any] = {}
    texts: dict[str, str] = {}
    files: dict[str, tuple[bytes, str | None]] = {}
    fetch_parts: list[Any] = []
    for k, v in query:
        if k == "fetch":
            fetch_parts.append(v)
        elif k not in RESERVED_QUERY:
            texts[k] = v
    mt = ctype.split(";", 1)[0].strip().lower()
    inputs = e.form.fields
    if mt == "application/json" or mt.endswith("+json") or (not mt and body.lstrip()[:1] == b"{"):
        try:
            data = json.loads(body)
        except ValueError as err:
            raise ServeError(422, f"invalid JSON body: {err}", kind="input") from None
        if not isinstance(data, dict):
            raise ServeError(422, 'the JSON body is an object: {"inputs": {...}, "fetch": [...]}', kind="input")
        if isinstance(data.get("inputs"), dict) and set(data) <= {"inputs", "fetch"} and "inputs" not in inputs:
            values = data["inputs"]
            if "fetch" in data:
                fetch_parts.append(data["fetch"])
        else:  # a flat object of inputs
            values = dict(data)
            if "fetch" in values and "fetch" not in inputs:
                fetch_parts.append(values.pop("fetch"))
    elif mt == "multipart/form-data":
        fields, files = parse_multipart(body, ctype)
        for k, v in fields:
            if k == "fetch" and "fetch" not in inputs:
                fetch_parts.append(v)
            elif k == "inputs" and "inputs" not in inputs:
                try:
                    extra = json.loads(v)
                except ValueError as err:
                    raise ServeError(422, f"form field 'inputs': invalid JSON ({err})", port="inputs") from None
                if not isinstance(extra, dict):
                    raise ServeError(422, "form field 'inputs' is a JSON object", port="inputs")
                values.update(extra)
            else:
                texts[k] = v
    elif mt == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ServeError(422, "the form is not UTF-8 text") from None
        for k, v in pairs:
            if k == "fetch" and "fetch" not in inputs:
                fetch_parts.append(v)
            else:
                texts[k] = v
    elif mt in AUDIO_TYPES:
        audio = [n for n, f in inputs.items() if f.kind == "audio"]
        if len(audio) != 1:
            raise ServeError(415, f"a {mt} body is the WAV of the graph's one audio input, but graph "
                                  f"'{e.name}' has {len(audio)}; send a multipart form", kind="media")
        files[audio[0]] = (body, None)
    elif body:
        raise ServeError(415, f"unsupported Content-Type {mt or '(none)'}: send application/json, "
                              "multipart/form-data or audio/wav", kind="media")
    return values, texts, files, split_fetch(fetch_parts)


def prepare_run(e: GraphEntry, query: list[tuple[str, str]], ctype: str, body: bytes) -> tuple[dict, Any]:
    """(feeds, output plan) of a run request."""
    values, texts, files, fetch = parse_inputs(e, query, ctype, body)
    feeds = e.form.decode_inputs(values, texts, files)
    return feeds, e.form.output_plan(fetch)


def encode_answer(e: GraphEntry, plan: Any, res: Any, feeds: dict, wav_format: str, audio: bool) -> Any:
    """The JSON body, or (WAV bytes, rate, seconds) of the one audio output."""
    form = e.form
    if audio:
        key = plan.audio_keys[0]
        rate = next(r for k, _kind, r in plan.items if k == key)
        return form.audio_bytes(key, res.outputs[key], form.rate_value(rate, res.outputs, feeds), wav_format)
    outputs = form.encode_outputs(plan, res.outputs, feeds, wav_format)
    return dumps({"outputs": outputs, "timings_ms": {n: round(t * 1000.0, 3) for n, t in res.timings.items()},
                  "seconds": round(res.seconds, 6)})


def _big(outputs: Mapping[str, Any]) -> bool:
    n = 0
    for v in outputs.values():
        nb = getattr(v, "nbytes", None)
        if nb is not None:
            n += nb
        elif isinstance(v, (bytes, str, list)):
            n += len(v)
    return n > OFFLOAD_BYTES


def _timing_headers(timings: Mapping[str, float], seconds: float) -> dict[str, str]:
    ms = {n: round(t * 1000.0, 3) for n, t in timings.items()}
    if len(ms) > MAX_TIMING_HEADERS:  # keep headers small for proxies: the slowest nodes only
        ms = dict(sorted(ms.items(), key=lambda kv: -kv[1])[:MAX_TIMING_HEADERS])
    parts = [f"total;dur={seconds * 1000.0:.3f}"]
    # metric names must be tokens: n0, n1...; the node's name goes in desc (a quoted, ASCII string)
    parts += [f"n{i};desc={json.dumps(n)};dur={v}" for i, (n, v) in enumerate(ms.items())]
    return {"X-Timings": json.dumps(ms, separators=(",", ":")), "Server-Timing": ", ".join(parts)}


async def run_graph(state: ServeState, name: str, request: Request) -> Response:
    """POST /graphs/{name}/run."""
    t0 = perf_counter()
    e = state.graphs.get(name)
    known = e is not None
    metrics = state.metrics
    if known:
        metrics.started(name)
    status, kind, timings = 200, None, None
    try:
        state.check_key(request)
        if e is None:
            e = state.entry(name)  # raises 404
        wav_format = request.query_params.get("wav_format", "pcm16")
        if wav_format not in ("pcm16", "float"):
            raise ServeError(422, f"wav_format: 'pcm16' or 'float', not {wav_format!r}", port="wav_format")
        body = await read_body(request, state.max_upload_bytes)
        form = e.form
        args = (e, request.query_params.multi_items(), request.headers.get("content-type", ""), body)
        if len(body) > OFFLOAD_BYTES:  # parsing megabytes of JSON or decoding a long WAV: not on the loop
            feeds, plan = await asyncio.get_running_loop().run_in_executor(None, prepare_run, *args)
        else:
            feeds, plan = prepare_run(*args)
        del body, args
        want_audio, json_ok = _accepts_audio(request.headers.get("accept"))
        if want_audio and len(plan.audio_keys) != 1 and not json_ok:
            raise ServeError(406, f"Accept asks for audio/wav, which needs exactly one audio output; this run has "
                                  f"{len(plan.audio_keys)} ({', '.join(plan.audio_keys) or 'none'}): fetch one",
                             kind="not-acceptable")
        res = await state.registry.run(e, feeds, plan.fetches)
        timings = res.timings
        headers = _timing_headers(res.timings, res.seconds)
        audio = want_audio and len(plan.audio_keys) == 1
        args = (e, plan, res, feeds, wav_format, audio)
        if _big(res.outputs):
            data = await asyncio.get_running_loop().run_in_executor(None, encode_answer, *args)
        else:
            data = encode_answer(*args)
        if audio:
            data, sr, seconds = data
            key = plan.audio_keys[0]
            headers.update({"X-Sample-Rate": str(sr), "X-Audio-Seconds": f"{seconds:.6f}",
                            "Content-Disposition": f'inline; filename="{_filename(name, key)}.wav"'})
            return Response(data, media_type="audio/wav", headers=headers)
        return Response(data, media_type="application/json", headers=headers)
    except ServeError as err:
        status = err.status
        kind = err.context.get("kind") or _kind_of(status)
        if known and "graph" not in err.context:
            err.context["graph"] = name
        return err.response()
    except Exception as err:
        status, kind = 500, "internal"
        log.exception("graph %s: unexpected error", name)
        body = {"error": f"internal error: {type(err).__name__}: {err}", "graph": name, "kind": kind}
        if state.debug:
            import traceback
            body["traceback"] = traceback.format_exc()
        return error_response(500, body)
    finally:
        metrics.finished(name, status, perf_counter() - t0, timings, kind, known)


def _kind_of(status: int) -> str:
    return {400: "bad-request", 401: "auth", 404: "unknown-graph", 406: "not-acceptable", 413: "too-large",
            415: "media", 422: "input", 500: "internal", 504: "timeout"}.get(status, "error")


def _filename(graph: str, key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{graph}-{key}")[:80]


# ============================================================================ OpenAPI


def _add_openapi(app: FastAPI, state: ServeState, title: str) -> None:
    from .openapi import all_schemas

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(title=title, version=__version__, description=app.description, routes=app.routes)
        comps = schema.setdefault("components", {})
        comps.setdefault("schemas", {}).update(all_schemas(app.state.modulespack_models))
        if state.keys:
            comps["securitySchemes"] = {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                                        "bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"apiKey": []}, {"bearer": []}]
            if "/healthz" in schema.get("paths", {}):
                schema["paths"]["/healthz"]["get"]["security"] = []
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json(request: Request) -> Response:
        if not state.docs_public:
            state.check_key(request)
        return Response(dumps(openapi()), media_type="application/json")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> Response:
        if not state.docs_public:
            state.check_key(request)
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(openapi_url=root + "/openapi.json", title=f"{title} - API")
