"""V2 tensors on the wire: JSON `data`, raw bytes (the binary tensor data extension, and gRPC's
`raw_*_contents`), and values back to tensors.

The binary extension (what tritonclient's HTTP client sends by default): a request whose JSON part is
followed by raw tensor bytes carries the header `Inference-Header-Content-Length` (the JSON part's
length); each such input says `"parameters": {"binary_data_size": N}` and its N bytes follow in
input order. Raw bytes are little-endian, row-major; a BYTES element is a 4-byte little-endian length
then its bytes. Outputs are answered the same way when asked (`binary_data` per output, or
`binary_data_output` for the whole request).

Every malformed tensor is a `TensorError` naming the tensor (a 400 / INVALID_ARGUMENT). Whole HTTP
infer bodies (the JSON part and the binary data after it): `v2_messages`.
"""
from __future__ import annotations

import json
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .encode import to_jsonable
from .v2_metadata import DATATYPES, NUMPY_OF, datatype_of_dtype

MAX_RANK = 32            # numpy's limit is 64; no model's tensor comes near
MAX_ELEMENTS = 1 << 48   # far past any upload limit, well within what numpy can shape
_LE = {n: dt.newbyteorder("<") for n, dt in NUMPY_OF.items()}
_LENGTH = struct.Struct("<I")


class TensorError(ValueError):
    """A tensor that cannot be read: wrong datatype, shape, or data."""


@dataclass
class Tensor:
    """One tensor: `array` holds its elements in `shape` (BYTES: an object array of bytes)."""
    name: str
    datatype: str
    shape: list[int]
    array: np.ndarray


def check_header(t: Any, what: str = "input") -> tuple[str, str, list[int]]:
    """(name, datatype, shape) of a tensor's JSON header, checked."""
    if not isinstance(t, dict):
        raise TensorError(f"each {what} is an object {{name, datatype, shape, data}}, not {type(t).__name__}")
    name = t.get("name")
    if not isinstance(name, str) or not name:
        raise TensorError(f"an {what} has no name")
    return name, check_datatype(name, t.get("datatype")), check_shape(name, t.get("shape"))


def check_datatype(name: str, datatype: Any) -> str:
    if datatype not in DATATYPES:
        raise TensorError(f"input '{name}': unknown datatype {datatype!r} (one of {', '.join(DATATYPES)})")
    return datatype


def check_shape(name: str, shape: Any) -> list[int]:
    if not isinstance(shape, (list, tuple)) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise TensorError(f"input '{name}': shape must be a list of sizes (integers >= 0), not {shape!r}")
    # past these numpy cannot even make an empty array of the shape (a 0 in it aside): the client's mistake
    if len(shape) > MAX_RANK or math.prod(d for d in shape if d) > MAX_ELEMENTS:
        raise TensorError(f"input '{name}': shape {list(shape)} is too large (at most {MAX_RANK} dimensions "
                          f"and {MAX_ELEMENTS:,} elements)")
    return [int(d) for d in shape]


def _count(shape: Sequence[int]) -> int:
    return math.prod(shape) if shape else 1


def _mismatch(name: str, shape: Sequence[int], n: int, unit: str = "") -> TensorError:
    def elements(k: int) -> str:
        return f"{k} element{'s' if k != 1 else ''}"
    return TensorError(f"input '{name}': shape {list(shape)} holds {elements(_count(shape))}, but its data has "
                       + (f"{n} {unit}" if unit else elements(n)))


def from_raw(name: str, datatype: str, shape: list[int], raw: bytes) -> Tensor:
    """A tensor from its raw bytes (binary extension, gRPC raw contents)."""
    n = _count(shape)
    if datatype == "BYTES":
        items = split_bytes(name, raw)
        if len(items) != n:
            raise _mismatch(name, shape, len(items))
        arr = np.empty(n, dtype=object)
        arr[:] = items
        return Tensor(name, datatype, shape, arr.reshape(shape))
    dt = _LE[datatype]
    if len(raw) != n * dt.itemsize:
        raise _mismatch(name, shape, len(raw), f"bytes ({datatype}: {dt.itemsize} per element, "
                                                f"{n * dt.itemsize} expected)")
    # a copy: writable and native-endian, as the native route's arrays are
    arr = np.frombuffer(raw, dtype=dt).astype(NUMPY_OF[datatype]).reshape(shape)
    return Tensor(name, datatype, shape, arr)


def split_bytes(name: str, raw: bytes) -> list[bytes]:
    """The elements of a raw BYTES tensor: each a 4-byte little-endian length, then its bytes."""
    out, i, end = [], 0, len(raw)
    view = memoryview(raw)
    while i < end:
        if i + 4 > end:
            raise TensorError(f"input '{name}': BYTES data ends inside an element's 4-byte length")
        (k,) = _LENGTH.unpack_from(raw, i)
        i += 4
        if i + k > end:
            raise TensorError(f"input '{name}': a BYTES element of {k} bytes runs past the data's end")
        out.append(bytes(view[i:i + k]))
        i += k
    return out


