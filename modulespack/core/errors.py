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

    def __init__(self, problems: list[Problem], heading: str | None = None):
        self.problems = list(problems)
        n = len(self.problems)
        self.heading = heading
        head = heading or f"{n} problem{'s' if n != 1 else ''} in graph"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))

    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}

    def __reduce__(self):
        return (GraphError, (self.problems, self.heading))


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
        return (NodeError, (self.path, self.module, _picklable(self.cause), self.detail, self.traceback))

    def nested_in(self, outer: str) -> "NodeError":
        """The same failure seen from one graph further out."""
        return NodeError([outer, *self.path], self.module, self.cause, self.detail, self.traceback)


class InputError(ValueError):
    """Raised by a module whose input values are wrong: empty text, a rate it cannot use,
    non-finite samples. The caller's mistake, not a fault of the module: front ends answer it as
    such (HTTP 422), where any other exception a module raises is a server fault (HTTP 500).

    `port` names the module's input that was wrong, when one is; the Session traces it back
    through the graph's edges to the graph inputs it came from.

    >>> raise InputError("empty text (nothing to synthesise)", port="text")   # doctest: +SKIP
    """

    def __init__(self, message: str, port: str | None = None):
        self.port = port
        super().__init__(message)

    def __reduce__(self):
        return (InputError, (str(self), self.port))


class NodeInputError(NodeError):
    """A module refused its input values (it raised InputError): the caller's mistake.

    `port` is the module's input named by the InputError (None if it named none) and `inputs`
    the graph inputs that port's value came from, traced back through the edges (outermost graph).
    """

    def __init__(self, path: list[str], module: str, cause: BaseException | None, message: str,
                 tb: str | None = None, port: str | None = None, inputs: tuple[str, ...] = ()):
        self.port = port
        self.inputs = tuple(inputs)
        super().__init__(path, module, cause, message, tb)
        if self.inputs:
            names = ", ".join(f"'{i}'" for i in self.inputs)
            self.args = (f"graph input{'s' if len(self.inputs) > 1 else ''} {names}: {message} "
                         f"(node '{self.node}'" + (f", port '{port}'" if port else "") + ")",)

    def __reduce__(self):
        return (NodeInputError, (self.path, self.module, _picklable(self.cause), self.detail, self.traceback,
                                 self.port, self.inputs))

    def nested_in(self, outer: str, inputs: tuple[str, ...] = ()) -> "NodeInputError":
        """The same refusal seen from one graph further out, whose graph inputs are `inputs`."""
        return NodeInputError([outer, *self.path], self.module, self.cause, self.detail, self.traceback,
                              self.port, inputs)


class Unavailable(RuntimeError):
    """A service a module needs (a model server, every endpoint of it) cannot be reached now; it may
    be later. Front ends answer it as such (HTTP 503 with `Retry-After: retry_after` seconds)
    rather than as a fault of the graph.

    >>> raise Unavailable("no endpoint of model 'asr' answers: 10.0.0.1:8000 (refused)", 2.0)  # doctest: +SKIP
    """

    def __init__(self, message: str, retry_after: float = 1.0):
        self.retry_after = float(retry_after)
        super().__init__(message)

    def __reduce__(self):
        return (Unavailable, (str(self), self.retry_after))


class Cancelled(RuntimeError):
    """A run was cancelled (its CancelToken was set) before it finished; `reason` says why."""

    def __init__(self, reason: str = "cancelled"):
        self.reason = reason
        super().__init__(f"run cancelled: {reason}")

    def __reduce__(self):
        return (Cancelled, (self.reason,))


def _picklable(cause: BaseException | None) -> BaseException | None:
    import pickle
    try:  # a round trip: an exception can pickle yet fail to unpickle (an __init__ with other arguments)
        pickle.loads(pickle.dumps(cause))
        return cause
    except Exception:
        return RuntimeError(f"{type(cause).__name__}: {cause}")
