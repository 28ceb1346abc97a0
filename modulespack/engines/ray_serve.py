"""Ray Serve: a graph's nodes marked `deploy:` run in their own Serve deployments (own replicas, CPUs,
`@serve.batch` for batchable modules); the rest of the graph runs in-process, in a Session whose
marked nodes are proxies calling those deployments through DeploymentHandles. So a heavy model
scales apart from the cheap DSP nodes around it.

    apps = node_deployments(graph)   # node -> bound deployment: bind them into your Serve app
    engine = RayServeEngine(graph)   # in a replica of that app (elsewhere: app_name="...")
    engine.start(); engine.run({"text": "hi"})

`modulespack.serve.ray_serve` builds the whole app (these deployments + the HTTP ingress running
`serve.app.create_app` with engine kind "ray-serve").
"""
from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
from pathlib import Path
from typing import Any, Mapping

from ray import serve

from ..core import BuiltGraph, BuiltNode, Cancelled, Module, Session
from .base import EngineError, WorkerDied
from .thread import ThreadEngine

DEFAULT_APP = "modulespack"
DEFAULT_BATCH_WAIT_S = 0.01


def deploy_of(node: BuiltNode) -> Mapping[str, Any] | None:
    """The node's `deploy:` settings, normalised by the build (None: it runs in-process with its
    neighbours). Only the served graph's own nodes count: a nested graph's nodes run in-process."""
    return node.deploy


def deployment_name(graph: BuiltGraph, node: str) -> str:
    """`<graph>.<node>`, the graph named as the server serves it (its file's stem)."""
    return f"{graph.spec.path.stem if graph.spec.path else graph.name}.{node}"


def batch_of(node: BuiltNode) -> tuple[int, float] | None:
    """(max size, max wait) when the node's deployment groups concurrent calls with `@serve.batch`:
    a batchable module whose `deploy:` (or `batch:`, its default) allows batches above 1."""
    d = node.deploy or {}
    size = int(d.get("max_batch_size") or 1)
    if size <= 1 or not node.cls.batchable:
        return None
    return size, float(d.get("batch_wait_s", DEFAULT_BATCH_WAIT_S))


def node_deployments(graph: BuiltGraph) -> dict[str, Any]:
    """A bound Serve deployment (an `Application`) per `deploy:` node of `graph`, named
    `deployment_name(graph, node)`: bind them into the app whose replicas run the engine."""
    out = {}
    spec = (graph.spec.to_dict(), str(graph.spec.path) if graph.spec.path else None)
    for name in graph.order:
        node = graph.nodes[name]
        d = deploy_of(node)
        if d is None:
            continue
        batch = batch_of(node)
        dep = serve.deployment(NodeDeployment).options(
            name=deployment_name(graph, name), num_replicas=int(d.get("replicas", 1)),
            ray_actor_options=_actor_options(d),
            # a batch can only fill when a replica takes that many requests at once
            max_ongoing_requests=max(16, 2 * batch[0]) if batch else 16)
        out[name] = dep.bind(spec, name, batch)
    return out


def _actor_options(d: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"num_cpus": float(d.get("num_cpus", 1))}
    if d.get("num_gpus"):
        out["num_gpus"] = float(d["num_gpus"])
    if d.get("memory_mb"):
        out["memory"] = int(d["memory_mb"]) * 2**20
    return out


class _Attach:
    """What `Module.attach` gets in a node replica: a way to build the Session of a nested graph."""

    def sub_session(self, graph: BuiltGraph) -> Session:
        return Session(graph)


