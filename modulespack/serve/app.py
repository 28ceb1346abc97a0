"""The ASGI app: `create_app(paths, ...)` serves every graph file of the start-up paths.

Here: the factory, its lifespan, error handlers and CORS; the routes are in `routes` (page, health,
graphs, run), `run` (the run handler) and `docs` (/openapi.json, /docs). See the package docstring
(`modulespack.serve`) for routes, the audio convention and mounting.
"""
from __future__ import annotations

import os
from contextlib import asynccontextmanager
from typing import Any, Iterable, Mapping

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from .. import __version__
from .access import AccessGuard
from .body import MB
from .docs import add_docs_routes
from .errors import GraphLoadError, ServeError, error_response
from .examples import load_examples
from .feeds import DEFAULT_MAX_TEXT_CHARS
from .catalog import close_all, load_graphs
from .dispatch import Dispatcher
from .routes import add_graph_routes, add_page_routes
from .state import ServeState

def create_app(paths: str | os.PathLike | Iterable[str | os.PathLike], *, api_keys: str | Iterable[str] | None = None,
               cors_origins: str | Iterable[str] | None = None, max_upload_mb: float = 20,
               max_audio_seconds: float = 600, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
               timeout_s: float | None = 60, concurrency: int = 4,
               engine: str | Mapping[str, str] = "thread", engine_workers: int | None = None,
               engine_options: Mapping[str, Any] | None = None, debug: bool = False, docs_public: bool = False,
               session_options: Mapping[str, Any] | None = None,
               title: str = "modulespack", allowed_hosts: str | Iterable[str] | None = None,
               executor: str | Mapping[str, str] | None = None, process_workers: int | None = None,
               wyoming: str | None = None, grpc_address: str | None = None) -> FastAPI:
    """The web app serving every graph file in `paths` (folders give their *.yaml, *.yml, *.json).

    Every graph is validated and its Session built here, once; a graph that does not validate
    raises `GraphLoadError` (a core GraphError) listing the problems of every file. So does an
    example (`examples:` in a graph file) whose files or values do not decode. Each graph runs on an
    engine (`modulespack.engines`), started with the app's lifespan (or by the first /readyz or run
    of a mounted app); each new Session runs the graph's first example once (in every worker of a
    local or ray engine): /readyz says ready after that.

    `api_keys`: keys accepted in `X-API-Key` or `Authorization: Bearer` on every route except
    /healthz, /readyz (which names graphs only to a caller with a key), the demo page and its static
    files. /docs and /openapi.json (which list every graph's ports) need a key too unless
    `docs_public` (without keys, everything is public).
    `cors_origins`: origins allowed to call the API from a browser (CORS is off without them); a
    request whose `Origin` is another site than the server's own and not one of these gets 403, keys
    or not ("*" allows every origin); without an `Origin`, a POST that `Sec-Fetch-Site` or `Referer`
    says comes from another site gets 403 too. `allowed_hosts`: the `Host` values answered (others
    get 400: DNS rebinding), e.g. `["127.0.0.1", "localhost", "[::1]"]` or `["*.example.org"]`
    (`"<any-ip>"`: any IP-address literal); None (the default, for an app mounted in another) checks
    nothing: `modulespack serve` sets it from `--host`.
    `max_upload_mb`: request bodies beyond this get 413. `max_audio_seconds`: longer audio, input or
    output, gets 413. `max_text_chars`: a longer text input gets 413.
    `timeout_s`: a run taking longer (queueing included) answers 504. `concurrency`: runs at a time
    per graph. `engine`: "thread" (the graph's Session in this process, runs on a thread pool),
    "local" (worker processes, each building its own Session from the graph spec validated here: for
    modules that hold the GIL; a run that times out is cancelled in its worker, which is killed and
    replaced if the run does not stop; a worker that dies fails only its run, 503), "ray" (Ray
    actors; `engine_options={"address": ...}`), or a mapping graph name -> kind (others on threads).
    `engine_workers`: threads, processes or actors per graph (default: the engine's own: the CPU
    count for "local"). `executor` and `process_workers` are the old names of `engine` ("process"
    is "local") and `engine_workers`. `debug`: tracebacks in 500 answers. `session_options`: passed
    to every `Session` (e.g. `{"parallel": False}`). `wyoming`: also serve the speech-to-text and
    text-to-speech graphs over Wyoming (Home Assistant) on this `tcp://HOST:PORT` or `unix://PATH`,
    started and stopped with the app's lifespan (`wyoming_server`). Every graph also answers the Open
    Inference Protocol (V2) over HTTP (`/v2/...`, `v2_routes`); `grpc_address` (HOST:PORT): over gRPC
    there too (`v2_grpc`, needs tritonclient[grpc]), started and stopped with the lifespan.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if isinstance(api_keys, str):
        api_keys = [k.strip() for k in api_keys.split(",")]
    if isinstance(cors_origins, str):
        cors_origins = [cors_origins]
    if isinstance(allowed_hosts, str):
        allowed_hosts = [allowed_hosts]
    if executor is not None:       # the old names
        engine = executor
    if process_workers is not None and engine_workers is None:
        engine_workers = process_workers
    if wyoming:  # a wrong address is refused before any graph is loaded
        from .wyoming_server import check_uri
        check_uri(wyoming)
    graphs = load_graphs(list(paths), engine=engine, concurrency=concurrency, max_audio_seconds=max_audio_seconds,
                         max_text_chars=max_text_chars,
                         engine_options={**dict(engine_options or {}), "workers": engine_workers,
                                         "session_options": dict(session_options or {})})
    examples, problems = {}, []
    for name, e in graphs.items():
        examples[name], bad = load_examples(e.graph, e.form)
        problems += bad
    if wyoming:
        from .wyoming_info import settings_problems
        problems += settings_problems(graphs.values())
    if problems:
        close_all(graphs.values())
        raise GraphLoadError(problems)
    state = ServeState(graphs, Dispatcher(timeout_s, debug), api_keys=api_keys or (),
                       max_upload_bytes=int(max_upload_mb * MB), debug=debug, docs_public=docs_public,
                       examples=examples)
    if wyoming:
        from .wyoming_server import WyomingDoor
        state.wyoming = WyomingDoor(state, wyoming)
    grpc_door = None
    if grpc_address:
        from .v2_grpc import GrpcDoor
        try:
            grpc_door = GrpcDoor(state, grpc_address)
        except ValueError:
            state.shutdown()
            raise

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if state.wyoming is not None:  # first: a taken port stops start-up before any engine starts
            await state.wyoming.start()
        if grpc_door is not None:  # likewise
            try:
                await grpc_door.start()
            except BaseException:
                if state.wyoming is not None:
                    await state.wyoming.stop()
                raise
        if not state.all_warm():
            # engines start (Sessions built, worker processes spawned, first examples run); /readyz says when done
            state.start_warm_up()
        try:
            yield
        finally:
            warm, state.warm_task = state.warm_task, None
            if warm is not None and not warm.done():
                warm.cancel()
            if state.wyoming is not None:
                await state.wyoming.stop()
            if grpc_door is not None:
                await grpc_door.stop()
            state.shutdown()

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
    # outermost: a bad Host or a foreign Origin is refused before anything else (CORS preflights too)
    app.add_middleware(AccessGuard, allowed_hosts=allowed_hosts, allowed_origins=list(cors_origins or ()))

    add_page_routes(app, state)
    add_graph_routes(app, state)
    from .openai_routes import add_openai_routes  # the OpenAI audio API (/v1/...): a front door over the same graphs
    app.state.modulespack_openai = add_openai_routes(app, state)
    from .snippets import add_snippet_routes  # the page's "Use it from..." calls, per graph and front door
    add_snippet_routes(app, state)
    from .v2_routes import add_v2_routes  # the Open Inference Protocol (/v2/...): every graph is a model
    app.state.modulespack_v2 = add_v2_routes(app, state)
    app.state.modulespack_grpc = grpc_door
    add_docs_routes(app, state, title)
    return app


def _api_description(state: ServeState) -> str:
    names = ", ".join(f"`{n}`" for n in state.graphs) or "none"
    return ("Graphs served: " + names + ". `GET /graphs` lists their inputs and outputs (with a form `kind`); "
            "`POST /graphs/{name}/run` runs one.")
