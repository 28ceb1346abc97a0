"""Typed ports: what a module takes and gives, checked along edges at build time and on values at run time."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np

# Kinds for plain Python values; everything else must be a numpy dtype name.
PY_KINDS: dict[str, tuple[type, ...]] = {
    "int": (int, np.integer),
    "float": (float, int, np.floating, np.integer),
    "str": (str,),
    "bytes": (bytes, bytearray),
    "bool": (bool, np.bool_),
    "list": (list, tuple),
    "dict": (dict,),
}
ANY = "any"
NDARRAY = "ndarray"  # a numpy array of any dtype
_ALIASES = {
    "object": ANY, "None": ANY, "": ANY, "string": "str", "text": "str", "integer": "int",
    "number": "float", "double": "float64", "array": NDARRAY,
}
_PY_TYPES = {int: "int", float: "float", str: "str", bytes: "bytes", bool: "bool", list: "list",
             dict: "dict", object: ANY, np.ndarray: NDARRAY}

Shape = tuple  # of int | str | None


def normalise_dtype(dtype: Any) -> str:
    """Canonical dtype name: a numpy dtype name, a Python kind, 'ndarray' or 'any'.

    >>> normalise_dtype(np.float32), normalise_dtype(str), normalise_dtype("f4")
    ('float32', 'str', 'float32')
    """
    if dtype is None:
        return ANY
    if isinstance(dtype, type) and dtype in _PY_TYPES:
        return _PY_TYPES[dtype]
    if isinstance(dtype, str):
        if dtype in PY_KINDS or dtype in (ANY, NDARRAY):
            return dtype
        if dtype in _ALIASES:
            return _ALIASES[dtype]
    try:
        return np.dtype(dtype).name
    except TypeError:
        raise ValueError(f"unknown dtype {dtype!r}: use a numpy dtype name (float32, int16...), "
                         f"one of {sorted(PY_KINDS)}, 'ndarray' or 'any'") from None


def is_array_dtype(dtype: str) -> bool:
    return dtype not in PY_KINDS and dtype != ANY


AttrValue = int | float | str


class Attrs(Mapping):
    """What a port's values are, beyond dtype and shape: an immutable, hashable name -> int/float/str
    mapping (e.g. sr=16000, frame_shift=80, dim=25), checked along edges at build time only.

    >>> Attrs({"sr": 16000}) == {"sr": 16000}, Attrs() == {}
    (True, True)
    """

    __slots__ = ("_d", "_hash")

    def __init__(self, values: Mapping[str, Any] | None = None):
        d = dict(values or {})
        for k, v in d.items():
            if not isinstance(k, str) or not k:
                raise ValueError(f"port attribute names are non-empty strings, not {k!r}")
            # bool is refused: True == 1 would make a flag agree with a size
            if isinstance(v, bool) or not isinstance(v, (int, float, str)):
                raise ValueError(f"port attribute '{k}' must be an int, float or str, not {v!r}")
        self._d = d
        self._hash = hash(frozenset(d.items()))

    def __getitem__(self, k: str) -> AttrValue:
        return self._d[k]

    def __iter__(self) -> Iterator[str]:
        return iter(self._d)

    def __len__(self) -> int:
        return len(self._d)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and self._d == dict(other)

    def __repr__(self) -> str:
        return f"Attrs({self._d!r})"

    def __reduce__(self):
        return (Attrs, (self._d,))


NO_ATTRS = Attrs()


def attrs_agree(a: AttrValue, b: AttrValue) -> bool:
    """Equal, with floats compared to rounding (5.0 ms from 80 / 16000 * 1000 equals 5.0)."""
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return a == b or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@dataclass(frozen=True)
class Port:
    """A typed input or output.

    `shape` is a tuple of fixed sizes (int), any length (None) or named sizes (str) that must
    agree across edges; `shape=None` leaves the rank unchecked. `attrs` (see `Attrs`) say what the
    values are (sample rate, frame shift, feature dimension): the build checks them along edges
    and lets modules compute their outputs' from their inputs' (`Module.port_attrs`); run-time
    checks never look at them.

    >>> Port("float32", (None, "n_mels"))
    Port('float32', (None, 'n_mels'))
    """

    dtype: str = ANY
    shape: Shape | None = None
    doc: str = ""
    attrs: Attrs = NO_ATTRS

    def __init__(self, dtype: Any = ANY, shape: Any = None, doc: str = "", attrs: Mapping[str, Any] | None = None):
        dt = normalise_dtype(dtype)
        if shape is not None:
            shape = tuple(shape)
            for d in shape:
                if d is not None and not isinstance(d, (int, str)):
                    raise ValueError(f"bad shape entry {d!r}: use an int, None or a name")
        elif dt in PY_KINDS and dt not in ("list",):
            shape = ()
        object.__setattr__(self, "dtype", dt)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "doc", doc)
        object.__setattr__(self, "attrs", attrs if isinstance(attrs, Attrs) else Attrs(attrs) if attrs else NO_ATTRS)

    def __repr__(self) -> str:
        r = f"Port({self.dtype!r}, {self.shape!r}" if self.shape is not None else f"Port({self.dtype!r}"
        return r + (f", attrs={dict(self.attrs)!r})" if self.attrs else ")")

    def with_attrs(self, attrs: Mapping[str, Any] | None) -> "Port":
        """The same port with these attributes instead of its own."""
        new = attrs if isinstance(attrs, Attrs) else Attrs(attrs)
        return self if new == self.attrs else Port(self.dtype, self.shape, self.doc, new)

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def resolve(self, sizes: dict[str, Any]) -> "Port":
        """Replace named sizes that a node's parameters fix (e.g. `n_mels=80`) by their value."""
        if not self.shape or not any(isinstance(d, str) for d in self.shape):
            return self
        new = tuple(sizes[d] if isinstance(d, str) and isinstance(sizes.get(d), int)
                    and not isinstance(sizes.get(d), bool) else d for d in self.shape)
        return Port(self.dtype, new, self.doc, self.attrs) if new != self.shape else self

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"dtype": self.dtype}
        if self.shape is not None:
            d["shape"] = list(self.shape)
        if self.doc:
            d["doc"] = self.doc
        if self.attrs:
            d["attrs"] = dict(self.attrs)
        return d

    @classmethod
    def from_spec(cls, spec: Any) -> "Port":
        """A port from a graph file entry: None, a dtype string, or {dtype, shape, doc, attrs}."""
        if isinstance(spec, Port):
            return spec
        if spec is None:
            return cls()
        if isinstance(spec, str):
            return cls(spec)
        if isinstance(spec, dict):
            unknown = set(spec) - {"dtype", "shape", "doc", "default", "attrs"}
            if unknown:
                raise ValueError(f"unknown port field(s) {sorted(unknown)}; expected dtype, shape, doc, attrs")
            attrs = spec.get("attrs")
            if attrs is not None and not isinstance(attrs, Mapping):
                raise ValueError(f"'attrs' must be a mapping of name -> int, float or str, not {attrs!r}")
            return cls(spec.get("dtype", ANY), spec.get("shape"), spec.get("doc", ""), attrs)
        raise ValueError(f"a port is a dtype string or a mapping with dtype/shape, not {spec!r}")


