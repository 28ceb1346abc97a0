"""Pitch: F0 (fundamental frequency per frame) with WORLD dio+stonemask, harvest, or pYIN."""
from __future__ import annotations

import warnings
from typing import Literal

import numpy as np

from ...core.errors import InputError
from ...core.module import Module
from ...core.ports import Port
from ..frames import frame_attrs, rate_of
from .checks import SR, WAV, _positive, _rate, check_wav


class F0(Module):
    """Fundamental frequency in Hz per frame (0 = unvoiced) with WORLD dio+stonemask, harvest, or pYIN.

    One value per `frame_period_ms` (frame t at t*frame_period_ms). "dio" (default) is fast (about
    0.1 s per 3 s of speech here); "harvest" is more robust and ~15x slower; "pyin"
    (librosa.pyin) is slower still. pyworld works in float64; the result is float32.
    Inputs shorter than one frame give a single unvoiced frame.
    """

    inputs = {"wav": WAV, "sr": SR}
    outputs = {"f0": Port("float32", (None,), "Hz per frame, 0 when unvoiced")}

    @classmethod
    def port_attrs(cls, params, in_attrs):
        return {"f0": frame_attrs(rate_of(in_attrs), period_ms=params.get("frame_period_ms"))}

    def __init__(self, method: Literal["dio", "harvest", "pyin"] = "dio", frame_period_ms: float = 5.0,
                 f0_floor: float = 71.0, f0_ceil: float = 800.0):
        if method not in ("dio", "harvest", "pyin"):
            raise ValueError(f"F0: method must be 'dio', 'harvest' or 'pyin', got {method!r}")
        _positive("F0", frame_period_ms=frame_period_ms, f0_floor=f0_floor)
        if f0_ceil <= f0_floor:
            raise ValueError(f"F0: f0_ceil ({f0_ceil}) must be above f0_floor ({f0_floor})")
        self.method, self.frame_period_ms = method, float(frame_period_ms)
        self.f0_floor, self.f0_ceil = float(f0_floor), float(f0_ceil)
        if method != "pyin":
            with warnings.catch_warnings():
                # pyworld imports pkg_resources, which warns on import in setuptools >= 70
                warnings.simplefilter("ignore", UserWarning)
                import pyworld  # noqa: F401  (fail at build time, not on the first run)

    def run(self, wav, sr=16000):
        sr = _rate(sr, "F0")
        x = check_wav(wav, "F0")
        if self.f0_ceil >= sr / 2:
            raise InputError(f"F0: f0_ceil {self.f0_ceil} Hz must be below the Nyquist frequency of {sr} Hz audio "
                             f"(usable rates: above {2 * self.f0_ceil:g} Hz)", port="sr")
        if self.method == "pyin":
            f0 = self._pyin(x, sr)
        else:
            import pyworld
            x64 = x.astype(np.float64)
            if self.method == "dio":
                f0, t = pyworld.dio(x64, sr, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil,
                                    frame_period=self.frame_period_ms)
                f0 = pyworld.stonemask(x64, f0, t, sr)
            else:
                f0, _ = pyworld.harvest(x64, sr, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil,
                                        frame_period=self.frame_period_ms)
        f0 = np.nan_to_num(np.asarray(f0, dtype=np.float32), nan=0.0)
        return {"f0": f0 if f0.size else np.zeros(1, np.float32)}

    def _pyin(self, x: np.ndarray, sr: int) -> np.ndarray:
        import librosa
        hop = max(1, int(round(sr * self.frame_period_ms / 1000.0)))
        # pYIN needs a few periods of the lowest F0 in each frame; 4 periods, rounded up to a power of 2
        frame_length = int(2 ** np.ceil(np.log2(4 * sr / self.f0_floor)))
        n = x.size
        if n < frame_length:
            x = np.pad(x, (0, frame_length - n))
        f0, voiced, _ = librosa.pyin(x, fmin=self.f0_floor, fmax=self.f0_ceil, sr=sr, frame_length=frame_length,
                                     hop_length=hop, center=True)
        f0 = np.where(voiced, f0, 0.0)
        return f0[:1 + n // hop]
