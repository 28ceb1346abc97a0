"""OpenAPI schemas made from the graphs' ports, so `/docs` shows a form per graph.

Each graph gets its own operation `POST /graphs/{name}/run` whose request body is described twice:
as JSON (a pydantic model made with `create_model` from the input ports) and as a multipart form
(a WAV file field per audio input, a field per other input). Responses describe the outputs, the
`audio/wav` answer when the graph has one audio output, and the error shape.
"""
from __future__ import annotations

import re
from typing import Any, Iterable, Optional, Union

from pydantic import BaseModel, Field, create_model
from pydantic.json_schema import models_json_schema

from .encode import to_jsonable
from .form import GraphForm

REF = "#/components/schemas/{model}"


class AudioInput(BaseModel):
    """A WAV file, base64-encoded (multipart uploads send the file itself)."""
    wav_base64: str = Field(description="the WAV file's bytes, base64-encoded")


class AudioOutput(BaseModel):
    """A WAV file (16-bit PCM, or 32-bit float with ?wav_format=float), base64-encoded."""
    wav_base64: str
    sr: int = Field(description="sample rate in Hz")
    seconds: float = Field(description="duration")


class ErrorBody(BaseModel):
    """Every error answer: a message, and what it concerns when known."""
    error: str
    graph: Optional[str] = None
    port: Optional[str] = Field(None, description="the input (or fetch) the error is about")
    node: Optional[str] = Field(None, description="the node that failed, or was running at a timeout")
    module: Optional[str] = None
    kind: Optional[str] = None
    traceback: Optional[str] = Field(None, description="only when the server runs with --debug")


class GenericRunRequest(BaseModel):
    """Inputs by name; audio as {"wav_base64": ...}; arrays as nested lists."""
    inputs: dict[str, Any] = Field(default_factory=dict)
    fetch: Optional[list[str]] = Field(None, description="graph outputs or node/port to return (default: all outputs)")


class GenericRunResponse(BaseModel):
    outputs: dict[str, Any]
    timings_ms: dict[str, float]
    seconds: float