def from_json(name: str, datatype: str, shape: list[int], data: Any) -> Tensor:
    """A tensor from its JSON `data`: a flat, row-major list (nested lists are flattened)."""
    if data is None:
        raise TensorError(f"input '{name}': no data (give 'data', or binary data with "
                          f"parameters.binary_data_size)")
    flat = _flatten(data)
    if len(flat) != _count(shape):
        raise _mismatch(name, shape, len(flat))
    if datatype == "BYTES":
        if not all(isinstance(x, str) for x in flat):
            raise TensorError(f"input '{name}': BYTES data in JSON are strings")
        arr = np.empty(len(flat), dtype=object)
        arr[:] = [x.encode("utf-8") for x in flat]
        return Tensor(name, datatype, shape, arr.reshape(shape))
    if datatype == "BOOL":
        ok = all(isinstance(x, bool) for x in flat)
    elif datatype.startswith(("INT", "UINT")):
        ok = all(isinstance(x, int) and not isinstance(x, bool) for x in flat)
    else:
        ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in flat)
    if not ok:
        want = "true or false" if datatype == "BOOL" else \
            "integers" if datatype.startswith(("INT", "UINT")) else "numbers"
        raise TensorError(f"input '{name}': {datatype} data are {want}")
    dt = NUMPY_OF[datatype]
    try:
        arr = np.array(flat, dtype=dt) if flat else np.empty(0, dtype=dt)
    except OverflowError:
        raise TensorError(f"input '{name}': a value is out of range for {datatype}") from None
    if dt.kind == "f" and arr.size and not np.isfinite(arr).all():
        raise TensorError(f"input '{name}': a value is out of range for {datatype}")
    return Tensor(name, datatype, shape, arr.reshape(shape))


def _flatten(data: Any) -> list:
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(x, list) for x in data):
        return data
    out: list = []
    stack = [iter(data)]
    while stack:
        for x in stack[-1]:
            if isinstance(x, list):
                stack.append(iter(x))
                break
            out.append(x)
        else:
            stack.pop()
    return out


# --------------------------------------------------------------------------- outputs


def to_array(value: Any) -> tuple[str, np.ndarray]:
    """(datatype, array) of an output value by what it is: numbers and arrays as their dtype, text
    and bytes as BYTES; anything else (a dict, a ragged list, complex numbers) BYTES of its JSON."""
    if isinstance(value, (str, bytes, bytearray)):
        return "BYTES", _bytes_array([value])
    if isinstance(value, (bool, np.bool_)):
        return "BOOL", np.asarray([bool(value)])
    if isinstance(value, int):
        return "INT64", np.asarray([value], dtype=np.int64)
    if isinstance(value, float):
        return "FP64", np.asarray([value], dtype=np.float64)
    if isinstance(value, (np.ndarray, np.generic, list, tuple)):
        try:
            arr = np.asarray(value)
        except ValueError:  # ragged
            arr = None
        if arr is not None:
            datatype = datatype_of_dtype(arr.dtype)
            if datatype == "BYTES":
                flat = arr.ravel().tolist()
                if all(isinstance(x, (str, bytes)) for x in flat):
                    return "BYTES", _bytes_array(flat).reshape(arr.shape or (1,))
            elif datatype is not None:
                return datatype, arr.reshape(arr.shape or (1,))
    return "BYTES", _bytes_array([json.dumps(to_jsonable(value), ensure_ascii=False)])


def _bytes_array(items: list) -> np.ndarray:
    arr = np.empty(len(items), dtype=object)
    arr[:] = [x.encode("utf-8") if isinstance(x, str) else bytes(x) for x in items]
    return arr


def to_raw(datatype: str, arr: np.ndarray) -> bytes:
    """A tensor's raw bytes: little-endian, row-major; BYTES elements length-prefixed."""
    if datatype == "BYTES":
        return b"".join(_LENGTH.pack(len(b)) + b for b in arr.ravel().tolist())
    return np.ascontiguousarray(arr, dtype=_LE[datatype]).tobytes()


def to_json_data(datatype: str, arr: np.ndarray) -> list | None:
    """A tensor's JSON `data` (flat, row-major), or None if it cannot be JSON (BYTES that are not
    UTF-8 text: send them as binary data). Non-finite numbers are null (tritonclient reads NaN)."""
    flat = arr.ravel()
    if datatype == "BYTES":
        try:
            return [b.decode("utf-8") for b in flat.tolist()]
        except UnicodeDecodeError:
            return None
    return to_jsonable(flat)
