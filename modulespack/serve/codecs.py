"""What a graph's ports look like on the wire: form kinds, the audio convention, and the codecs
that turn request values into feeds and run outputs into JSON or WAV.

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
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..core import BuiltGraph, Port
from ..core.ports import PY_KINDS, value_checker
from .errors import ServeError

KINDS = ("audio", "text", "number", "integer", "boolean", "array", "any")
AUDIO_WORDS = ("wav", "audio")
RATE_NAMES = ("sr", "sample_rate", "samplerate", "fs")


# --------------------------------------------------------------------------- kinds


def port_kind(port: Port) -> str:
    """The form kind of a port, ignoring the audio convention (see `GraphForm`)."""
    dt = port.dtype
    simple = {"any": "any", "str": "text", "bool": "boolean", "int": "integer", "float": "number",
              "list": "array", "ndarray": "array", "bytes": "any", "dict": "any"}
    if dt in simple:
        return simple[dt]
    if port.shape == ():
        k = np.dtype(dt).kind
        return {"f": "number", "i": "integer", "u": "integer", "b": "boolean", "U": "text"}.get(k, "any")
    return "array"


def _is_float_vector(port: Port) -> bool:
    if port.dtype in PY_KINDS or port.dtype in ("any", "ndarray"):
        return False
    return np.dtype(port.dtype).kind == "f" and port.shape is not None and len(port.shape) == 1


def _is_rate(port: Port) -> bool:
    return port_kind(port) in ("integer", "number")


def _audio_name(name: str) -> bool:
    low = name.lower().rsplit("/", 1)[-1]
    return any(w in low for w in AUDIO_WORDS)


def _rate_candidates(name: str) -> list[str]:
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
    seen, res = set(), []
    for c in out:
        if c not in seen:
            seen.add(c)
            res.append(prefix + c)
    return res


def port_info(port: Port, kind: str) -> dict[str, Any]:
    d: dict[str, Any] = {"kind": kind, "dtype": port.dtype,
                         "shape": None if port.shape is None else list(port.shape), "doc": port.doc}
    return d


# --------------------------------------------------------------------------- input decoding


def _b64(value: str, port: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ServeError(422, f"input '{port}': invalid base64 ({e})", port=port) from None


def _bad(port: str, msg: str) -> ServeError:
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


def value_decoder(name: str, port: Port) -> Callable[[Any], Any]:
    """A function turning a JSON value into what `port` takes, raising ServeError(422) naming it."""
    dt = port.dtype
    if dt == "any":
        return lambda v: v
    if dt == "str":
        def dec_str(v):
            if isinstance(v, str):
                return v
            raise _bad(name, f"expected text, got {_describe(v)}")
        return dec_str
    if dt == "float":
        def dec_float(v):
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
            raise _bad(name, f"expected a number, got {_describe(v)}")
        return dec_float
    if dt == "int":
        def dec_int(v):
            if _is_int(v):
                return int(v)
            raise _bad(name, f"expected an integer, got {_describe(v)}")
        return dec_int
    if dt == "bool":
        def dec_bool(v):
            if isinstance(v, bool):
                return v
            raise _bad(name, f"expected true or false, got {_describe(v)}")
        return dec_bool
    if dt == "list":
        def dec_list(v):
            if isinstance(v, list):
                return v
            raise _bad(name, f"expected a list, got {_describe(v)}")
        return dec_list
    if dt == "dict":
        def dec_dict(v):
            if isinstance(v, dict):
                return v
            raise _bad(name, f"expected an object, got {_describe(v)}")
        return dec_dict
    if dt == "bytes":
        def dec_bytes(v):
            if isinstance(v, (bytes, bytearray)):
                return bytes(v)
            if isinstance(v, dict) and isinstance(v.get("base64"), str):
                return _b64(v["base64"], name)
            if isinstance(v, str):
                return v.encode("utf-8")
            raise _bad(name, f'expected {{"base64": "..."}} or text, got {_describe(v)}')
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
                raise _bad(name, f"expected {what}, got {_describe(v)}")
            try:
                raw = np.asarray(v)
                if want is not None and want.kind in "iu" and raw.dtype.kind == "f":
                    if raw.size and not np.all(np.isfinite(raw) & (raw == np.round(raw))):
                        raise _bad(name, f"expected integers for dtype {want.name}, got fractional numbers")
                if want is not None and want.kind in "iufb" and raw.dtype.kind not in "iufb":
                    raise _bad(name, f"expected numbers for dtype {want.name}, got "
                                     f"{'ragged or mixed lists' if raw.dtype.kind == 'O' else 'non-numbers'}")
                if want is not None and want.kind in "iu" and raw.size and raw.dtype.kind in "iu":
                    info = np.iinfo(want)
                    if raw.min() < info.min or raw.max() > info.max:
                        raise _bad(name, f"value out of range for {want.name} ({info.min} .. {info.max})")
                arr = raw.astype(want) if want is not None else raw
                if arr.dtype.kind == "O":
                    raise _bad(name, "expected a rectangular (nested) list of numbers")
            except ServeError:
                raise
            except (TypeError, ValueError, OverflowError) as e:
                raise _bad(name, f"cannot make a {port.dtype} array: {e}") from None
        if scalar and isinstance(arr, np.ndarray) and arr.ndim == 0:
            arr = arr[()]
        why = check(arr) if check is not None else None
        if why:
            raise _bad(name, why)
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
                return decode(float(t) if not _looks_int(t) else int(t))
            except ValueError:
                raise _bad(name, f"expected a number, got {s[:40]!r}") from None
        if kind == "integer":
            try:
                return decode(int(t))
            except ValueError:
                try:
                    f = float(t)
                except ValueError:
                    raise _bad(name, f"expected an integer, got {s[:40]!r}") from None
                return decode(f)
        if kind == "boolean":
            low = t.lower()
            if low in ("true", "1", "yes", "on"):
                return decode(True)
            if low in ("false", "0", "no", "off", ""):
                return decode(False)
            raise _bad(name, f"expected true or false, got {s[:40]!r}")
        try:
            value = json.loads(t)
        except ValueError as e:
            if kind == "any" or port.dtype in ("str", "bytes"):
                return decode(s)
            raise _bad(name, f"invalid JSON ({e})") from None
        return decode(value)
    return from_text


def _looks_int(t: str) -> bool:
    return t.lstrip("+-").isdigit()


# --------------------------------------------------------------------------- audio


@dataclass
class Audio:
    """A decoded WAV upload."""
    samples: np.ndarray
    sr: int
    name: str


def decode_wav(data: bytes, port: str, filename: str | None, max_seconds: float, dtype: str = "float32") -> Audio:
    """WAV bytes -> mono samples of `dtype`; 415 if undecodable, 413 beyond `max_seconds`."""
    from ..io import FormatError, read_wav_bytes

    label = f"input '{port}'" + (f" ({filename})" if filename else "")
    if not data:
        raise ServeError(415, f"{label}: empty upload, not a WAV file", port=port)
    # Check the length from the header before decoding: a compressed WAV (ADPCM, mu-law) decodes to
    # several times its size.
    try:
        import soundfile as sf
        info = sf.info(io.BytesIO(data))
        if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
            raise ServeError(413, f"{label}: audio is {info.frames / info.samplerate:.1f} s long; "
                                  f"the limit is {max_seconds:g} s", port=port, limit_seconds=max_seconds)
    except ServeError:
        raise
    except Exception:
        pass  # read_wav_bytes says what is wrong
    try:
        x, sr = read_wav_bytes(data, name=filename or port)
    except FormatError as e:
        raise ServeError(415, f"{label}: {e.problem}", port=port) from None
    except Exception as e:  # soundfile missing, or a decoder failure
        raise ServeError(415, f"{label}: cannot decode WAV: {type(e).__name__}: {e}", port=port) from None
    if sr <= 0 or len(x) / sr > max_seconds:
        raise ServeError(413, f"{label}: audio is {len(x) / max(sr, 1):.1f} s long; the limit is {max_seconds:g} s",
                         port=port, limit_seconds=max_seconds)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return Audio(np.ascontiguousarray(x, dtype=dtype), int(sr), filename or port)


def wav_value(samples: Any, sr: Any, wav_format: str = "pcm16") -> tuple[bytes, int, float]:
    from ..io import wav_to_bytes

    x = np.asarray(samples)
    rate = int(sr.item() if isinstance(sr, (np.ndarray, np.generic)) else sr)
    data = wav_to_bytes(x, rate, subtype="FLOAT" if wav_format == "float" else "PCM_16")
    return data, rate, (x.shape[0] / rate if rate else 0.0)


# --------------------------------------------------------------------------- the form of a graph


@dataclass
class InputField:
    name: str
    port: Port
    kind: str
    required: bool
    default: Any = None
    rate: str | None = None          # audio: the graph input its sample rate goes to
    decode: Callable[[Any], Any] = field(default=None, repr=False)        # type: ignore[assignment]
    from_text: Callable[[str], Any] = field(default=None, repr=False)     # type: ignore[assignment]


@dataclass
class OutputPlan:
    """How to fetch and encode one fetch set: session fetches, and per visible key how to encode it."""
    fetches: tuple[str, ...]
    items: list[tuple[str, str, str | None]]   # (key, kind, rate: 'out:<fetch>', 'in:<input>', 'const:<v>')
    audio_keys: list[str]


class GraphForm:
    """Ports of one graph as a form: kinds, audio pairing, decoders, output plans."""

    def __init__(self, graph: BuiltGraph, max_audio_seconds: float = 600.0):
        self.graph = graph
        self.max_audio_seconds = max_audio_seconds
        spec_inputs = graph.spec.inputs
        self.fields: dict[str, InputField] = {}
        self.rate_inputs: dict[str, list[str]] = {}   # rate input -> audio inputs feeding it
        audio_inputs = {n for n, p in graph.inputs.items() if _audio_name(n) and _is_float_vector(p)}
        pairs: dict[str, str | None] = {}
        for n in audio_inputs:
            pairs[n] = next((c for c in _rate_candidates(n)
                             if c in graph.inputs and c not in audio_inputs and _is_rate(graph.inputs[c])), None)
            if pairs[n]:
                self.rate_inputs.setdefault(pairs[n], []).append(n)
        for n, p in graph.inputs.items():
            optional = n in graph.optional_inputs
            default = spec_inputs[n].get("default") if optional and isinstance(spec_inputs.get(n), dict) else None
            kind = "audio" if n in audio_inputs else port_kind(p)
            dec = value_decoder(n, p)
            f = InputField(n, p, kind, not optional, default, pairs.get(n), dec, None)
            f.from_text = text_decoder(n, p, "array" if kind == "audio" else kind, dec)
            self.fields[n] = f
        self.hidden_inputs = set(self.rate_inputs)
        self.defaulted = [n for n, f in self.fields.items()
                          if not f.required and f.default is not None and f.kind != "any"]
        self._plans: dict[tuple[str, ...] | None, OutputPlan] = {}
        self._out_ports = dict(graph.outputs)

    # ---------------------------------------------------------------- listing

    def inputs_info(self) -> dict[str, dict]:
        out = {}
        for n, f in self.fields.items():
            if n in self.hidden_inputs:
                continue
            d = port_info(f.port, f.kind)
            d["required"] = f.required
            if not f.required:
                d["default"] = _jsonable(f.default)
            if f.kind == "audio":
                d["sample_rate_input"] = f.rate
                d["upload"] = "WAV file (multipart) or {\"wav_base64\": ...}"
            out[n] = d
        return out

    def outputs_info(self) -> dict[str, dict]:
        plan = self.output_plan(None)
        out = {}
        for key, kind, rate in plan.items:
            d = port_info(self.fetch_port(key), kind)
            if kind == "audio":
                where, _, src = (rate or "").partition(":")
                d["sample_rate_from"] = {"in": f"input {src}", "out": src, "const": f"constant {src}"}.get(where)
            out[key] = d
        return out

    # ---------------------------------------------------------------- outputs

    def fetch_port(self, key: str) -> Port:
        if key in self._out_ports:
            return self._out_ports[key]
        node, _, port = key.partition("/")
        n = self.graph.nodes.get(node)
        if n is None or port not in n.outputs:
            outs = ", ".join(self._out_ports) or "none"
            raise ServeError(422, f"cannot fetch '{key}': no graph output or node/port of that name "
                                  f"(graph outputs: {outs}; or fetch node/port)", port=key)
        return n.outputs[port]

    def default_fetches(self) -> tuple[str, ...]:
        if self.graph.spec.outputs:
            return tuple(self.graph.spec.outputs)
        return tuple(f"{n}/{p}" for n in self.graph.order for p in self.graph.nodes[n].outputs)

    def output_plan(self, fetch: tuple[str, ...] | None) -> OutputPlan:
        plan = self._plans.get(fetch)
        if plan is not None:
            return plan
        keys = self.default_fetches() if not fetch else tuple(dict.fromkeys(fetch))
        ports = {k: self.fetch_port(k) for k in keys}
        fetches = list(keys)
        items: list[tuple[str, str]] = []   # (audio key, where its rate comes from)
        hidden: set[str] = set()
        audio_keys = []
        for k in keys:
            p = ports[k]
            if not (_audio_name(k) and _is_float_vector(p)):
                continue
            rate = None
            for c in _rate_candidates(k):
                if c in ports or c in self._out_ports or ("/" in c and self._has_node_port(c)):
                    try:
                        cp = ports.get(c) or self.fetch_port(c)
                    except ServeError:
                        continue
                    if _is_rate(cp):
                        rate = "out:" + c
                        if c not in ports:
                            fetches.append(c)
                            hidden.add(c)
                        elif fetch is None or c not in fetch:
                            hidden.add(c)
                        break
            if rate is None:
                rate = self._upstream_rate(k)
                if rate is not None and rate.startswith("out:") and rate[4:] not in ports:
                    fetches.append(rate[4:])
                    hidden.add(rate[4:])
            if rate is None and len(self.rate_inputs) == 1:
                rate = "in:" + next(iter(self.rate_inputs))
            if rate is not None:
                audio_keys.append(k)
                items.append((k, rate))
        audio = dict(items)
        items = [(k, "audio", audio[k]) if k in audio else (k, port_kind(ports[k]), None)
                 for k in keys if k in audio or k not in hidden]
        plan = OutputPlan(tuple(dict.fromkeys(fetches)), items, audio_keys)
        if len(self._plans) < 256:
            self._plans[fetch] = plan
        return plan

    def _upstream_rate(self, key: str) -> str | None:
        """The rate of an audio output without a rate output beside it: the nearest node upstream
        (its producer first) with a rate output (`out:<node/port>`) or else a rate input (`in:<graph
        input>`, `out:<node/port>`, `const:<v>`). A graph that resamples (`resample/sr`) is right this way,
        where the graph's own rate input would be wrong."""
        from ..core import Const, Edge, GraphInput

        g = self.graph
        ref = g.spec.outputs.get(key)
        start = ref.node if ref is not None else key.partition("/")[0]
        if start not in g.nodes:
            return None
        queue, seen = [start], {start}
        while queue:
            n = queue.pop(0)
            node = g.nodes[n]
            for port, p in node.outputs.items():
                if port in RATE_NAMES and _is_rate(p):
                    return f"out:{n}/{port}"
            for port, src in node.sources.items():
                if port in RATE_NAMES and _is_rate(node.inputs.get(port, Port())):
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

    def _has_node_port(self, key: str) -> bool:
        node, _, port = key.partition("/")
        n = self.graph.nodes.get(node)
        return n is not None and port in n.outputs

    # ---------------------------------------------------------------- inputs

    def decode_inputs(self, values: Mapping[str, Any], texts: Mapping[str, str],
                      files: Mapping[str, tuple[bytes, str | None]]) -> dict[str, Any]:
        """Feeds from JSON values, text fields (forms, query) and uploaded files; raises ServeError."""
        feeds: dict[str, Any] = {}
        rates: dict[str, tuple[int, str]] = {}
        fields = self.fields
        for src in (texts, values, files):
            for n in src:
                if n not in fields:
                    known = ", ".join(k for k in fields if k not in self.hidden_inputs) or "none"
                    raise ServeError(422, f"unknown input '{n}' (inputs: {known})", port=n)
        for n, s in texts.items():
            if n in values or n in files:
                continue
            f = fields[n]
            if f.kind == "audio":
                raise ServeError(422, f"input '{n}': audio is uploaded as a WAV file or given as "
                                      f'{{"wav_base64": "..."}} or a list of samples', port=n)
            feeds[n] = f.from_text(s)
        for n, v in values.items():
            if n in files:
                continue
            f = fields[n]
            if f.kind == "audio" and isinstance(v, dict):
                b64 = v.get("wav_base64")
                if not isinstance(b64, str):
                    raise ServeError(422, f"input '{n}': audio is given as {{\"wav_base64\": \"...\"}}", port=n)
                audio = decode_wav(_b64(b64, n), n, None, self.max_audio_seconds, f.port.dtype)
                feeds[n] = audio.samples
                if f.rate:
                    rates[n] = (audio.sr, f.rate)
            else:
                feeds[n] = f.decode(v)
        for n, (data, filename) in files.items():
            f = fields[n]
            if f.kind == "audio":
                audio = decode_wav(data, n, filename, self.max_audio_seconds, f.port.dtype)
                feeds[n] = audio.samples
                if f.rate:
                    rates[n] = (audio.sr, f.rate)
            elif f.port.dtype == "bytes":
                feeds[n] = data
            else:
                try:
                    text = data.decode("utf-8")
                except UnicodeDecodeError:
                    raise ServeError(422, f"input '{n}': the uploaded file is not UTF-8 text", port=n) from None
                feeds[n] = f.from_text(text)
        for n in self.defaulted:
            if n not in feeds:  # core feeds a graph input's default as written (a YAML float for a
                try:            # float32 port): give it the port's type, as if the client had sent it
                    feeds[n] = fields[n].decode(fields[n].default)
                except ServeError:
                    pass
        by_rate: dict[str, tuple[int, str]] = {}
        for n, (sr, rate_input) in rates.items():
            if rate_input in by_rate:
                other_sr, other = by_rate[rate_input]
                if other_sr != sr:
                    raise ServeError(422, f"inputs '{other}' and '{n}' have different sample rates "
                                          f"({other_sr} and {sr} Hz) but share '{rate_input}'", port=n)
                continue
            by_rate[rate_input] = (sr, n)
            if rate_input in feeds:  # the client sent the rate as well: it must agree with the file
                given = feeds[rate_input]
                if float(given) != float(sr):
                    raise ServeError(422, f"input '{rate_input}': {given} conflicts with the sample rate of "
                                          f"'{n}' ({sr} Hz); leave it out, the server fills it from the WAV",
                                     port=rate_input)
            rf = fields[rate_input]
            feeds[rate_input] = rf.decode(sr if rf.kind == "integer" else float(sr))
        return feeds

    # ---------------------------------------------------------------- encoding

    def encode_outputs(self, plan: OutputPlan, outputs: Mapping[str, Any], feeds: Mapping[str, Any],
                       wav_format: str = "pcm16") -> dict[str, Any]:
        out = {}
        for key, kind, rate in plan.items:
            v = outputs[key]
            if kind == "audio":
                out[key] = self.audio_json(key, v, self.rate_value(rate, outputs, feeds), wav_format)
            else:
                out[key] = to_jsonable(v)
        return out

    def rate_value(self, rate: str | None, outputs: Mapping[str, Any], feeds: Mapping[str, Any]) -> Any:
        where, _, name = (rate or "").partition(":")
        if where == "out":
            return outputs[name]
        if where == "const":
            return float(name)
        if name in feeds:
            return feeds[name]
        d = self.fields[name].default if name in self.fields else None
        if d is None:
            raise ServeError(500, f"no sample rate for an audio output: input '{name}' was not given")
        return d

    def audio_json(self, key: str, samples: Any, sr: Any, wav_format: str = "pcm16") -> dict[str, Any]:
        data, rate, seconds = self.audio_bytes(key, samples, sr, wav_format)
        return {"wav_base64": base64.b64encode(data).decode("ascii"), "sr": rate, "seconds": round(seconds, 6)}

    def audio_bytes(self, key: str, samples: Any, sr: Any, wav_format: str = "pcm16") -> tuple[bytes, int, float]:
        try:
            return wav_value(samples, sr, wav_format)
        except (TypeError, ValueError) as e:
            raise ServeError(500, f"output '{key}' cannot be written as WAV: {e}", port=key) from None


