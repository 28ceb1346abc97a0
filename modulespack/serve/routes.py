"""The routes of the app but the docs: the demo page and its files, health, readiness, metrics, the
graph listing, spec and diagram, and a run route per graph (a form each in /docs) plus the generic one."""
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response

from ..io.audio_ports import file_stem
from .access import PAGE_HEADERS
from .encode import dumps, to_jsonable
from .examples import Example, examples_info
from .errors import ServeError, error_response
from .openapi import generic_run_operation, graph_models, model_name, run_operation
from .entry import GraphEntry
from .run import run_graph
from .state import ServeState
from .values import loads_json

STATIC_DIR = Path(__file__).resolve().parent / "static"

PLACEHOLDER = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>modulespack</title></head>
<body><h1>modulespack</h1><p>The demo page is not installed. The API: <a href="graphs">graphs</a>,
<a href="docs">docs</a>.</p></body></html>"""


# ============================================================================ page, health, metrics


def add_page_routes(app: FastAPI, state: ServeState) -> None:
    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = STATIC_DIR / "index.html"
        if page.is_file():
            return FileResponse(page, media_type="text/html", headers=PAGE_HEADERS)
        return HTMLResponse(PLACEHOLDER, headers=PAGE_HEADERS)

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

    @app.get("/readyz", tags=["service"], summary="Ready: every graph's engine is started and warmed up (no API key needed)",
             description="200 `{\"status\": \"ready\"}` or 503 `starting`. Only a caller with a valid API key "
                         "(or any caller, on a server without keys) is told each graph's state, its engine's "
                         "errors (`errors`) and failed warm-up examples (`examples_failed`).")
    async def readyz(request: Request) -> Response:
        if not state.all_warm():
            try:  # nothing started the warm-up (no lifespan, e.g. mounted): start it now
                await asyncio.wait_for(asyncio.shield(state.start_warm_up()), 0.05)
            except asyncio.TimeoutError:
                pass
        graphs = {n: state.ready(n) for n in state.graphs}
        ready = all(graphs.values())
        body: dict[str, Any] = {"status": "ready" if ready else "starting"}
        if state.keys.valid(request):  # graph names only to those who may see them
            body["graphs"] = graphs
            health = state.health()
            errors = {n: h["error"] for n, h in health.items() if h.get("error")}
            failed = {n: h["warm_up_error"] for n, h in health.items() if h.get("warm_up_error")}
            if errors:
                body["errors"] = errors
            if failed:
                body["examples_failed"] = failed
        return error_response(200 if ready else 503, body)

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics",
             dependencies=[Depends(state.keys)] if state.keys else [])
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)


# ============================================================================ graphs



def graph_listing(e: GraphEntry, examples: list[Example]) -> dict[str, Any]:
    return {"name": e.name, "description": e.description, "engine": e.engine.kind,
            "inputs": e.form.inputs_info(), "outputs": e.form.outputs_info(),
            "examples": examples_info(e.name, examples),
            "run": f"graphs/{e.name}/run", "diagram": f"graphs/{e.name}/diagram"}


def add_graph_routes(app: FastAPI, state: ServeState) -> None:
    listing_cache: list[bytes] = []
    # no keys, no dependency: FastAPI's dependency solving costs ~70 us a request (a third of a trivial run)
    keyed = [Depends(state.keys)] if state.keys else []

    @app.get("/graphs", tags=["graphs"], summary="The served graphs, with their inputs and outputs",
             description="A list of {name, description, inputs, outputs}; each port has dtype, shape, doc, "
                         "and a `kind` (audio, text, number, integer, boolean, array, any) for building a form. "
                         "An audio input's sample-rate input is filled from the WAV and left out.",
             dependencies=keyed)
    async def list_graphs() -> Response:
        if not listing_cache:
            listing_cache.append(dumps([graph_listing(e, state.examples.get(e.name, []))
                                        for e in state.graphs.values()]))
        return Response(listing_cache[0], media_type="application/json")

    @app.get("/graphs/{name}", tags=["graphs"], summary="A graph's spec, as JSON", dependencies=keyed)
    async def get_graph(name: str) -> Response:
        e = state.entry(name)
        spec = to_jsonable(e.graph.spec.to_dict())
        return Response(dumps(spec), media_type="application/json")

    @app.get("/graphs/{name}/diagram", tags=["graphs"], summary="A diagram of the graph (SVG)",
             description="`timings`: a JSON object node -> milliseconds to show in the node labels; "
                         "`format`: svg (default) or dot.", dependencies=keyed)
    async def diagram(name: str, timings: str | None = None, format: str = "svg") -> Response:
        e = state.entry(name)
        return await _diagram(e, timings, format)

    @app.get("/graphs/{name}/examples/{example}/{port}", tags=["graphs"], dependencies=keyed,
             summary="A file of one of the graph's examples (a WAV for an audio input)",
             description="The `files` of an example in `GET /graphs` link here.")
    async def example_file(name: str, example: str, port: str) -> Response:
        e = state.entry(name)
        ex = next((x for x in state.examples.get(name, ()) if x.name == example), None)
        if ex is None or port not in ex.files:
            raise ServeError(404, f"graph '{name}' has no example '{example}' with a file for '{port}'",
                             graph=name)
        data, fname = ex.files[port]
        media = "audio/wav" if e.form.fields[port].kind == "audio" else "application/octet-stream"
        return Response(data, media_type=media, headers={
            "Content-Disposition": f'inline; filename="{file_stem(fname)}"', "Cache-Control": "no-cache"})

    async def run_any(name: str, request: Request) -> Response:
        return await run_graph(state, name, request)

    # one route per graph (a form each in /docs), then the generic one
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
                          tags=["run"], summary=f"Run {name}", operation_id=f"run_{base}", dependencies=keyed,
                          openapi_extra=run_operation(name, e.form, m, state.examples.get(name, ())))
    app.state.modulespack_models = models
    app.add_api_route("/graphs/{name}/run", run_any, methods=["POST"], tags=["graphs"], dependencies=keyed,
                      summary="Run any graph by name", openapi_extra=generic_run_operation())


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
            raw = loads_json(timings)
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

