"""The audio-port convention, shared by the command line and the server.

Which ports are audio:
  a port whose name contains ``wav`` or ``audio`` (in its last ``/`` part) and that is a 1-D float
  array (``float32 (None,)``) is audio. An untyped port (``any``/``ndarray``) with such a name is
  audio when its value is a 1-D float array (`is_audio_value`; modulespack2 modules declare no
  core types).

Which input carries an audio input's rate (`rate_input`):
  an ``int``/``float`` input named after it: ``ref_wav`` pairs with ``ref_sr`` /
  ``ref_sample_rate`` first, then ``ref_wav_sr``, then plain ``sr``, ``sample_rate``,
  ``samplerate`` or ``fs`` (`rate_candidates`). A WAV file given for the audio input fills it.

Where an audio output's rate comes from (`output_rate`), as a source string:
  1. ``out:<key>``: a rate output beside it, named as above (``synth/wav`` -> ``synth/sr``;
     graph output ``out_wav`` -> ``out_sr`` ... ``sr``);
  2. else the nearest node upstream, its producer first, with a rate output (``out:<node/port>``)
     or a rate input fed by a graph input (``in:<input>``), another node (``out:<node/port>``)
     or a constant (``const:<value>``): ``wav, sr -> analysis -> synthesis(sr=$sr) -> wav`` takes
     the rate fed in, and a graph that resamples takes the resampler's;
  3. else the graph's one rate input, when it has exactly one (``in:<input>``);
  4. else None: the graph does not say.
`rate_value` turns a source into the number for one run.

Also here: the ``wav_format`` names of written WAV files (`WAV_SUBTYPES`) and the cleaner that
makes file names from output names (`file_stem`).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import numpy as np

from ..core.ports import ANY, NDARRAY, PY_KINDS, Port
from ..core.spec import Const, Edge, GraphInput

AUDIO_WORDS = ("wav", "audio")
RATE_NAMES = ("sr", "sample_rate", "samplerate", "fs")

#: wav_format name -> `modulespack.io.write_wav` subtype
# Hz: above any audio interface's rate. A rate past it is a mistake, and refused before resampling:
# soxr takes seconds at ~1e9 Hz and never returns at ~1e15 Hz (measured, soxr 0.5)
MAX_RATE = 768_000
WAV_SUBTYPES = {"pcm16": "PCM_16", "pcm32": "PCM_32", "float": "FLOAT"}


# --------------------------------------------------------------------------- ports


def is_float_vector(port: Port) -> bool:
    if port.dtype in PY_KINDS or port.dtype in (ANY, NDARRAY):
        return False
    return np.dtype(port.dtype).kind == "f" and port.shape is not None and len(port.shape) == 1


def is_rate(port: Port) -> bool:
    """A port that can carry a sample rate: an int or float scalar."""
    dt = port.dtype
    if dt in ("int", "float"):
        return True
    if dt in PY_KINDS or dt in (ANY, NDARRAY):
        return False
    return port.shape == () and np.dtype(dt).kind in "iuf"


def is_audio_name(name: str) -> bool:
    low = name.lower().rsplit("/", 1)[-1]
    return any(w in low for w in AUDIO_WORDS)


def is_audio(name: str, port: Port) -> bool:
    """An audio port by the convention: an audio-ish name and a 1-D float array."""
    return is_audio_name(name) and is_float_vector(port)


def is_audio_value(name: str, port: Port | None, value: Any) -> bool:
    """Is this value of port `name` audio? A declared audio port, or an untyped one carrying samples."""
    if not (isinstance(value, np.ndarray) and value.ndim == 1 and value.dtype.kind == "f"):
        return False
    if port is None or port.dtype in (ANY, NDARRAY):
        return is_audio_name(name)
    return is_audio(name, port)


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


# --------------------------------------------------------------------------- inputs


def rate_input(graph: Any, name: str, exclude: Iterable[str] = ()) -> str | None:
    """The graph input that carries the rate of input `name` (see the module docstring), or None."""
    skip = set(exclude) | {name}
    return next((c for c in rate_candidates(name)
                 if c in graph.inputs and c not in skip and is_rate(graph.inputs[c])), None)


def audio_inputs(graph: Any) -> dict[str, str | None]:
    """The graph's audio inputs, each with the input that carries its rate (or None)."""
    audio = [n for n, p in graph.inputs.items() if is_audio(n, p)]
    return {n: rate_input(graph, n, exclude=audio) for n in audio}


