"""Value scales: AmpToDb, DbToAmp, NormalizeDb, DenormalizeDb, Power; any float32 shape."""
from __future__ import annotations

import numpy as np

from ...core.errors import InputError
from ...core.module import Module
from ...core.ports import Port
from .checks import _positive

ANY_F32 = Port("float32")


def _db_range(who: str, min_db: float, max_db: float) -> tuple[float, float]:
    if not max_db > min_db:
        raise ValueError(f"{who}: max_db ({max_db}) must be above min_db ({min_db})")
    return min_db, max_db


class AmpToDb(Module):
    """Amplitude to decibels: 20*log10(max(|x|, amin) / ref), floored at top_db below the maximum (librosa).

    The 20*log10 convention is for amplitudes (magnitude spectra, mel with power=1); a power
    spectrum must be square-rooted first. `top_db=None` disables the floor.
    Defaults match librosa.amplitude_to_db (ref 1, amin 1e-5 = -100 dB, top_db 80).
    """

    inputs = {"amp": ANY_F32}
    outputs = {"db": ANY_F32}

    def __init__(self, ref: float = 1.0, amin: float = 1e-5, top_db: float | None = 80.0):
        _positive("AmpToDb", ref=ref, amin=amin, top_db=top_db)
        self.ref, self.amin, self.top_db = ref, amin, top_db

    def run(self, amp):
        import librosa
        a = np.asarray(amp)
        if a.size == 0:
            raise InputError("AmpToDb: empty input", port="amp")
        if np.iscomplexobj(a):
            a = np.abs(a)
        db = librosa.amplitude_to_db(a, ref=self.ref, amin=self.amin, top_db=self.top_db)
        return {"db": db.astype(np.float32, copy=False)}


class DbToAmp(Module):
    """Decibels to amplitude: ref * 10**(db / 20), the inverse of AmpToDb above its floors."""

    inputs = {"db": ANY_F32}
    outputs = {"amp": ANY_F32}

    def __init__(self, ref: float = 1.0):
        _positive("DbToAmp", ref=ref)
        self.ref = ref

    def run(self, db):
        import librosa
        return {"amp": librosa.db_to_amplitude(np.asarray(db), ref=self.ref).astype(np.float32, copy=False)}


class NormalizeDb(Module):
    """Map decibels in [min_db, max_db] linearly to [0, 1], clipping values outside the range.

    Defaults are the Tacotron convention (-100, 20); modulespack2's voice conversion used (-50, 40).
    """

    inputs = {"db": ANY_F32}
    outputs = {"norm": ANY_F32}

    def __init__(self, min_db: float = -100.0, max_db: float = 20.0):
        self.min_db, self.max_db = _db_range("NormalizeDb", min_db, max_db)

    def run(self, db):
        d = np.asarray(db, dtype=np.float32)
        return {"norm": np.clip((d - self.min_db) / (self.max_db - self.min_db), 0.0, 1.0).astype(np.float32)}


class DenormalizeDb(Module):
    """Map [0, 1] back to decibels in [min_db, max_db] (inverse of NormalizeDb); inputs are clipped to [0, 1] first."""

    inputs = {"norm": ANY_F32}
    outputs = {"db": ANY_F32}

    def __init__(self, min_db: float = -100.0, max_db: float = 20.0):
        self.min_db, self.max_db = _db_range("DenormalizeDb", min_db, max_db)

    def run(self, norm):
        n = np.clip(np.asarray(norm, dtype=np.float32), 0.0, 1.0)
        return {"db": (n * (self.max_db - self.min_db) + self.min_db).astype(np.float32)}


class Power(Module):
    """Raise every value to the power `p` (x**p), e.g. to sharpen a magnitude spectrogram before Griffin-Lim.

    A non-integer `p` with negative inputs would give NaN, so that raises InputError instead.
    """

    inputs = {"x": ANY_F32}
    outputs = {"y": ANY_F32}

    def __init__(self, p: float = 1.0):
        self.p = p

    def run(self, x):
        a = np.asarray(x, dtype=np.float32)
        if float(self.p) != int(self.p) and a.size and a.min() < 0:
            raise InputError(f"Power: {int((a < 0).sum())} negative values cannot be raised to "
                             f"the non-integer power {self.p}", port="x")
        return {"y": np.power(a, np.float32(self.p)).astype(np.float32, copy=False)}