class NodeDeployment:
    """A Serve deployment running one node's module: `__call__(inputs)` -> ("ok", outputs) or
    ("error", exception): errors come back as values so the caller re-raises the module's own
    exception (an InputError stays an InputError), not Ray's wrapper of it."""

    def __init__(self, spec: tuple[dict, str | None], node: str, batch: tuple[int, float] | None):
        from ..core.spec import parse_graph
        from ..core.build import build_graph

        data, path = spec
        # the spec the server validated, not the file as it is now (it may have been edited)
        built = build_graph(parse_graph(data, Path(path) if path else None)).nodes[node]
        self.module = built.cls(**built.params)
        self.module.attach(_Attach())
        self.module.setup()
        self.batched = batch is not None
        if batch:
            self.run_batched.set_max_batch_size(batch[0])
            self.run_batched.set_batch_wait_timeout_s(batch[1])

    async def __call__(self, inputs: dict[str, Any]) -> tuple[str, Any]:
        try:
            if self.batched:
                out = await self.run_batched(inputs)
                if isinstance(out, BaseException):
                    raise out
            else:
                out = await asyncio.to_thread(lambda: self.module.run(**inputs))
            return "ok", out
        except Exception as e:
            return "error", _picklable(e)

    # size and wait are set per node in __init__
    @serve.batch(max_batch_size=8, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S)
    async def run_batched(self, items: list[dict[str, Any]]) -> list[Any]:
        return await asyncio.to_thread(self.module.run_batch, items)

    def pid(self) -> int:
        return os.getpid()


def _picklable(e: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}")


def proxy_class(node: BuiltNode, handle: Any) -> type[Module]:
    """A module standing in for `node`: its run calls the node's deployment (and cancels the call
    when the run is cancelled)."""

    class NodeProxy(Module):
        inputs = dict(node.inputs)
        outputs = dict(node.outputs)
        check_outputs = getattr(node.cls, "check_outputs", True)

        def run(self, **inputs: Any) -> dict[str, Any]:
            from ..core import current_token

            response = handle.remote(inputs)
            token = current_token()
            unregister = token.on_cancel(response.cancel) if token is not None else None
            try:
                status, value = response.result()
            except Exception as e:
                if token is not None and token.is_set():
                    raise Cancelled(token.reason) from None
                if _unavailable(e):  # the server's trouble, not the module's: the caller may retry
                    raise WorkerDied(f"the deployment of node '{node.name}' could not answer: "
                                     f"{type(e).__name__}: {e}") from e
                raise
            finally:
                if unregister is not None:
                    unregister()
            if status == "error":
                raise value
            return value

    # errors name the module as the graph file does, wherever it runs
    NodeProxy.__name__, NodeProxy.__qualname__ = node.cls.__name__, node.cls.__qualname__
    return NodeProxy


def _unavailable(e: BaseException) -> bool:
    """A replica died, the deployment has none running, or it refuses more requests (back-pressure)."""
    from ray import exceptions as rx
    from ray.serve import exceptions as sx
    return isinstance(e, (rx.RayActorError, sx.BackPressureError, sx.DeploymentUnavailableError,
                          sx.ReplicaUnavailableError))


def proxied_graph(graph: BuiltGraph, handles: Mapping[str, Any]) -> BuiltGraph:
    """`graph` with the nodes in `handles` replaced by proxies calling their deployments."""
    nodes = {name: (dataclasses.replace(node, cls=proxy_class(node, handles[name]), params={}, subgraph=None,
                                        batch=None)
                    if name in handles else node) for name, node in graph.nodes.items()}
    return dataclasses.replace(graph, nodes=nodes)


class RayServeEngine(ThreadEngine):
    """The thread engine (runs on a thread pool of this process: options as `ThreadEngine`), with
    the graph's `deploy:` nodes calling their deployments of Serve app `app_name` (default: the
    app of the replica this runs in, else "modulespack"), which must be running."""

    kind = "ray-serve"

    def __init__(self, graph: BuiltGraph, *, app_name: str | None = None, **options: Any):
        super().__init__(graph, **options)
        self.app_name = app_name
        self.deployed = [n for n in graph.order if deploy_of(graph.nodes[n]) is not None]
        self._proxied = not self.deployed

    def start(self) -> None:
        with self._lock:
            if not self._proxied:
                app = self.app_name or _replica_app() or DEFAULT_APP
                try:
                    handles = {n: serve.get_deployment_handle(deployment_name(self.graph, n), app)
                               for n in self.deployed}
                except Exception as e:
                    self._error = f"{type(e).__name__}: {e}"
                    raise EngineError(f"graph '{self.name}': its deployments in Serve app '{app}' "
                                      f"cannot be reached: {self._error}") from e
                self.graph = proxied_graph(self.graph, handles)
                self._proxied = True
        super().start()


def _replica_app() -> str | None:
    try:
        return serve.get_replica_context().app_name
    except Exception:  # not in a Serve replica
        return None