# --------------------------------------------------------------------------- outputs


def default_fetches(graph: Any) -> tuple[str, ...]:
    """What a run computes when nothing is fetched: the graph outputs, or every node output."""
    if graph.spec.outputs:
        return tuple(graph.spec.outputs)
    return tuple(f"{n}/{p}" for n in graph.order for p in graph.nodes[n].outputs)


def fetch_port(graph: Any, key: str) -> Port | None:
    """The port of a graph output or `node/port`, or None when there is no such thing."""
    if key in graph.outputs:
        return graph.outputs[key]
    node, _, port = key.partition("/")
    n = graph.nodes.get(node)
    return n.outputs.get(port) if n is not None else None


def rate_beside(graph: Any, key: str) -> str | None:
    """Rule 1: a rate output named after audio output `key` (``out:<key>``), or None."""
    for c in rate_candidates(key):
        p = fetch_port(graph, c)
        if p is not None and is_rate(p):
            return "out:" + c
    return None


def rate_upstream(graph: Any, key: str) -> str | None:
    """Rule 2: the nearest node upstream of output `key` (its producer first) that says its rate."""
    ref = graph.spec.outputs.get(key)
    start = ref.node if ref is not None else key.partition("/")[0]
    if start not in graph.nodes:
        return None
    queue, seen = [start], {start}
    while queue:
        n = queue.pop(0)
        node = graph.nodes[n]
        for port, p in node.outputs.items():
            if port in RATE_NAMES and is_rate(p):
                return f"out:{n}/{port}"
        for port, src in node.sources.items():
            if port in RATE_NAMES and is_rate(node.inputs.get(port, Port())):
                if isinstance(src, GraphInput):
                    return "in:" + src.name
                if isinstance(src, Edge):
                    return f"out:{src.node}/{src.port}"
                if isinstance(src, Const) and isinstance(src.value, (int, float)):
                    return f"const:{src.value}"
        for src in node.sources.values():
            if isinstance(src, Edge) and src.node not in seen:
                seen.add(src.node)
                queue.append(src.node)
    return None


def output_rate(graph: Any, key: str) -> str | None:
    """Where the rate of audio output `key` comes from: ``out:<fetch>``, ``in:<input>``,
    ``const:<value>``, or None (rules in the module docstring)."""
    rate = rate_beside(graph, key) or rate_upstream(graph, key)
    if rate is None:
        rates = {r for r in audio_inputs(graph).values() if r}
        if len(rates) == 1:
            rate = "in:" + rates.pop()
    return rate


def rate_value(source: str, outputs: Mapping[str, Any], feeds: Mapping[str, Any],
               defaults: Mapping[str, Any]) -> Any:
    """The rate a source gives in one run; LookupError naming what is missing."""
    where, _, name = source.partition(":")
    if where == "out":
        if name not in outputs:
            raise LookupError(f"output '{name}' (the sample rate) was not computed")
        return outputs[name]
    if where == "const":
        return float(name)
    if name in feeds:
        return feeds[name]
    if defaults.get(name) is not None:
        return defaults[name]
    raise LookupError(f"input '{name}' (the sample rate) was not given")


def as_rate(value: Any) -> int:
    """A rate value as a whole number of Hz > 0; ValueError otherwise."""
    v = value.item() if isinstance(value, (np.ndarray, np.generic)) else value
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or int(v) != v or v <= 0:
        raise ValueError(f"sample rate must be a whole number of Hz above 0, got {value!r}")
    return int(v)


# --------------------------------------------------------------------------- files


def file_stem(*parts: str, limit: int = 80) -> str:
    """A safe file name (no extension) from output names: ASCII letters, digits, ``-_.``; parts
    joined by ``-`` and ``/`` as ``_``, so it is also fit for an HTTP header."""
    text = "-".join(parts).replace("/", "_")
    stem = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "_" for c in text)[:limit]
    return stem.strip(".") or "output"
