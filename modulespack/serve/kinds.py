"""Form kinds of ports, and the audio-pairing convention.

Kinds (what a UI builds a field for): ``audio``, ``text``, ``number``, ``integer``, ``boolean``,
``array`` and ``any``.

The audio convention (which ports are audio, which input carries an audio input's rate, where an
audio output's rate comes from) is `modulespack.io.audio_ports`, shared with the command line. For
the API: the client uploads a WAV for an audio input and the server fills its rate input (left out
of the listing's form); an audio output whose rate the graph does not give is an ``array``.

`GraphForm` (``form.py``) applies this to a whole graph.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Port

KINDS = ("audio", "text", "number", "integer", "boolean", "array", "any")

_SIMPLE = {"any": "any", "str": "text", "bool": "boolean", "int": "integer", "float": "number",
           "list": "array", "ndarray": "array", "bytes": "any", "dict": "any"}


def port_kind(port: Port) -> str:
    """The form kind of a port, ignoring the audio convention (see `GraphForm`)."""
    dt = port.dtype
    if dt in _SIMPLE:
        return _SIMPLE[dt]
    if port.shape == ():
        k = np.dtype(dt).kind
        return {"f": "number", "i": "integer", "u": "integer", "b": "boolean", "U": "text"}.get(k, "any")
    return "array"


def port_info(port: Port, kind: str) -> dict[str, Any]:
    """A port in the graph listing: kind, dtype, shape, doc."""
    return {"kind": kind, "dtype": port.dtype, "shape": None if port.shape is None else list(port.shape),
            "doc": port.doc}
