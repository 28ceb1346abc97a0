"""Form kinds of ports, and the audio-pairing convention.

Kinds (what a UI builds a field for): ``audio``, ``text``, ``number``, ``integer``, ``boolean``,
``array`` and ``any``.

The audio convention: a graph input that is a 1-D float array (``float32 (None,)``) whose name
contains ``wav`` or ``audio`` is ONE audio input, together with an integer/number input for its
sample rate. The rate input is found by name: ``ref_wav`` pairs with ``ref_sr`` /
``ref_sample_rate`` first, then ``ref_wav_sr``, then plain ``sr``, ``sample_rate``,
``samplerate`` or ``fs``. The client uploads a WAV for the audio input and the server fills
the rate input from the file (the rate input is left out of the listing's form). Outputs pair
the same way; an audio output without a rate output of its own takes the rate fed to the
graph's rate input (``wav, sr -> ... -> wav``). An audio output that has no rate anywhere is an
``array``. An audio input without a rate input is still ``audio``; its rate is then not passed on.

`GraphForm` (``form.py``) applies this to a whole graph.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..core import Port
from ..core.ports import PY_KINDS

KINDS = ("audio", "text", "number", "integer", "boolean", "array", "any")
AUDIO_WORDS = ("wav", "audio")
RATE_NAMES = ("sr", "sample_rate", "samplerate", "fs")

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


def is_float_vector(port: Port) -> bool:
    if port.dtype in PY_KINDS or port.dtype in ("any", "ndarray"):
        return False
    return np.dtype(port.dtype).kind == "f" and port.shape is not None and len(port.shape) == 1


def is_rate(port: Port) -> bool:
    return port_kind(port) in ("integer", "number")


def is_audio_name(name: str) -> bool:
    low = name.lower().rsplit("/", 1)[-1]
    return any(w in low for w in AUDIO_WORDS)


def is_audio(name: str, port: Port) -> bool:
    """An audio port by the convention: an audio-ish name and a 1-D float array."""
    return is_audio_name(name) and is_float_vector(port)


def rate_candidates(name: str) -> list[str]:
    """Names of a rate port for audio port `name`, best first (node/port names keep their node)."""
    node, slash, port = name.rpartition("/")
    prefix = node + slash
    low = port.lower()
    out = []
    for w in AUDIO_WORDS:
        i = low.find(w)
        if i >= 0:
            for r in RATE_NAMES:
                cand = port[:i] + r + port[i + len(w):]
                if cand != port:
                    out.append(cand)
    out += [f"{port}_{r}" for r in RATE_NAMES]
    out += list(RATE_NAMES)
    return [prefix + c for c in dict.fromkeys(out)]


def port_info(port: Port, kind: str) -> dict[str, Any]:
    """A port in the graph listing: kind, dtype, shape, doc."""
    return {"kind": kind, "dtype": port.dtype, "shape": None if port.shape is None else list(port.shape),
            "doc": port.doc}
