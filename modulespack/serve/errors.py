"""Errors the web layer answers with: one JSON shape, `{"error": message, ...context}`."""
from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from ..core import GraphError


class ServeError(Exception):
    """An HTTP error answer: `status`, a message, and context such as graph, port, node."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, **context: Any):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.context = {k: v for k, v in context.items() if v is not None}

    def body(self) -> dict[str, Any]:
        return {"error": self.message, **self.context}

    def response(self, **extra: Any) -> Response:
        return error_response(self.status, {**self.body(), **{k: v for k, v in extra.items() if v is not None}},
                              self.headers)


def error_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
    return Response(data, status_code=status, media_type="application/json", headers=headers)


class GraphLoadError(GraphError):
    """Start-up failed: some graph files do not load or validate. A core GraphError whose
    `problems` lists every problem of every file (each `Problem` names its file)."""

    def __init__(self, problems: list[Any]):
        problems = list(problems)
        files = sorted({p.file for p in problems if getattr(p, "file", None)})
        n = len(problems)
        super().__init__(problems, f"cannot serve: {n} problem{'s' if n != 1 else ''} in "
                                   f"{len(files) or 'the'} graph file{'s' if len(files) != 1 else ''}")

    def __reduce__(self):
        return (GraphLoadError, (self.problems,))
