"""modulespack2's exception type."""
from __future__ import annotations

from ..core.errors import GraphError

__all__ = ["Stop", "DescMismatch"]


class Stop(Exception):
    """Raised to stop running a graph (modulespack2's error type): a Session without ModuleLibPath,
    a feed_dict that is not a dict, a feed that does not fit the graph, fetches it cannot run."""


class DescMismatch(GraphError, Stop):
    """The two ends of an edge are described differently (mp2's CheckDesc). Both a core
    GraphError (with one Problem per edge, naming file, node and port) and a Stop, as mp2 raised."""
