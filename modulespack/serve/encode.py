"""Run outputs -> the answer: JSON values, and audio outputs as WAV (bytes, or base64 in JSON).

WAV files are written by `modulespack.io.wav_to_bytes`: 16-bit PCM, or 32-bit float with
``?wav_format=float``. Which outputs are audio and where their rates come from is the convention of
`modulespack.io.audio_ports`, shared with the command line.
"""
from __future__ import annotations

import base64
import json
import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from ..io.audio_ports import WAV_SUBTYPES, as_rate
from ..io.audio_ports import rate_value as _rate_value
from .errors import ServeError

if TYPE_CHECKING:
    from .form import GraphForm, OutputPlan


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


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def timings_ms(timings: Mapping[str, float]) -> dict[str, float]:
    """Per-node seconds -> milliseconds, as answers and headers give them."""
    return {n: round(t * 1000.0, 3) for n, t in timings.items()}


# --------------------------------------------------------------------------- audio


def audio_bytes(key: str, samples: Any, sr: Any, wav_format: str = "pcm16") -> tuple[bytes, int, float]:
    """(WAV bytes, sample rate, seconds) of audio output `key`; 500 naming it if it cannot be written."""
    from ..io import wav_to_bytes

    try:
        x = np.asarray(samples)
        rate = as_rate(sr)
        data = wav_to_bytes(x, rate, subtype=WAV_SUBTYPES[wav_format])
    except (TypeError, ValueError) as e:
        raise ServeError(500, f"output '{key}' cannot be written as WAV: {e}", port=key) from None
    return data, rate, x.shape[0] / rate


def audio_json(key: str, samples: Any, sr: Any, wav_format: str = "pcm16") -> dict[str, Any]:
    data, rate, seconds = audio_bytes(key, samples, sr, wav_format)
    return {"wav_base64": base64.b64encode(data).decode("ascii"), "sr": rate, "seconds": round(seconds, 6)}


def rate_value(form: "GraphForm", rate: str | None, outputs: Mapping[str, Any], feeds: Mapping[str, Any]) -> Any:
    """The sample rate of an audio output, from where its plan says (`out:`, `in:` or `const:`)."""
    defaults = {n: f.default for n, f in form.fields.items()}
    try:
        return _rate_value(rate or "", outputs, feeds, defaults)
    except LookupError as e:
        raise ServeError(500, f"no sample rate for an audio output: {e}") from None


# --------------------------------------------------------------------------- answers


def encode_outputs(form: "GraphForm", plan: "OutputPlan", outputs: Mapping[str, Any], feeds: Mapping[str, Any],
                   wav_format: str = "pcm16") -> dict[str, Any]:
    out = {}
    for key, kind, rate in plan.items:
        v = outputs[key]
        if kind == "audio" and plan.is_audio(key, v):
            out[key] = audio_json(key, v, rate_value(form, rate, outputs, feeds), wav_format)
        else:
            out[key] = to_jsonable(v)
    return out


def encode_answer(form: "GraphForm", plan: "OutputPlan", res: Any, feeds: Mapping[str, Any], wav_format: str,
                  audio: bool) -> Any:
    """The JSON body, or (WAV bytes, rate, seconds) of the one audio output when `audio`."""
    if audio:
        key = plan.audio_in(res.outputs)[0]
        rate = next(r for k, _kind, r in plan.items if k == key)
        return audio_bytes(key, res.outputs[key], rate_value(form, rate, res.outputs, feeds), wav_format)
    outputs = encode_outputs(form, plan, res.outputs, feeds, wav_format)
    return dumps({"outputs": outputs, "timings_ms": timings_ms(res.timings), "seconds": round(res.seconds, 6)})
