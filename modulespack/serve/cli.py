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
ENV_CONFIG = "MODULESPACK_SERVE_CONFIG"  # JSON create_app options, for `app_from_env` (uvicorn --factory)

EPILOG = """\
examples:
  modulespack serve examples/graphs
  modulespack serve examples/graphs --port 8080 --api-key s3cret --cors https://example.org
  modulespack serve examples/graphs --host 0.0.0.0 --allowed-host speech.example.org
  MODULESPACK_API_KEY=s3cret modulespack serve graphs/asr.yaml --executor process --concurrency 2
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
    p.add_argument("--executor", choices=("thread", "process"), default="thread",
                   help="run graphs on threads, or in worker processes that build their own Sessions "
                        "(for modules that hold the GIL, e.g. pocketsphinx)")
    p.add_argument("--process-graph", action="append", default=None, metavar="NAME",
                   help="run this graph in worker processes, the others on threads (repeatable)")
    p.add_argument("--process-workers", type=int, default=None, metavar="N",
                   help="worker processes with --executor process (default: --concurrency)")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="uvicorn worker processes (default 1)")
    p.add_argument("--debug", action="store_true", help="tracebacks in 500 answers")
    p.add_argument("--public-docs", action="store_true",
                   help="with --api-key, let /docs and /openapi.json (every graph's inputs and outputs) be "
                        "read without the key (by default they need it, so a browser cannot open /docs)")
    p.add_argument("--private-docs", action="store_true", help=argparse.SUPPRESS)  # the default now
    p.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    p.add_argument("--check", action="store_true", help="load and build every graph, then exit")
    p.set_defaults(func=cmd_serve)
    return p


def options_from_args(args: argparse.Namespace) -> dict[str, Any]:
    executor: Any = args.executor
    if args.process_graph:
        executor = {name: "process" for name in args.process_graph}
    keys = args.api_key
    if not keys and os.environ.get(ENV_KEY):
        keys = [k.strip() for k in os.environ[ENV_KEY].split(",") if k.strip()]
    from .access import default_allowed_hosts
    return {
        "paths": list(args.paths), "api_keys": keys or None, "cors_origins": args.cors or None,
        "allowed_hosts": default_allowed_hosts(args.host) + list(args.allowed_host or ()),
        "max_upload_mb": args.max_upload_mb, "max_audio_seconds": args.max_audio_seconds,
        **({"max_text_chars": args.max_text_chars} if args.max_text_chars is not None else {}),
        "timeout_s": args.timeout, "concurrency": args.concurrency, "executor": executor,
        "process_workers": args.process_workers, "debug": args.debug, "docs_public": bool(args.public_docs),
    }


def _make_app(options: dict[str, Any]) -> Any:
    from .app import create_app
    opts = dict(options)
    return create_app(opts.pop("paths"), **opts)


def app_from_env() -> Any:
    """An app from the JSON options in $MODULESPACK_SERVE_CONFIG (`uvicorn --factory` entry point)."""
    return _make_app(json.loads(os.environ[ENV_CONFIG]))


def cmd_serve(args: argparse.Namespace) -> int:
    from ..core import GraphError

    options = options_from_args(args)
    try:
        app = _make_app(options)
    except GraphError as e:
        print(str(e), file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"modulespack serve: {e}", file=sys.stderr)
        return 2
    names = ", ".join(app.state.modulespack.graphs)
    if args.check:
        print(f"ok: {len(app.state.modulespack.graphs)} graph(s): {names}")
        return 0
    import uvicorn

    print(f"serving {names} on http://{args.host}:{args.port}/ (API docs: /docs)", file=sys.stderr)
    if args.workers > 1:
        app = None  # each uvicorn worker builds its own from the options
        os.environ[ENV_CONFIG] = json.dumps(options)
        uvicorn.run("modulespack.serve.cli:app_from_env", factory=True, host=args.host, port=args.port,
                    workers=args.workers, log_level=args.log_level)
    else:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0
