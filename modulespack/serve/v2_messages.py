"""V2 HTTP infer bodies: a request's JSON part and the binary tensor data after it (the extension
tritonclient's HTTP client uses by default, `Inference-Header-Content-Length`), which outputs it
asks for and in which form, and the answer's body. Tensors themselves: `v2_tensors`.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .v2_tensors import (
    Tensor,
    TensorError,
    check_header,
    from_json,
    from_raw,
    to_json_data,
    to_raw,
)

HEADER_LENGTH = "inference-header-content-length"


def read_request(body: bytes, header_length: str | None) -> tuple[dict, list[Tensor]]:
    """(the request's JSON object, its input tensors) of an HTTP infer body: JSON, or with the binary
    extension, the JSON part (`header_length` bytes) then the inputs' raw bytes in input order."""
    from .values import loads_json

    rest = b""
    if header_length is not None:
        try:
            n = int(header_length)
        except ValueError:
            n = -1
        if not 0 <= n <= len(body):
            raise TensorError(f"Inference-Header-Content-Length {header_length!r} is not a length within the "
                              f"body ({len(body)} bytes)")
        body, rest = body[:n], body[n:]
    try:
        req = loads_json(body)
    except (ValueError, UnicodeDecodeError) as err:
        extra = header_length is None and isinstance(err, json.JSONDecodeError) and err.msg == "Extra data"
        raise TensorError(f"the request is not valid JSON ({err})" + (
            "; binary tensor data after the JSON needs the Inference-Header-Content-Length header" if extra else "")
        ) from None
    if not isinstance(req, dict):
        raise TensorError('the request is a JSON object {"inputs": [...]}')
    inputs = req.get("inputs", [])
    if not isinstance(inputs, list):
        raise TensorError("'inputs' is a list of tensors")
    tensors, offset = [], 0
    for t in inputs:
        name, datatype, shape = check_header(t)
        params = t.get("parameters") or {}
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is None:
            tensors.append(from_json(name, datatype, shape, t.get("data")))
            continue
        if not isinstance(size, int) or isinstance(size, bool) or size < 0 or offset + size > len(rest):
            raise TensorError(f"input '{name}': binary_data_size {size!r} does not fit the {len(rest) - offset} "
                              f"bytes of binary data left after the JSON part")
        tensors.append(from_raw(name, datatype, shape, rest[offset:offset + size]))
        offset += size
    if offset != len(rest):
        raise TensorError(f"{len(rest) - offset} bytes of binary data after the inputs' binary_data_size "
                          f"(inputs with binary data: give each its parameters.binary_data_size)")
    return req, tensors


def requested_outputs(req: dict) -> tuple[list[str] | None, dict[str, bool]]:
    """(output names asked for, None for all; name -> answer in binary) of an infer request. An
    output is binary if it says `binary_data`, else as the request's `binary_data_output` says."""
    params = req.get("parameters") or {}
    default = bool(params.get("binary_data_output", False)) if isinstance(params, dict) else False
    outputs = req.get("outputs")
    if outputs is None:
        return None, {"*": default}
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                for o in outputs):
        raise TensorError("'outputs' is a list of {\"name\": ..., \"parameters\": {...}}")
    binary = {"*": default}
    for o in outputs:
        p = o.get("parameters") or {}
        binary[o["name"]] = bool(p.get("binary_data", default)) if isinstance(p, dict) else default
    return [o["name"] for o in outputs], binary


def write_response(head: dict, tensors: Sequence[Tensor], binary: dict[str, bool]) -> tuple[bytes, int | None]:
    """(body, JSON part's length if binary data follows it) of an infer answer: `head` (model_name,
    model_version, id) and the outputs, each as JSON data or binary as `binary` says."""
    outputs, blobs = [], []
    for t in tensors:
        d: dict[str, Any] = {"name": t.name, "datatype": t.datatype, "shape": t.shape}
        data = None if binary.get(t.name, binary["*"]) else to_json_data(t.datatype, t.array)
        if data is None:
            raw = to_raw(t.datatype, t.array)
            d["parameters"] = {"binary_data_size": len(raw)}
            blobs.append(raw)
        else:
            d["data"] = data
        outputs.append(d)
    text = json.dumps({**head, "outputs": outputs}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if not blobs:
        return text, None
    return b"".join([text, *blobs]), len(text)
