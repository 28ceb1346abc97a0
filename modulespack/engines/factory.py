"""`make_engine(kind, graph, **options)`: the one place that maps an engine name to its class.

Ray is imported only when asked for: `engines/ray.py` imports `ray`, which takes seconds and is an
optional extra."""
from __future__ import annotations

from typing import Any

from ..core import BuiltGraph, build_graph
from .base import Engine

KINDS = ("thread", "local", "ray")
#: kinds used by modulespack itself, not offered to users ("ray-serve": a Serve replica's engine)
INTERNAL_KINDS = ("ray-serve",)
#: other names accepted for a kind (the server's old `--executor process`)
ALIASES = {"process": "local", "processes": "local", "threads": "thread"}


def engine_class(kind: str) -> type[Engine]:
    """The Engine class of `kind` ("thread", "local", "ray", or an alias); ValueError if unknown."""
    name = ALIASES.get(kind, kind)
    if name == "thread":
        from .thread import ThreadEngine
        return ThreadEngine
    if name == "local":
        from .local import LocalEngine
        return LocalEngine
    if name == "ray":
        try:
            from .ray import RayEngine
        except ImportError as e:
            raise ValueError(f"the ray engine needs Ray (pip install 'modulespack[ray]'): {e}") from None
        return RayEngine
    if name == "ray-serve":  # inside a Ray Serve app only (serve/ray_serve.py), so not in KINDS
        from .ray_serve import RayServeEngine
        return RayServeEngine
    raise ValueError(f"engine is one of {', '.join(KINDS)}, not {kind!r}")


def make_engine(kind: str, graph: BuiltGraph | str, **options: Any) -> Engine:
    """An engine of `kind` for `graph` (a BuiltGraph, or a graph file to build), not started yet.

    Options every engine takes: `workers` (threads, processes or actors), `session_options` (for
    each Session), `warm_up` (a picklable callable given each new Session once); "ray" also
    `address`. Unknown options are the engine's to refuse."""
    cls = engine_class(kind)
    if not isinstance(graph, BuiltGraph):
        graph = build_graph(graph)
    return cls(graph, **options)