def edge_problem(src: Port, dst: Port) -> str | None:
    """Why a value from port `src` cannot go into port `dst`, or None if it can."""
    if ANY not in (src.dtype, dst.dtype) and src.dtype != dst.dtype:
        ok = (dst.dtype == NDARRAY and is_array_dtype(src.dtype)) or \
             (src.dtype == NDARRAY and is_array_dtype(dst.dtype)) or \
             (src.dtype == "int" and dst.dtype == "float")
        if not ok:
            return f"dtype mismatch: {src.dtype} flows into {dst.dtype}"
    if src.shape is None or dst.shape is None or ANY in (src.dtype, dst.dtype):
        return None
    if len(src.shape) != len(dst.shape):
        return f"rank mismatch: shape {_fmt(src.shape)} flows into {_fmt(dst.shape)}"
    for i, (a, b) in enumerate(zip(src.shape, dst.shape)):
        if isinstance(a, int) and isinstance(b, int) and a != b:
            return f"size mismatch in dim {i}: {a} flows into {b} (shapes {_fmt(src.shape)} -> {_fmt(dst.shape)})"
    return None


def _fmt(shape: Shape) -> str:
    return "(" + ", ".join("*" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def value_checker(port: Port) -> Callable[[Any], str | None] | None:
    """A fast function returning why a value does not fit `port` (or None), or None if anything fits.

    Built once per port so the per-run cost is a type test and a few comparisons.
    """
    dt = port.dtype
    if dt == ANY:
        return None
    if dt in PY_KINDS:
        types = PY_KINDS[dt]
        bad_bool = dt in ("int", "float")

        def check_py(v, types=types, dt=dt):
            if isinstance(v, types) and not (bad_bool and isinstance(v, (bool, np.bool_))):
                return None
            if dt in ("int", "float") and isinstance(v, np.ndarray) and v.ndim == 0 and \
                    isinstance(v.item(), types) and not isinstance(v.item(), bool):
                return None
            return f"expected {dt}, got {_describe(v)}"
        return check_py

    want = None if dt == NDARRAY else np.dtype(dt)
    shape = port.shape
    rank = None if shape is None else len(shape)
    fixed = () if shape is None else tuple((i, d) for i, d in enumerate(shape) if isinstance(d, int))
    ndarray = np.ndarray
    generic = np.generic

    def check_array(v):
        if type(v) is not ndarray:
            if isinstance(v, generic) and rank in (None, 0):
                if want is None or v.dtype == want:
                    return None
            elif not isinstance(v, ndarray):
                return f"expected a numpy array of {dt}{'' if shape is None else ' ' + _fmt(shape)}, got {_describe(v)}"
        if want is not None and v.dtype != want:
            return f"expected dtype {dt}, got {v.dtype.name} array"
        if rank is not None and v.ndim != rank:
            return f"expected rank {rank} {_fmt(shape)}, got shape {tuple(v.shape)}"
        for i, d in fixed:
            if v.shape[i] != d:
                return f"expected size {d} in dim {i} {_fmt(shape)}, got shape {tuple(v.shape)}"
        return None
    return check_array


def _describe(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"{v.dtype.name} array of shape {tuple(v.shape)}"
    return type(v).__name__


def coerce(port: Port, value: Any) -> Any:
    """A value written in a graph file (YAML/JSON: int, float, list) in the port's own type.

    >>> coerce(Port("float32", ()), 2.0).dtype, coerce(Port("float32", (None,)), [1, 2]).dtype
    (dtype('float32'), dtype('float32'))
    """
    dt = port.dtype
    if value is None or dt in (ANY,) or dt in PY_KINDS:
        return float(value) if dt == "float" and isinstance(value, int) and not isinstance(value, bool) else value
    if dt == NDARRAY:
        return np.asarray(value)
    arr = np.asarray(value, dtype=np.dtype(dt))
    return arr[()] if arr.ndim == 0 else arr