def model_name(graph: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", graph)
    name = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Graph"
    return name if name[0].isalpha() else "G" + name


def _nested(inner: Any, rank: int | None) -> Any:
    if rank is None:
        return list[Any]
    t = inner
    for _ in range(max(rank, 1)):
        t = list[t]
    return t


def _annotation(kind: str, dtype: str, shape: Any) -> Any:
    if kind == "audio":
        return Union[AudioInput, list[float]]
    if kind == "text":
        return str
    if kind == "number":
        return float
    if kind == "integer":
        return int
    if kind == "boolean":
        return bool
    if kind == "array":
        if dtype in ("list", "ndarray"):
            return list[Any]
        import numpy as np
        k = np.dtype(dtype).kind
        inner = {"f": float, "i": int, "u": int, "b": bool}.get(k, Any)
        return _nested(inner, None if shape is None else len(shape))
    return Any


def _out_annotation(kind: str, dtype: str, shape: Any) -> Any:
    if kind == "audio":  # an untyped port is audio only when its value is samples
        return AudioOutput if dtype not in ("any", "ndarray") else Union[AudioOutput, Any]
    if kind == "any" and dtype == "bytes":
        return dict[str, str]
    return _annotation(kind, dtype, shape)


def _doc(info: dict) -> str:
    shape = info.get("shape")
    dims = "" if shape is None else "(" + ", ".join("*" if d is None else str(d) for d in shape) + ")"
    t = f"{info['dtype']} {dims}".strip()
    extra = ""
    if info["kind"] == "audio":
        sr = info.get("sample_rate_input")
        extra = " -- a WAV file" + (f"; its sample rate goes to input '{sr}'" if sr else "")
    return (info.get("doc") or "").strip() + (" " if info.get("doc") else "") + f"[{info['kind']}: {t}]{extra}"


def graph_models(name: str, form: GraphForm, base: str | None = None) -> dict[str, type[BaseModel]]:
    """The pydantic models of one graph: request body, outputs, response (named `base`...)."""
    base = base or model_name(name)
    fields: dict[str, Any] = {}
    for port, info in form.inputs_info().items():
        ann = _annotation(info["kind"], info["dtype"], info["shape"])
        if info["required"]:
            fields[port] = (ann, Field(..., description=_doc(info)))
        else:
            fields[port] = (Optional[ann], Field(info.get("default"), description=_doc(info)))
    inputs = create_model(f"{base}Inputs", __doc__=f"Inputs of graph '{name}'", **_safe(fields))
    required = any(info["required"] for info in form.inputs_info().values())
    request = create_model(
        f"{base}RunRequest", __doc__=f"Run graph '{name}'",
        inputs=(inputs, Field(... if required else None)),
        fetch=(Optional[list[str]], Field(None, description="outputs or node/port to return (default: all outputs)")))
    out_fields = {port: (_out_annotation(i["kind"], i["dtype"], i["shape"]), Field(..., description=_doc(i)))
                  for port, i in form.outputs_info().items()}
    outputs = create_model(f"{base}Outputs", __doc__=f"Outputs of graph '{name}'", **_safe(out_fields))
    response = create_model(f"{base}RunResponse", outputs=(outputs, ...), timings_ms=(dict[str, float], ...),
                            seconds=(float, ...))
    return {"request": request, "response": response}


def _safe(fields: dict[str, Any]) -> dict[str, Any]:
    """Port names that are not Python identifiers (or clash with BaseModel) become aliased fields."""
    out = {}
    for k, (ann, f) in fields.items():
        if k.isidentifier() and not k.startswith("_") and not hasattr(BaseModel, k):
            out[k] = (ann, f)
        else:
            py = "f_" + re.sub(r"\W", "_", k)
            while py in fields or py in out:
                py += "_"
            out[py] = (ann, Field(f.default, alias=k, description=f.description))
    return out


def form_schema(form: GraphForm) -> dict[str, Any]:
    """The multipart/form-data body: a file per audio input, a field per other input."""
    props: dict[str, Any] = {}
    required = []
    for port, info in form.inputs_info().items():
        kind = info["kind"]
        if kind == "audio":
            p: dict[str, Any] = {"type": "string", "format": "binary"}
        elif kind in ("number", "integer", "boolean"):
            p = {"type": kind}
        else:
            p = {"type": "string"}
            if kind in ("array", "any"):
                p["description"] = "JSON"
        p["description"] = _doc(info) + (" (JSON)" if kind in ("array", "any") else "")
        props[port] = p
        if info["required"]:
            required.append(port)
    props["fetch"] = {"type": "array", "items": {"type": "string"},
                      "description": "outputs or node/port to return (default: all outputs)"}
    schema: dict[str, Any] = {"type": "object", "properties": props}
    if required:
        schema["required"] = required
    return schema


def error_responses() -> dict[str, Any]:
    ref = {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}
    text = {
        "400": "a malformed request, or a Host name this server does not answer to",
        "401": "missing or wrong API key", "403": "a request from a page of another site (an Origin not allowed by CORS)",
        "404": "no graph of that name", "406": "Accept: audio/wav, but not one audio output",
        "413": "upload or audio too large", "415": "not a WAV file, or an unsupported Content-Type",
        "422": "bad input: the answer names the port", "500": "a node failed: the answer names the node",
        "504": "the run took longer than the server's timeout",
    }
    return {code: {"description": d, "content": ref} for code, d in text.items()}


def run_operation(name: str, form: GraphForm, models: dict[str, type[BaseModel]],
                  examples: Iterable[Any] = ()) -> dict[str, Any]:
    """`openapi_extra` of a graph's run route; the graph's `examples` without files become the JSON
    body's examples (a menu in /docs)."""
    has_audio_in = any(i["kind"] == "audio" for i in form.inputs_info().values())
    json_body: dict[str, Any] = {"schema": {"$ref": REF.format(model=models["request"].__name__)}}
    body_examples = {ex.name: {"value": {"inputs": to_jsonable(ex.values)}} for ex in examples if not ex.files}
    if body_examples:
        json_body["examples"] = body_examples
    multipart = {"schema": form_schema(form)}
    content = {"multipart/form-data": multipart, "application/json": json_body} if has_audio_in else \
        {"application/json": json_body, "multipart/form-data": multipart}
    ok: dict[str, Any] = {"application/json": {"schema": {"$ref": REF.format(model=models["response"].__name__)}}}
    audio_outs = [k for k, i in form.outputs_info().items() if i["kind"] == "audio"]
    if len(audio_outs) == 1:
        ok["audio/wav"] = {"schema": {"type": "string", "format": "binary"}}
    params = [
        {"name": "fetch", "in": "query", "required": False, "schema": {"type": "array", "items": {"type": "string"}},
         "description": "outputs or node/port to return (repeat, or comma-separated)"},
        {"name": "wav_format", "in": "query", "required": False,
         "schema": {"type": "string", "enum": ["pcm16", "float"], "default": "pcm16"},
         "description": "how audio outputs are written"},
    ]
    desc = (form.graph.spec.description or "").strip()
    notes = ("\n\nSend JSON `{\"inputs\": {...}, \"fetch\": [...]}` or a multipart form (a WAV file per audio "
             "input). Answers JSON `{outputs, timings_ms, seconds}`; with `Accept: audio/wav` and one audio "
             "output, the WAV itself (per-node timings in the `X-Timings` and `Server-Timing` headers).")
    return {
        "requestBody": {"required": True, "content": content},
        "parameters": params,
        "responses": {"200": {"description": "outputs and per-node timings", "content": ok}, **error_responses()},
        "description": desc + notes,
    }


def generic_run_operation() -> dict[str, Any]:
    """`openapi_extra` of `POST /graphs/{name}/run`, the route that runs any graph by name."""
    return {"requestBody": {"content": {
                "application/json": {"schema": {"$ref": REF.format(model="GenericRunRequest")}},
                "multipart/form-data": {"schema": {"type": "object"}}}},
            "responses": {"200": {"description": "outputs and per-node timings", "content": {
                "application/json": {"schema": {"$ref": REF.format(model="GenericRunResponse")}},
                "audio/wav": {"schema": {"type": "string", "format": "binary"}}}},
                **error_responses()}}


def all_schemas(models: list[type[BaseModel]]) -> dict[str, Any]:
    """JSON schemas of the models (and what they refer to), keyed by model name, for components."""
    base = [ErrorBody, AudioInput, AudioOutput, GenericRunRequest, GenericRunResponse]
    _, top = models_json_schema([(m, "validation") for m in base + models], ref_template=REF)
    return dict(top.get("$defs", {}))
