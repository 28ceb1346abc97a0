"""The web app: every graph file of a folder behind HTTP, with uploads, audio answers, a demo page,
Prometheus metrics and OpenAPI forms.

>>> from modulespack.serve import create_app                     # doctest: +SKIP
>>> app = create_app("examples/graphs", api_keys=["s3cret"])      # doctest: +SKIP

From the command line: ``modulespack serve examples/graphs --port 8000`` (uvicorn). Requests from
other sites' pages and for unknown ``Host`` names are refused (``modulespack.serve.access``): behind
a reverse proxy that rewrites ``Host``, pass ``--allowed-host`` with the name it sends (and ``--cors``
if the page is served under another origin).

Routes (all but /healthz, the page and /static need the API key when keys are configured):

- ``GET /`` the demo page (``static/index.html``), ``/static/...`` its files
- ``GET /healthz`` alive; ``GET /readyz`` every graph's engine started and warmed up (503 until then);
  ``GET /metrics`` Prometheus text
- ``GET /graphs`` a JSON list ``[{name, description, inputs: {port: {kind, dtype, shape, doc,
  required, ...}}, outputs: {...}}]``; kinds are audio, text, number, integer, boolean, array, any
- ``GET /graphs/{name}`` the graph's spec; ``GET /graphs/{name}/diagram[?timings={"node": ms}]`` SVG
- ``POST /graphs/{name}/run``: JSON ``{"inputs": {...}, "fetch": [...]}`` (audio as
  ``{"wav_base64": ...}``, arrays as nested lists), or a multipart form (a WAV file per audio input,
  other inputs as text or JSON), or a bare ``audio/wav`` body for a graph with one audio input;
  ``?fetch=node/port`` (repeatable). Answers ``{"outputs", "timings_ms", "seconds"}`` (audio
  outputs as ``{"wav_base64", "sr", "seconds"}``), or the WAV itself with ``Accept: audio/wav``
  when one audio output is fetched (per-node timings in ``X-Timings`` and ``Server-Timing``).
  Errors are JSON ``{"error", "graph", "port" | "node", "kind", ...}``: 401 key, 404 graph, 406
  accept, 413 size/length (the upload, a text input, audio in or out), 415 not a WAV, 422 input
  (names the port; also a module refusing its input values, kind ``input``), 500 node (names it),
  503 the worker running it died, its engine cannot run, or the server is stopping (``Retry-After``), 504
  timeout. A run that times out, or whose client goes away, is cancelled (its subprocesses killed).
- ``GET /graphs/{name}/snippets``: ready-to-paste calls of the graph through every front door it
  answers (curl, the ``openai`` client, Home Assistant's Wyoming settings), for the page's "Use it
  from..." panel (``modulespack.serve.snippets``)
- The OpenAI audio API (``modulespack.serve.openai_routes``): ``POST /v1/audio/transcriptions``,
  ``POST /v1/audio/speech``, ``GET /v1/models[/{id}]``, the model being a graph's name; which graphs
  fit is decided from their ports or by the graph file's ``openai:`` mapping (``modulespack.serve.tasks``)
- ``GET /docs``, ``/openapi.json``: one form per graph, made from its ports (they need the key too
  when keys are configured, unless ``docs_public=True`` / ``--public-docs``). Swagger UI's files
  are served from ``/docs-assets`` (the swagger-ui-bundle-v2 package): /docs works offline. No /redoc.

The audio convention (see ``modulespack.serve.kinds``): an input ``wav`` (float32, 1-D) with an
integer input ``sr`` is one audio input: upload a WAV, the server fills ``sr`` from the file.

Mounting: the app is plain ASGI and works under a prefix (its page uses relative URLs)::

    parent = FastAPI()                       # or Starlette(routes=[Mount("/speech", app=...)])
    parent.mount("/speech", create_app("examples/graphs"))

Where graphs run is an engine per graph (``modulespack.engines``: ``engine="thread"``, the default,
``"local"`` worker processes, ``"ray"``). A mounted app does not get lifespan events: its engines
start on the first ``/readyz`` or run.

In Django (ASGI), route a prefix to this app and everything else to Django, in ``asgi.py``::

    import os
    from django.core.asgi import get_asgi_application
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
    django_app = get_asgi_application()
    from starlette.applications import Starlette
    from starlette.routing import Mount
    from modulespack.serve import create_app
    application = Starlette(routes=[Mount("/speech", app=create_app("/srv/graphs")),
                                    Mount("/", app=django_app)])

and run it with ``uvicorn mysite.asgi:application``.
"""
from __future__ import annotations

from typing import Any

__all__ = ["create_app", "GraphLoadError", "ServeError"]


def __getattr__(name: str) -> Any:  # imported on use: `modulespack serve --help` stays fast
    if name == "create_app":
        from .app import create_app
        return create_app
    if name in ("GraphLoadError", "ServeError"):
        from . import errors
        return getattr(errors, name)
    raise AttributeError(f"module 'modulespack.serve' has no attribute {name!r}")
