"""Port attributes of audio and frame features (`Port.attrs`), the same for every speech module.

`sr` (Hz) on audio and on frames made from it, `frame_shift` (samples between frames) and
`frame_period_ms` on frames, `dim` on feature matrices. A model trained on 5 ms frames of 16 kHz
audio declares them on its inputs; the build then refuses an upstream extractor whose values
differ, naming both nodes, instead of the model producing garbled audio at run time.
"""
from __future__ import annotations

import math
from typing import Any, Mapping

FRAME_KEYS = ("sr", "frame_shift", "frame_period_ms")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0


def frame_attrs(sr: Any = None, period_ms: Any = None, shift: Any = None) -> dict[str, Any]:
    """Attributes of frames from whichever of the rate, period (ms) and shift (samples) are known.

    >>> frame_attrs(16000, period_ms=5.0)
    {'sr': 16000, 'frame_period_ms': 5.0, 'frame_shift': 80}
    >>> frame_attrs(None, shift=256)
    {'frame_shift': 256}
    """
    out: dict[str, Any] = {}
    sr = int(sr) if _number(sr) else None
    if sr:
        out["sr"] = sr
    if _number(period_ms):
        out["frame_period_ms"] = float(period_ms)
        if sr:
            s = sr * float(period_ms) / 1000.0
            # a period that is no whole number of samples (5 ms at 22.05 kHz) stays fractional: it
            # then differs from any model's integer shift, as it should
            out["frame_shift"] = round(s) if math.isclose(s, round(s)) else s
    if _number(shift):
        out["frame_shift"] = shift
        if sr and "frame_period_ms" not in out:
            out["frame_period_ms"] = shift / sr * 1000.0
    return out


def frames_of(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Only the timing attributes (what a frame-wise transform keeps; its `dim` is its own)."""
    return {k: attrs[k] for k in FRAME_KEYS if attrs and k in attrs}


def rate_of(in_attrs: Mapping[str, Mapping[str, Any]], port: str = "wav") -> Any:
    """The sample rate arriving with `port`, or None when the graph does not say."""
    return (in_attrs.get(port) or {}).get("sr")
