"""Errors the graph runtime raises: build-time problems and run-time node failures."""
from __future__ import annotations

import traceback
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a graph file, located as precisely as we can."""

    message: str
    file: str | None = None
    node: str | None = None
    port: str | None = None
    line: int | None = None
    kind: str = "invalid"

    def __str__(self) -> str:
        where = self.file or "<graph>"
        if self.line:
            where += f":{self.line}"
        parts = [where]
        if self.node:
            parts.append(f"node '{self.node}'")
        if self.port:
            parts.append(f"port '{self.port}'")
        return ": ".join(parts) + f": {self.message} [{self.kind}]"


class GraphError(Exception):
    """A graph file could not be loaded or built. `problems` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in graph"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def __reduce__(self):
        return (GraphError, (self.problems,))


class FeedError(ValueError):
    """A run was asked for with feeds or fetches that do not fit the graph."""

    def __init__(self, message: str, port: str | None = None):
        self.port = port
        super().__init__(message)

    def __reduce__(self):
        return (FeedError, (str(self), self.port))


class NodeError(RuntimeError):
    """A module raised, or returned something other than what it declared.

    `node` is the path of node names from the outer graph inward (nested graphs),
    `cause` the original exception and `traceback` its formatted traceback.
    """

    def __init__(self, path: list[str], module: str, cause: BaseException | None, message: str,
                 tb: str | None = None):
        self.path = list(path)
        self.module = module
        self.cause = cause
        self.traceback = tb if tb is not None else (
            "".join(traceback.format_exception(cause)) if cause is not None else "")
        self.detail = message
        super().__init__(f"node '{self.node}' ({module}): {message}")

    @property
    def node(self) -> str:
        return " > ".join(self.path)

    def __reduce__(self):
        # engines send errors back from worker processes; an unpicklable cause becomes its text
        import pickle
        cause = self.cause
        try:
            pickle.dumps(cause)
        except Exception:
            cause = RuntimeError(f"{type(cause).__name__}: {cause}")
        return (NodeError, (self.path, self.module, cause, self.detail, self.traceback))

    def nested_in(self, outer: str) -> "NodeError":
        """The same failure seen from one graph further out."""
        return NodeError([outer, *self.path], self.module, self.cause, self.detail, self.traceback)
