"""Errors of the OpenAI audio API in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

The `openai` client picks its exception from the status (400 BadRequestError, 401 AuthenticationError,
404 NotFoundError, 413, 5xx InternalServerError...) and shows `message`. The server's own errors
(`ServeError`: an undecodable upload, a module refusing its input, a time-out) are translated here:
the client's mistakes are 400 (413 for sizes), the server's faults 5xx, never the other way round.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Mapping

from .errors import ServeError, error_response
from .run import KIND_OF_STATUS

# ServeError statuses that are the client's mistake about a value: OpenAI answers those with 400
AS_BAD_REQUEST = (415, 422)
TYPE_OF_STATUS = {401: "invalid_request_error", 404: "invalid_request_error", 413: "invalid_request_error",
                  499: "invalid_request_error", 503: "server_error", 504: "server_error"}


class OpenAIError(Exception):
    """An answer in OpenAI's error shape. `param` names the request field at fault (file, model,
    input, voice, response_format...), `code` a short machine-readable reason."""

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None, headers: Mapping[str, str] | None = None, kind: str | None = None):
        super().__init__(message)
        self.status = status
        # the `kind` label of the server's error metrics, as the native route counts the same mistake
        self.kind = kind or ("input" if status == 400 else None)
        self.message = message
        self.param = param
        self.code = code
        self.type = type or TYPE_OF_STATUS.get(status, "invalid_request_error" if status < 500 else "server_error")
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self):
        return error_response(self.status, self.body(), self.headers or None)


def from_serve_error(err: ServeError, params: Mapping[str, str] | None = None) -> OpenAIError:
    """The OpenAI answer to a ServeError; `params` maps the graph's port names to the request's fields
    (the audio input -> "file", the text input -> "input") so `param` names what the client sent."""
    status = 400 if err.status in AS_BAD_REQUEST else err.status
    port = err.context.get("port")
    param = (params or {}).get(port, port) if port else None
    kind = err.context.get("kind") or KIND_OF_STATUS.get(err.status)
    code = "invalid_file_format" if err.status == 415 else (kind or "").replace("-", "_") or None
    return OpenAIError(status, err.message, param=param, code=code, headers=err.headers, kind=kind)


def model_not_found(model: str, models: list[str]) -> OpenAIError:
    return OpenAIError(404, f"The model '{model}' does not exist: models here are graph names "
                            f"({', '.join(models) or 'none'}; GET /v1/models lists them)",
                       param="model", code="model_not_found")


@contextmanager
def openai_errors(params: Mapping[str, str] | None = None) -> Iterator[None]:
    """Raise the ServeErrors of the block as OpenAIErrors (inside the metrics' `tracked`, so they
    count the status the client gets)."""
    try:
        yield
    except ServeError as err:
        raise from_serve_error(err, params) from None
