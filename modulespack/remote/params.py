"""A remote node's parameters, checked at build time: protocol, endpoints, balancing, and the mapping
between the node's ports and the served model's tensors.

    inputs:  {mel: {name: input__0, dtype: float32, shape: [-1, 80]}}
    outputs: {wav: {name: output__0, dtype: float32, shape: [-1]}}

`name` (default: the port's name) is the model's tensor; `dtype` a numpy dtype name or a V2
datatype (FP32, INT64...), or a scalar kind (`int`, `float`, `str`, `bool`), which is a tensor of
shape [1] (how modulespack graphs publish their scalar ports); `shape` lists sizes, -1 or null for
any (named sizes such as "n_mels" are allowed and checked along the graph's edges).
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.ports import Port

PROTOCOLS = ("v2-http", "v2-grpc", "tfserving-rest")
BALANCES = ("round_robin", "least_outstanding", "random")

# numpy dtype name -> V2 datatype; a scalar kind travels as a [1] tensor of its widest type
V2_TYPES = {"bool": "BOOL", "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64",
            "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
            "float16": "FP16", "float32": "FP32", "float64": "FP64"}
SCALARS = {"int": ("int64", "INT64"), "float": ("float64", "FP64"), "str": ("object", "BYTES"),
           "bool": ("bool", "BOOL")}
_FROM_V2 = {v: k for k, v in V2_TYPES.items()}
_ENDPOINT = re.compile(r"^\[?[A-Za-z0-9._:-]+\]?:\d{1,5}$")


@dataclass(frozen=True)
class Tensor:
    """One port <-> one model tensor."""

    port: str
    name: str
    dtype: str            # numpy dtype name ("object" for BYTES)
    datatype: str         # V2 datatype
    shape: tuple          # of int | str | None; (1,) for a scalar
    scalar: str | None    # the port's Python kind when the port is a scalar

    def as_port(self) -> Port:
        if self.scalar:
            return Port(self.scalar, doc=f"tensor '{self.name}' ({self.datatype} [1])")
        return Port(self.dtype, self.shape, f"tensor '{self.name}' ({self.datatype} {self.v2_shape()})")

    def v2_shape(self) -> list[int]:
        """The shape as V2 metadata writes it: -1 for any size (named sizes too)."""
        return [d if isinstance(d, int) else -1 for d in self.shape]


def _dtype(v: Any) -> tuple[str, str, str | None]:
    """(numpy dtype, V2 datatype, scalar kind) for a mapping's `dtype`, or ValueError."""
    if not isinstance(v, str):
        raise ValueError(f"dtype must be a string, not {v!r}")
    if v in SCALARS:
        return (*SCALARS[v], v)
    if v.upper() in _FROM_V2:
        return _FROM_V2[v.upper()], v.upper(), None
    if v.upper() == "BYTES":
        return "object", "BYTES", None
    try:
        name = np.dtype(v).name
    except TypeError:
        name = ""
    if name not in V2_TYPES:
        raise ValueError(f"unknown dtype {v!r}: use a numeric numpy dtype (float32, int64...), a V2 datatype "
                         f"(FP32, INT64, BYTES...) or a scalar kind ({', '.join(SCALARS)})")
    return name, V2_TYPES[name], None


def _shape(v: Any) -> tuple:
    if not isinstance(v, (list, tuple)):
        raise ValueError(f"shape must be a list of sizes (-1 or null for any), not {v!r}")
    out = []
    for d in v:
        if d is None or d == -1:
            out.append(None)
        elif isinstance(d, str) and d or isinstance(d, int) and not isinstance(d, bool) and d >= 0:
            out.append(d)
        else:
            raise ValueError(f"bad size {d!r} in shape {list(v)}: use a size >= 0, -1/null (any) or a name")
    return tuple(out)


def tensors(mapping: Any, what: str) -> dict[str, Tensor]:
    """The `inputs` or `outputs` mapping as Tensors by port; ValueError naming the port if wrong."""
    if not isinstance(mapping, Mapping) or not mapping:
        raise ValueError(f"'{what}' must map port names to {{name, dtype, shape}}, got {mapping!r}")
    out = {}
    for port, spec in mapping.items():
        if not isinstance(port, str) or not port.isidentifier():
            raise ValueError(f"{what}: port name {port!r} is not an identifier")
        if not isinstance(spec, Mapping):
            raise ValueError(f"{what}.{port}: expected {{name, dtype, shape}}, got {spec!r}")
        unknown = set(spec) - {"name", "dtype", "shape"}
        if unknown:
            raise ValueError(f"{what}.{port}: unknown key(s) {sorted(unknown)} (keys: name, dtype, shape)")
        name = spec.get("name", port)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{what}.{port}: tensor name must be a non-empty string, not {name!r}")
        try:
            dtype, datatype, scalar = _dtype(spec.get("dtype"))
            shape = (1,) if scalar else _shape(spec.get("shape"))
        except ValueError as e:
            raise ValueError(f"{what}.{port}: {e}") from None
        out[port] = Tensor(port, name, dtype, datatype, shape, scalar)
    names = [t.name for t in out.values()]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"{what}: tensor(s) {dup} mapped to more than one port")
    return out


def endpoint_list(v: Any) -> list[str]:
    """`endpoints` as a list of host:port strings (one string is one endpoint); ValueError if wrong."""
    items = [v] if isinstance(v, str) else v
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"expected one or more 'host:port' strings, got {v!r}")
    bad = [e for e in items if not isinstance(e, str) or not _ENDPOINT.match(e) or not 0 < int(e.rsplit(":", 1)[1]) < 65536]
    if bad:
        raise ValueError(f"not 'host:port' (no scheme, no path): {', '.join(map(repr, bad))}")
    if len(set(items)) != len(items):
        raise ValueError(f"an endpoint is listed twice: {list(items)}")
    return list(items)


def problems(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(parameter, problem) pairs beyond what `__init__`'s signature checks."""
    out = []
    if "protocol" in params and params["protocol"] not in PROTOCOLS:
        out.append(("protocol", f"expected one of {', '.join(PROTOCOLS)}, got {params['protocol']!r}"))
    if "balance" in params and params["balance"] not in BALANCES:
        out.append(("balance", f"expected one of {', '.join(BALANCES)}, got {params['balance']!r}"))
    if "endpoints" in params:
        try:
            endpoint_list(params["endpoints"])
        except ValueError as e:
            out.append(("endpoints", str(e)))
    if "model" in params and (not isinstance(params["model"], str) or not params["model"].strip()):
        out.append(("model", f"expected the served model's name, got {params['model']!r}"))
    t = params.get("timeout", 1.0)
    if isinstance(t, (int, float)) and not isinstance(t, bool) and not t > 0:
        out.append(("timeout", f"must be > 0 seconds, got {t!r}"))
    r = params.get("retries", 0)
    if isinstance(r, int) and not isinstance(r, bool) and r < 0:
        out.append(("retries", f"must be >= 0, got {r!r}"))
    for what in ("inputs", "outputs"):
        if what in params:
            try:
                tensors(params[what], what)
            except ValueError as e:
                out.append((what, str(e)))
    return out
