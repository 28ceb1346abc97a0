"""A served graph as an Open Inference Protocol (V2) model: its tensors, from the graph's ports.

A graph input or output is one tensor, named as the port (an audio graph's `wav` and `sr` are two
tensors, as they are two ports). Datatypes and shapes:

- a scalar port (`int`, `float`, `bool`, `str`, `bytes`, or a numpy dtype with shape `[]`) is a
  tensor of shape `[1]`: `int` INT64, `float` FP64, `bool` BOOL, `str` and `bytes` BYTES;
- an array port is its numpy dtype (`float32` FP32, `int16` INT16...) with the port's shape, `-1`
  for a size that is not fixed (`None`, or a named size); an array port of any rank is `[-1]`;
- an untyped port (`any`, `list`, `dict`, `ndarray`) is BYTES `[-1]` (FP32 `[-1]` for `ndarray`) in
  the metadata; what it takes and gives is in `v2_infer`.

What each input port accepts (`accepted_datatypes`): its own datatype; a `float` port any number
(FP*, INT*, UINT*), an `int` port any integer datatype, as the native route takes JSON numbers.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..core import Port
from ..core.ports import ANY, NDARRAY

if TYPE_CHECKING:
    from .entry import GraphEntry

SERVER_NAME = "modulespack"
PLATFORM = "modulespack"
MODEL_VERSION = "1"  # a graph file is one model version
EXTENSIONS = ("binary_tensor_data",)

# V2 datatype <-> numpy dtype (BYTES: numpy object arrays of bytes)
NUMPY_OF = {"BOOL": np.dtype(np.bool_), "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16),
            "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64), "UINT8": np.dtype(np.uint8),
            "UINT16": np.dtype(np.uint16), "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64),
            "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64)}
DATATYPES = (*NUMPY_OF, "BYTES")
DATATYPE_OF = {dt: name for name, dt in NUMPY_OF.items()}
INTEGERS = frozenset(n for n in NUMPY_OF if n.startswith(("INT", "UINT")))
NUMBERS = INTEGERS | {"FP16", "FP32", "FP64"}
_PY_DATATYPES = {"int": "INT64", "float": "FP64", "bool": "BOOL", "str": "BYTES", "bytes": "BYTES"}


def datatype_of_dtype(dtype: Any) -> str | None:
    """The V2 datatype of a numpy dtype (strings and objects: BYTES), None if none fits (complex)."""
    dt = np.dtype(dtype)
    if dt.kind in "USO":
        return "BYTES"
    return DATATYPE_OF.get(dt.newbyteorder("=") if dt.byteorder not in "=|" else dt)


def port_datatype(port: Port) -> str:
    """The datatype a port's tensor has in the model metadata."""
    dt = port.dtype
    if dt in _PY_DATATYPES:
        return _PY_DATATYPES[dt]
    if dt == NDARRAY:
        return "FP32"
    if dt in (ANY, "list", "dict"):
        return "BYTES"
    return datatype_of_dtype(dt) or "BYTES"


def port_shape(port: Port) -> list[int]:
    """The shape a port's tensor has in the model metadata: [1] for a scalar, -1 where not fixed."""
    if port.dtype in (ANY, NDARRAY, "list", "dict") or port.shape is None:
        return [-1]
    if port.shape == ():
        return [1]
    return [d if isinstance(d, int) and not isinstance(d, bool) else -1 for d in port.shape]


def is_scalar(port: Port) -> bool:
    """Is a port's value one element (a tensor of shape [1])?"""
    return port.dtype in _PY_DATATYPES or (port.dtype not in (ANY, NDARRAY, "list", "dict") and port.shape == ())


def accepted_datatypes(port: Port) -> frozenset[str] | None:
    """The datatypes an input port takes (None: any)."""
    dt = port.dtype
    if dt in (ANY, "list"):
        return None
    if dt == "float":
        return NUMBERS
    if dt == "int":
        return INTEGERS
    if dt == NDARRAY:
        return frozenset(NUMPY_OF)
    return frozenset({port_datatype(port)})


def tensor_metadata(name: str, port: Port) -> dict[str, Any]:
    return {"name": name, "datatype": port_datatype(port), "shape": port_shape(port)}


def output_ports(entry: GraphEntry) -> dict[str, Port]:
    """The graph's output tensors: its outputs (every node's ports for a graph without outputs)."""
    form = entry.form
    return {k: form.fetch_port(k) for k in form.default_fetches()}


def model_metadata(entry: GraphEntry) -> dict[str, Any]:
    """GET /v2/models/{name}: name, versions, platform, inputs and outputs (name, datatype, shape)."""
    return {"name": entry.name, "versions": [MODEL_VERSION], "platform": PLATFORM,
            "inputs": [tensor_metadata(n, p) for n, p in entry.graph.inputs.items()],
            "outputs": [tensor_metadata(n, p) for n, p in output_ports(entry).items()]}


def server_metadata() -> dict[str, Any]:
    """GET /v2: the server's name, version and the protocol extensions it implements."""
    return {"name": SERVER_NAME, "version": __version__, "extensions": list(EXTENSIONS)}
