"""Node hooks: code told when each node of a run starts and ends (tracking, metrics, progress).

Installed for a stretch of code with `HOOKS.set(hooks)` (a context variable, so it covers the runs
started there, the nodes the Session runs on its thread pool, and nested graphs, whose nodes are
named `outer > inner`). A Session reads it once per run; with none installed a run pays nothing.
"""
from __future__ import annotations

import contextvars
from typing import Any


class NodeHooks:
    """Base of hook objects: override either method. Both are called on the thread that runs the
    node, in the run's context, and must be thread-safe (parallel branches run at once); an
    exception they raise fails the node."""

    __slots__ = ()

    def node_started(self, path: str) -> Any:
        """Node `path` (`outer > inner` inside nested graphs) starts; what this returns is handed
        to `node_ended`."""
        return None

    def node_ended(self, path: str, key: Any, seconds: float, error: BaseException | None) -> None:
        """Node `path` ended after `seconds`, with `error` if it raised (a nested graph's node
        reports its inner failure before the outer node does)."""


HOOKS: contextvars.ContextVar[NodeHooks | None] = contextvars.ContextVar("modulespack_node_hooks", default=None)

# "outer > " while a node that runs a graph of its own is running (only when hooks are installed):
# the inner Session names its nodes with it
PREFIX: contextvars.ContextVar[str] = contextvars.ContextVar("modulespack_node_prefix", default="")
