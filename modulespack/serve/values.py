"""JSON and text values -> what a port takes: one decoder per input port, built once per graph.

Every decoder raises `ServeError(422)` naming the port, with what was expected and what came.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Callable

import numpy as np

from ..core import Port
from ..core.ports import value_checker
from .errors import ServeError


MAX_JSON_DEPTH = 100  # nesting of lists and objects in a request's JSON (arrays need their ndim, <= 64)


class JSONDepthError(ValueError):
    """JSON nested deeper than MAX_JSON_DEPTH (a ValueError: callers answer 422 as for invalid JSON)."""


def _too_deep(obj: Any, limit: int) -> bool:
    """Is `obj` (parsed JSON) nested more than `limit` lists/objects deep? Iterative: no recursion."""
    containers = (list, dict)
    stack = [(obj, 1)] if type(obj) in containers else []
    while stack:
        v, depth = stack.pop()
        if depth > limit:
            return True
        items = v.values() if type(v) is dict else v
        if type(v) is list and not any(t in containers for t in set(map(type, v))):
            continue  # a list of numbers (the common big case): one C-level pass
        stack += [(x, depth + 1) for x in items if type(x) in containers]
    return False


class NonFiniteJSON(ValueError):
    """A JSON number that is not finite: NaN, Infinity, -Infinity, or one that overflows (1e999).
    `path` leads from the top of the document to the first one (object keys and list indices)."""

    def __init__(self, literal: str, path: tuple[str | int, ...]):
        self.literal = literal
        self.path = path
        where = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))
        super().__init__(f"{literal} is not a finite number" + (f" (at {where})" if where else "")
                         + "; JSON input must be finite: NaN, Infinity and numbers beyond the float range "
                           "are refused")


class _NonFinite:
    """Stands in for a non-finite number while parsing, so the error can name where it was."""
    __slots__ = ()


_NON_FINITE = _NonFinite()


def _path_to(obj: Any, target: Any) -> tuple[str | int, ...]:
    stack: list[tuple[Any, tuple]] = [(obj, ())]
    while stack:
        v, path = stack.pop()
        if v is target:
            return path
        if type(v) is dict:
            stack += [(x, path + (k,)) for k, x in reversed(list(v.items()))]
        elif type(v) is list:
            stack += [(x, path + (i,)) for i, x in reversed(list(enumerate(v)))]
    return ()


def loads_json(text: str | bytes) -> Any:
    """`json.loads`, refusing (ValueErrors):

    - JSON nested more than MAX_JSON_DEPTH deep (JSONDepthError): the parser itself would raise
      RecursionError at about 1000, and what is decoded later (arrays, answers echoing an input)
      would not cope with depths near that either;
    - numbers that are not finite (NonFiniteJSON): Python's json takes NaN, Infinity and -Infinity,
      which JSON does not have, and turns 1e999 into inf; modules would get them as values.
    """
    seen: list[str] = []

    def constant(literal: str) -> _NonFinite:  # NaN, Infinity, -Infinity
        seen.append(literal)
        return _NON_FINITE

    def number(literal: str) -> Any:
        v = float(literal)
        if v - v != 0.0:  # inf (a literal never parses to nan): it overflowed
            seen.append(literal)
            return _NON_FINITE
        return v

    try:
        obj = json.loads(text, parse_constant=constant, parse_float=number)
    except RecursionError:
        raise JSONDepthError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    if seen:
        raise NonFiniteJSON(seen[0], _path_to(obj, _NON_FINITE))
    if _too_deep(obj, MAX_JSON_DEPTH):
        raise JSONDepthError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return obj


def b64decode(value: str, port: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ServeError(422, f"input '{port}': invalid base64 ({e})", port=port) from None


def bad_input(port: str, msg: str) -> ServeError:
    return ServeError(422, f"input '{port}': {msg}", port=port)


def _describe(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return f"the number {v!r}"
    if isinstance(v, str):
        return f"the string {v[:40]!r}"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    if isinstance(v, int):
        return True
    return isinstance(v, float) and v.is_integer()


_PLAIN = {"str": (str, "text"), "bool": (bool, "true or false"), "list": (list, "a list"),
          "dict": (dict, "an object")}  # dtype -> (type, what an error says was expected)


def value_decoder(name: str, port: Port) -> Callable[[Any], Any]:
    """A function turning a JSON value into what `port` takes, raising ServeError(422) naming it."""
    dt = port.dtype
    if dt == "any":
        return lambda v: v
    if dt in _PLAIN:
        typ, what = _PLAIN[dt]

        def dec_plain(v):
            if isinstance(v, typ):
                return v
            raise bad_input(name, f"expected {what}, got {_describe(v)}")
        return dec_plain
    if dt == "float":
        def dec_float(v):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                try:
                    f = float(v)
                except OverflowError:  # an integer beyond the float range
                    raise bad_input(name, f"number out of range ({str(v)[:20]}...)") from None
                if f - f != 0.0:  # from a form field or the query: float("nan"), float("inf")
                    raise bad_input(name, f"expected a finite number, got {v!r}")
                return f
            raise bad_input(name, f"expected a number, got {_describe(v)}")
        return dec_float
    if dt == "int":
        def dec_int(v):
            if _is_int(v):
                return int(v)
            raise bad_input(name, f"expected an integer, got {_describe(v)}")
        return dec_int
    if dt == "bytes":
        def dec_bytes(v):
            if isinstance(v, (bytes, bytearray)):
                return bytes(v)
            if isinstance(v, dict) and isinstance(v.get("base64"), str):
                return b64decode(v["base64"], name)
            if isinstance(v, str):
                return v.encode("utf-8")
            raise bad_input(name, f'expected {{"base64": "..."}} or text, got {_describe(v)}')
        return dec_bytes
    return _array_decoder(name, port)


def _array_decoder(name: str, port: Port) -> Callable[[Any], Any]:
    want = None if port.dtype == "ndarray" else np.dtype(port.dtype)
    check = value_checker(port)
    scalar = port.shape == ()

    def dec_array(v):
        if isinstance(v, np.ndarray):
            arr = v
        else:
            if isinstance(v, (str, dict)) or v is None:
                what = "a number" if scalar else "a (nested) list of numbers"
                raise bad_input(name, f"expected {what}, got {_describe(v)}")
            try:
                raw = np.asarray(v)
                if want is not None and want.kind in "iu" and raw.dtype.kind == "f":
                    if raw.size and not np.all(np.isfinite(raw) & (raw == np.round(raw))):
                        raise bad_input(name, f"expected integers for dtype {want.name}, got fractional numbers")
                if want is not None and want.kind in "iufb" and raw.dtype.kind not in "iufb":
                    raise bad_input(name, f"expected numbers for dtype {want.name}, got "
                                     f"{'ragged or mixed lists' if raw.dtype.kind == 'O' else 'non-numbers'}")
                if want is not None and want.kind in "iu" and raw.size and raw.dtype.kind in "iu":
                    info = np.iinfo(want)
                    if raw.min() < info.min or raw.max() > info.max:
                        raise bad_input(name, f"value out of range for {want.name} ({info.min} .. {info.max})")
                if want is not None and want.kind == "f" and raw.size and raw.dtype.kind in "iuf":
                    # a finite number beyond the dtype's range would become inf (1e300 as float32)
                    fmax = np.finfo(want).max
                    if np.abs(raw.astype(np.float64)).max() > fmax:
                        raise bad_input(name, f"value out of range for {want.name} (-{fmax:.7g} .. {fmax:.7g})")
                arr = raw.astype(want) if want is not None else raw
                if arr.dtype.kind == "O":
                    raise bad_input(name, "expected a rectangular (nested) list of numbers")
            except ServeError:
                raise
            except (TypeError, ValueError, OverflowError) as e:
                raise bad_input(name, f"cannot make a {port.dtype} array: {e}") from None
        if scalar and isinstance(arr, np.ndarray) and arr.ndim == 0:
            arr = arr[()]
        why = check(arr) if check is not None else None
        if why:
            raise bad_input(name, why)
        return arr
    return dec_array


def text_decoder(name: str, port: Port, kind: str, decode: Callable[[Any], Any]) -> Callable[[str], Any]:
    """For form fields and query parameters: parse the text as the kind says, then `decode`."""
    def from_text(s: str) -> Any:
        if kind == "text":
            return decode(s)
        t = s.strip()
        if kind == "number":
            try:
                number = float(t) if not _looks_int(t) else int(t)
            except ValueError:
                raise bad_input(name, f"expected a number, got {s[:40]!r}") from None
            if isinstance(number, float) and number - number != 0.0:  # "nan", "inf", "1e999"
                raise bad_input(name, f"expected a finite number, got {s[:40]!r}")
            return decode(number)
        if kind == "integer":
            try:
                return decode(int(t))
            except ValueError:
                try:
                    f = float(t)
                except ValueError:
                    raise bad_input(name, f"expected an integer, got {s[:40]!r}") from None
                return decode(f)
        if kind == "boolean":
            low = t.lower()
            if low in ("true", "1", "yes", "on"):
                return decode(True)
            if low in ("false", "0", "no", "off", ""):
                return decode(False)
            raise bad_input(name, f"expected true or false, got {s[:40]!r}")
        try:
            value = loads_json(t)
        except JSONDepthError as e:
            raise bad_input(name, f"invalid JSON ({e})") from None
        except ValueError as e:
            if kind == "any" or port.dtype in ("str", "bytes"):
                return decode(s)
            raise bad_input(name, f"invalid JSON ({e})") from None
        return decode(value)
    return from_text


def _looks_int(t: str) -> bool:
    return t.lstrip("+-").isdigit()