# --------------------------------------------------------------------------- JSON


def to_jsonable(v: Any) -> Any:
    """Numpy arrays -> (nested) lists, numpy scalars -> numbers, bytes -> {"base64"}, NaN/inf -> null."""
    t = type(v)
    if t is float:
        return v if math.isfinite(v) else None
    if t in (int, str, bool) or v is None:
        return v
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "f":
            if not np.isfinite(v).all():
                return _finite_list(v.tolist())
            return v.tolist()
        if v.dtype.kind == "c":
            return to_jsonable(np.stack([v.real, v.imag], axis=-1))
        if v.dtype.kind in "iub":
            return v.tolist()
        return to_jsonable(v.tolist())
    if isinstance(v, np.generic):
        return to_jsonable(v.item())
    if isinstance(v, (bytes, bytearray)):
        return {"base64": base64.b64encode(bytes(v)).decode("ascii")}
    if isinstance(v, dict):
        return {str(k): to_jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [to_jsonable(x) for x in v]
    if isinstance(v, float):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, int):
        return int(v)
    if isinstance(v, complex):
        return [v.real, v.imag]
    return str(v)


def _finite_list(x: Any) -> Any:
    if isinstance(x, list):
        return [_finite_list(y) for y in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _jsonable(v: Any) -> Any:
    return to_jsonable(v)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


# --------------------------------------------------------------------------- multipart


def parse_multipart(body: bytes, content_type: str, max_parts: int = 256
                    ) -> tuple[list[tuple[str, str]], dict[str, tuple[bytes, str | None]]]:
    """(text fields, files) of a multipart/form-data body held in memory: no temporary files."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise ServeError(400, "multipart body without a boundary in Content-Type")
    fields: list[tuple[str, str]] = []
    files: dict[str, tuple[bytes, str | None]] = {}
    state: dict[str, Any] = {"hname": b"", "hval": b"", "disp": b"", "data": bytearray(), "n": 0}

    def on_part_begin():
        state.update(disp=b"", data=bytearray())
        state["n"] += 1
        if state["n"] > max_parts:
            raise ServeError(413, f"too many parts in the form (limit {max_parts})")

    def on_part_data(data, start, end):
        state["data"] += data[start:end]

    def on_header_field(data, start, end):
        state["hname"] += data[start:end]

    def on_header_value(data, start, end):
        state["hval"] += data[start:end]

    def on_header_end():
        if state["hname"].lower() == b"content-disposition":
            state["disp"] = state["hval"]
        state["hname"], state["hval"] = b"", b""

    def on_part_end():
        _, opts = parse_options_header(state["disp"])
        name = opts.get(b"name")
        if name is None:
            raise ServeError(400, 'a form part has no Content-Disposition name')
        name_s = name.decode("utf-8", "replace")
        if b"filename" in opts:
            files[name_s] = (bytes(state["data"]), opts[b"filename"].decode("utf-8", "replace"))
        else:
            try:
                fields.append((name_s, state["data"].decode("utf-8")))
            except UnicodeDecodeError:
                raise ServeError(422, f"form field '{name_s}' is not UTF-8 text", port=name_s) from None
        state["data"] = bytearray()

    callbacks = {"on_part_begin": on_part_begin, "on_part_data": on_part_data, "on_part_end": on_part_end,
                 "on_header_field": on_header_field, "on_header_value": on_header_value,
                 "on_header_end": on_header_end}
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except ServeError:
        raise
    except Exception as e:
        raise ServeError(400, f"malformed multipart body: {e}") from None
    return fields, files


def split_fetch(values: Iterable[Any]) -> tuple[str, ...] | None:
    """Fetch names from query/form values (repeated or comma-separated) or a JSON list."""
    out: list[str] = []
    for v in values:
        if isinstance(v, list):
            out += [str(x) for x in v]
        elif isinstance(v, str):
            s = v.strip()
            if s.startswith("["):
                try:
                    lst = json.loads(s)
                except ValueError:
                    raise ServeError(422, f"fetch: invalid JSON list {s[:60]!r}", port="fetch") from None
                out += [str(x) for x in lst]
            else:
                out += [p.strip() for p in s.split(",") if p.strip()]
        elif v is not None:
            raise ServeError(422, "fetch must be a list of output names or node/port", port="fetch")
    return tuple(out) or None
