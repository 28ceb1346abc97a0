"""`modulespack serve --engine ray`: the very app of `create_app` as the HTTP ingress of a Ray Serve
application, so clients see the same routes, status codes, error bodies and demo page.

The ingress replicas build the app themselves (with engine kind "ray-serve"): each graph runs in
its replica, except the nodes marked `deploy:` in the graph file, which are deployments of their
own in the same Serve app (`engines.ray_serve.node_deployments`), called through handles.

    start(options, host="127.0.0.1", port=8000)   # options: what `create_app` takes, with "paths"
    ...
    stop()                                          # serve.shutdown(), and Ray if start() began it
"""
from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Mapping

from ray import serve

from ..engines.ray_serve import DEFAULT_APP, node_deployments

ENGINE_KIND = "ray-serve"
INGRESS = "http"
ENGINE_CHOICE = ("engine", "executor", "process_workers", "engine_options")
_started_ray = False    # what `start` began, so that `stop` ends only that
_started_serve = False
_app: str | None = None


@serve.ingress()  # the app is built in each replica (`__serve_build_asgi_app__`): Sessions do not pickle
class Ingress:
    def __init__(self, options: Mapping[str, Any], *node_handles: Any):
        # node_handles: the node deployments, bound here so that Serve deploys them with this app;
        # the engines find them by name (engines.ray_serve.deployment_name)
        self.options = dict(options)

    def __serve_build_asgi_app__(self) -> Any:
        from .app import create_app
        opts = dict(self.options)
        return create_app(opts.pop("paths"), engine=ENGINE_KIND, **opts)


LIMITS = ("concurrency", "max_audio_seconds", "max_text_chars")  # the options that decide how examples decode


def graphs_of(paths: Any, **limits: Any) -> list:
    """Every graph the app will serve, validated here as the server will, examples included
    (GraphLoadError listing every problem), so a bad file fails the command before anything is
    deployed rather than in every replica."""
    from .catalog import close_all, load_graphs
    from .errors import GraphLoadError
    from .examples import load_examples

    entries = load_graphs(paths, **limits)  # engines made, not started: no Session is built here
    try:
        problems = [p for e in entries.values() for p in load_examples(e.graph, e.form)[1]]
    finally:
        close_all(entries.values())
    if problems:
        raise GraphLoadError(problems)
    return [e.graph for e in entries.values()]


def build_app(options: Mapping[str, Any], *, replicas: int = 1, num_cpus: float = 1.0,
              max_ongoing_requests: int = 100) -> Any:
    """The Serve application: the HTTP ingress (`replicas` copies, `num_cpus` each) and every
    `deploy:` node of the graphs in `options["paths"]`."""
    limits = {k: options[k] for k in LIMITS if options.get(k) is not None}
    nodes = [app for g in graphs_of(options["paths"], **limits) for app in node_deployments(g).values()]
    # the ingress picks its engine itself; the CLI's engine choice (or the old executor) is not create_app's
    options = {k: v for k, v in options.items() if k not in ENGINE_CHOICE}
    # the app's own limits (per-graph concurrency: 503; time-outs: 504) decide, as under uvicorn
    ingress = serve.deployment(Ingress).options(name=INGRESS, num_replicas=replicas,
                                                ray_actor_options={"num_cpus": num_cpus},
                                                max_ongoing_requests=max_ongoing_requests)
    return ingress.bind(options, *nodes)


def start(options: Mapping[str, Any], *, host: str = "127.0.0.1", port: int = 8000, replicas: int = 1,
          num_cpus: float = 1.0, address: str | None = None, app_name: str = DEFAULT_APP) -> None:
    """Deploy the app and return once it is running: on the Ray this process is connected to, else
    on `address` (a cluster: "auto", "ray://host:10001"), else on a new local Ray."""
    global _app, _started_ray, _started_serve
    import ray

    app = build_app(options, replicas=replicas, num_cpus=num_cpus)
    if not ray.is_initialized():
        ray.init(address=address or "local", include_dashboard=False)
        _started_ray = True
    _started_serve = not _serve_running()
    serve.start(http_options={"host": host, "port": port})
    _app = app_name
    serve.run(app, name=app_name, route_prefix="/", blocking=False)


def stop() -> None:
    """Undo `start`: Ray Serve shut down (only this app deleted when Serve ran before `start`, on a
    cluster shared with others), and Ray when `start` started it (a cluster's driver disconnects)."""
    global _app, _started_ray, _started_serve
    import ray

    try:
        if _started_serve:
            serve.shutdown()
        elif _app is not None:
            serve.delete(_app)
    finally:
        _app, _started_serve = None, False
        if _started_ray:
            _started_ray = False
            ray.shutdown()


def _serve_running() -> bool:
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE
    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        return True
    except ValueError:
        return False


def serve_forever(options: Mapping[str, Any], *, host: str = "127.0.0.1", port: int = 8000,
                  replicas: int = 1, num_cpus: float = 1.0, address: str | None = None) -> int:
    """What `modulespack serve --engine ray` runs: deploy, wait for Ctrl-C or SIGTERM, stop.
    Exit status 1 when a graph does not validate, 2 for a wrong option."""
    from ..core import GraphError

    done = threading.Event()
    try:
        start(options, host=host, port=port, replicas=replicas, num_cpus=num_cpus, address=address)
        signal.signal(signal.SIGTERM, lambda *_: done.set())  # after ray.init, which sets its own
        print(f"serving on Ray Serve at http://{host}:{port}/ (API docs: /docs); Ctrl-C stops",
              file=sys.stderr)
        done.wait()
    except GraphError as e:
        print(str(e), file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"modulespack serve: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        stop()
    return 0
