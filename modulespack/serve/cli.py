"""`modulespack serve DIR_OR_FILES...`: the web app under uvicorn.

`modulespack.cli` imports this module only when the `serve` command is used and calls
`add_parser(subparsers)`.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

ENV_KEY = "MODULESPACK_API_KEY"
START_TIMEOUT_S = 120.0  # how long start-up waits for every graph's engine to be set up
ENV_CONFIG = "MODULESPACK_SERVE_CONFIG"  # JSON create_app options, for `app_from_env` (uvicorn --factory)

EPILOG = """\
examples:
  modulespack serve examples/graphs
  modulespack serve examples/graphs --port 8080 --api-key s3cret --cors https://example.org
  modulespack serve examples/graphs --host 0.0.0.0 --allowed-host speech.example.org
  MODULESPACK_API_KEY=s3cret modulespack serve graphs/asr.yaml --engine local --engine-workers 2
  modulespack serve examples/graphs --engine-graph asr=local          # asr in processes, the rest on threads
  modulespack serve examples/graphs --engine ray --address auto       # on Ray Serve (an existing cluster)
  modulespack serve examples/graphs --wyoming tcp://0.0.0.0:10300     # also Wyoming, for Home Assistant
  modulespack serve examples/graphs --grpc-port 8001                  # also V2 (Triton/KServe) over gRPC
  (old names, still accepted: --executor process = --engine local, --process-graph NAME =
   --engine-graph NAME=local, --process-workers N = --engine-workers N)
  curl -s localhost:8000/graphs
  curl -s localhost:8000/graphs/arith/run -H 'Content-Type: application/json' -d '{"inputs": {"a": 1, "b": 2}}'
  curl -s localhost:8000/graphs/tts/run -F text='hello world' -H 'Accept: audio/wav' -o hello.wav
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "serve", help="serve the graphs of a folder over HTTP (one endpoint per graph, demo page)",
        description="Serve graph files over HTTP: GET /graphs lists them, POST /graphs/NAME/run runs one, "
                    "/ is a demo page, /docs the API forms, /metrics Prometheus metrics.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="DIR_OR_FILE",
                   help="graph files, or folders whose *.yaml/*.yml/*.json are served (not recursive)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--api-key", action="append", default=None, metavar="KEY",
                   help=f"require this key in X-API-Key or Authorization: Bearer (repeatable; default: "
                        f"${ENV_KEY}, comma-separated)")
    p.add_argument("--cors", action="append", default=None, metavar="ORIGIN",
                   help="allow browser calls from this origin (repeatable; CORS is off otherwise, and a "
                        "request from a page of another site is refused)")
    p.add_argument("--allowed-host", action="append", default=None, metavar="NAME",
                   help="also answer requests for this Host name (repeatable; '*.example.org' for a domain, "
                        "'*' for any). By default: the --host address, and for 127.0.0.1 also localhost "
                        "and [::1]; for 0.0.0.0 or :: any IP address, localhost and this machine's host "
                        "names. Other names get 400 (DNS rebinding). Behind a reverse proxy that rewrites "
                        "Host, give the name it sends")
    p.add_argument("--timeout", type=float, default=60.0, metavar="S", help="seconds per run before 504 (default 60)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N", help="runs at a time per graph (default 4)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, metavar="MB", help="request body limit (default 20)")
    p.add_argument("--max-audio-seconds", type=float, default=600.0, metavar="S",
                   help="longest audio, input or output (default 600)")
    p.add_argument("--max-text-chars", type=int, default=None, metavar="N",
                   help="longest text input, in characters (default 5000)")
    p.add_argument("--engine", choices=("thread", "local", "ray"), default=None,
                   help="where graphs run: thread (default: in the server process, on threads), local (worker "
                        "processes, each building its own Session: for modules that hold the GIL, e.g. "
                        "pocketsphinx; a killed worker fails only its run), ray (every graph on Ray Serve, "
                        "same HTTP API; see --address)")
    p.add_argument("--engine-graph", action="append", default=None, metavar="NAME=ENGINE",
                   help="run graph NAME on ENGINE (thread, local, ray: Ray actors behind this server), the "
                        "others on --engine or threads (repeatable)")
    p.add_argument("--engine-workers", type=int, default=None, metavar="N",
                   help="threads, worker processes or Ray actors per graph (default: the engine's own; "
                        "local: the CPU count)")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster for the ray engine ('auto', 'ray://host:10001'; default: a local Ray)")
    # the old names: --executor process is --engine local, --process-graph NAME is --engine-graph NAME=local
    p.add_argument("--executor", choices=("thread", "process"), default=None, help=argparse.SUPPRESS)
    p.add_argument("--process-graph", action="append", default=None, metavar="NAME", help=argparse.SUPPRESS)
    p.add_argument("--process-workers", type=int, default=None, metavar="N", help=argparse.SUPPRESS)
    p.add_argument("--workers", type=int, default=1, metavar="N", help="uvicorn worker processes (default 1)")
    p.add_argument("--wyoming", default=None, metavar="tcp://HOST:PORT",
                   help="also serve the speech-to-text and text-to-speech graphs over Wyoming (Home Assistant's "
                        "voice protocol) at this address, e.g. tcp://127.0.0.1:10300 (off by default; no API "
                        "key on it: keep it on a trusted network)")
    p.add_argument("--grpc-port", type=int, default=None, metavar="PORT",
                   help="also serve the Open Inference Protocol (V2: Triton, KServe clients) over gRPC on this "
                        "port of --host (every graph is a model, as on /v2/... over HTTP; needs tritonclient[grpc])")
    p.add_argument("--debug", action="store_true", help="tracebacks in 500 answers")
    p.add_argument("--public-docs", action="store_true",
                   help="with --api-key, let /docs and /openapi.json (every graph's inputs and outputs) be "
                        "read without the key (by default they need it, so a browser cannot open /docs)")
    p.add_argument("--private-docs", action="store_true", help=argparse.SUPPRESS)  # the default now
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--check", action="store_true", help="load every graph, set its modules up and run its first example, then exit (1 if a graph cannot run)")
    p.set_defaults(func=cmd_serve)
    return p


def engine_choice(args: argparse.Namespace) -> str | dict[str, str]:
    """--engine / --engine-graph (and the old --executor / --process-graph) as create_app's `engine`."""
    default = args.engine or {"process": "local", "thread": "thread", None: None}[args.executor]
    per_graph: dict[str, str] = {}
    for item in args.engine_graph or ():
        name, sep, kind = item.partition("=")
        if not sep or not name or kind not in ("thread", "local", "ray", "process"):
            raise ValueError(f"--engine-graph {item!r}: NAME=ENGINE, ENGINE one of thread, local, ray")
        per_graph[name] = kind
    for name in args.process_graph or ():
        per_graph[name] = "local"
    if per_graph:
        if default not in (None, "thread"):
            raise ValueError("--engine-graph runs the graphs it does not name on threads: drop --engine "
                             f"{default}, or name every graph")
        return per_graph
    return default or "thread"


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    engine = engine_choice(args)
    keys = args.api_key
    if not keys and os.environ.get(ENV_KEY):
        keys = [k.strip() for k in os.environ[ENV_KEY].split(",") if k.strip()]
    from .access import default_allowed_hosts
    return {
        "paths": list(args.paths), "api_keys": keys or None, "cors_origins": args.cors or None,
        "allowed_hosts": default_allowed_hosts(args.host) + list(args.allowed_host or ()),
        "max_upload_mb": args.max_upload_mb, "max_audio_seconds": args.max_audio_seconds,
        **({"max_text_chars": args.max_text_chars} if args.max_text_chars is not None else {}),
        "timeout_s": args.timeout, "concurrency": args.concurrency, "engine": engine,
        "engine_workers": args.engine_workers if args.engine_workers is not None else args.process_workers,
        **({"engine_options": {"address": args.address}} if args.address else {}),
        "debug": args.debug, "docs_public": bool(args.public_docs),
        **({"wyoming": args.wyoming} if args.wyoming else {}),
        **({"grpc_address": grpc_address(args.host, args.grpc_port)} if args.grpc_port is not None else {}),
    }


def grpc_address(host: str, port: int) -> str:
    """HOST:PORT of --host and --grpc-port (an IPv6 address in brackets)."""
    if not 0 < port < 65536:
        raise ValueError(f"--grpc-port {port}: a port number, 1-65535")
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _make_app(options: dict[str, Any]) -> Any:
    from .app import create_app
    opts = dict(options)
    return create_app(opts.pop("paths"), **opts)


def app_from_env() -> Any:
    """An app from the JSON options in $MODULESPACK_SERVE_CONFIG (`uvicorn --factory` entry point)."""
    return _make_app(json.loads(os.environ[ENV_CONFIG]))


def cmd_serve(args: argparse.Namespace) -> int:
    from ..core import GraphError

    try:
        options = options_from_args(args)
    except ValueError as e:
        print(f"modulespack serve: {e}", file=sys.stderr)
        return 2
    if options.get("wyoming") and (args.workers > 1 or options["engine"] == "ray"):
        print("modulespack serve: --wyoming listens in one server process: use it with --workers 1 and without "
              "--engine ray (--engine local or --engine-graph NAME=ray still spread the runs)", file=sys.stderr)
        return 2
    if options.get("grpc_address") and (args.workers > 1 or options["engine"] == "ray"):
        print("modulespack serve: --grpc-port listens in one server process: use it with --workers 1 and without "
              "--engine ray", file=sys.stderr)
        return 2
    if options["engine"] == "ray" and not args.check:  # every graph on Ray Serve, the same HTTP API
        from .ray_serve import serve_forever
        return serve_forever(options, host=args.host, port=args.port, address=args.address)
    try:
        app = _make_app(options)
    except GraphError as e:
        print(str(e), file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"modulespack serve: {e}", file=sys.stderr)
        return 2
    state = app.state.modulespack
    names = ", ".join(state.graphs)
    if state.wyoming is not None and not args.check:
        from .wyoming_server import check_can_listen
        try:
            check_can_listen(state.wyoming.uri)
        except OSError as e:
            state.shutdown()
            print(f"modulespack serve: {e.strerror}", file=sys.stderr)
            return 1
    grpc_door = app.state.modulespack_grpc
    if grpc_door is not None and not args.check:
        try:
            grpc_door.check_can_listen()
        except OSError as e:
            state.shutdown()
            print(f"modulespack serve: {e.strerror}", file=sys.stderr)
            return 1
    # every module set up (and every first example run) before anything is served: a graph that
    # cannot run stops start-up here rather than answer 503 forever
    try:
        errors, warm_errors = state.start_engines(START_TIMEOUT_S)
    except BaseException:
        state.shutdown()
        raise
    if args.check:
        errors.update({n: f"its example failed: {w}" for n, w in warm_errors.items() if n not in errors})
        state.shutdown()
    elif errors or args.workers > 1:  # each uvicorn worker builds its own engines
        state.shutdown()
    if errors:
        print(f"modulespack serve: {len(errors)} graph(s) cannot run:", file=sys.stderr)
        for n, err in errors.items():
            print(f"  - graph '{n}' ({state.graphs[n].path}): {err}", file=sys.stderr)
        return 1
    if args.check:
        print(f"ok: {len(state.graphs)} graph(s): {names}")
        return 0
    for n, w in warm_errors.items():
        print(f"modulespack serve: graph '{n}': {w} (the graph is served)", file=sys.stderr)
    import uvicorn

    print(f"serving {names} on http://{args.host}:{args.port}/ (API docs: /docs)"
          + (f", Wyoming on {args.wyoming}" if args.wyoming else "")
          + (f", V2 gRPC on {grpc_door.address}" if grpc_door is not None else ""), file=sys.stderr)
    if args.workers > 1:
        app = None  # each uvicorn worker builds its own from the options
        os.environ[ENV_CONFIG] = json.dumps(options)
        uvicorn.run("modulespack.serve.cli:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
    else:
        try:
            uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
        finally:  # the lifespan closes them too, unless uvicorn stopped before it ran (port taken)
            state.shutdown()
    return 0
