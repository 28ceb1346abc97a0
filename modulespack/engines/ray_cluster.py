"""Ray itself, for the Ray engine and the Ray batch: connecting (and starting a local cluster on
loopback), counting the users of a Ray started here so only that one is shut down, Ray's error
wrappers turned back into the core's errors, and what an actor needs of the graph (its file's path
as the actor sees it, the Ray resources to ask for)."""
from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, Mapping

from ..core import BuiltGraph, Cancelled
from .base import EngineError, WorkerDied

_ray_lock = threading.Lock()
_ray_users = 0          # engines/batches using a Ray this module started; it is shut down at 0
_ray_started = False


def acquire_ray(address: str | None = None, runtime_env: Mapping[str, Any] | None = None,
                **init_options: Any) -> None:
    """Connect to Ray unless this process already is; counted, so `release_ray` shuts down only a
    Ray started here, once its last user is done."""
    global _ray_users, _ray_started
    own_cluster = address in (None, "local") and not os.environ.get("RAY_ADDRESS")
    if own_cluster:
        # a cluster of our own is one machine's: it listens on loopback only. Ray swaps 127.0.0.1
        # for the machine's network address unless this is off, and reads it when first imported
        # (its workers inherit it from our environment).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError as e:
        raise EngineError("the Ray engine needs Ray: pip install 'modulespack[ray]'") from e
    with _ray_lock:
        if not ray.is_initialized():
            opts = dict(init_options)
            if own_cluster:
                from ray._private import ray_constants  # imported before us: too late for the env
                ray_constants.ENABLE_RAY_CLUSTER = os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] != "0"
                opts.setdefault("_node_ip_address", "127.0.0.1")
                opts.setdefault("include_dashboard", False)
            if runtime_env:
                opts["runtime_env"] = dict(runtime_env)
            try:
                ray.init(address=address, **opts)
            except Exception as e:
                raise EngineError(f"cannot connect to Ray at {address or 'a new local cluster'}: "
                                  f"{type(e).__name__}: {e}") from e
            _ray_started, _ray_users = True, 0
        if _ray_started:
            _ray_users += 1


def release_ray() -> None:
    global _ray_users, _ray_started
    import ray
    with _ray_lock:
        if not _ray_started:
            return
        _ray_users -= 1
        if _ray_users <= 0:
            _ray_started, _ray_users = False, 0
            ray.shutdown()


def unwrap(exc: BaseException) -> BaseException:
    """The core error inside Ray's wrappers; an actor that died is `WorkerDied`."""
    from ray import exceptions as rx
    if isinstance(exc, rx.TaskCancelledError):
        return Cancelled("the run was cancelled")
    if isinstance(exc, rx.RayTaskError):
        cause = getattr(exc, "cause", None)
        return cause if isinstance(cause, BaseException) else exc
    if isinstance(exc, (rx.RayActorError, rx.ObjectLostError, rx.OwnerDiedError)):
        return WorkerDied(f"the Ray actor running the run died: {exc}")
    return exc


def actor_graph_path(graph: BuiltGraph, runtime_env: Mapping[str, Any] | None) -> str | None:
    """The graph file's path as actors must see it: relative to the `working_dir` Ray uploads to
    each node (the actors' current folder there) when the file is inside it, else as it is here."""
    path = graph.spec.path
    if path is None:
        return None
    wd = (runtime_env or {}).get("working_dir")
    if isinstance(wd, (str, os.PathLike)) and os.path.isdir(wd):
        try:
            return str(Path(path).resolve().relative_to(Path(wd).resolve()))
        except ValueError:
            pass
    return str(path)


def graph_resources(graph: BuiltGraph) -> dict[str, float]:
    """What one actor holding a Session of `graph` asks Ray for (`ray.remote` options): the most
    CPUs and GPUs any node wants (a run's nodes mostly take turns) and the memory of all (every
    model stays loaded), from the nodes' `resources` (class defaults and graph-file overrides)."""
    from ..core.node_options import combined_resources
    total = combined_resources(node.resources for node in graph.nodes.values())
    out: dict[str, float] = {"num_cpus": float(total["num_cpus"])}
    if total["num_gpus"]:
        out["num_gpus"] = float(total["num_gpus"])
    if total["memory_mb"]:
        out["memory"] = int(total["memory_mb"]) * 1024 * 1024
    return out
