"""Time-domain processing: TrimSilence, Preemphasis, Deemphasis, LoudnessNormalize."""
from __future__ import annotations

import logging

import numpy as np

from ...core.module import Module
from ...core.ports import Port
from .blocks import _frame_blocks, _n_frames
from .checks import SR, WAV, _positive, _rate, check_wav

log = logging.getLogger(__package__)  # one logger, "modulespack.speech.dsp", for the whole package


class TrimSilence(Module):
    """Cut leading and trailing silence (librosa.effects.trim: frames `top_db` below the loudest one).

    Silence-only input: if the peak is below `silence_db` dBFS (default -60, about 33 steps of
    16-bit audio) the whole input counts as silence and the output is its first `frame_length`
    samples (or all of it if shorter), with a warning, so that later frame-based modules still
    get a valid, short signal instead of an empty array. `pad_ms` keeps that much audio around the
    detected speech (trimming at the frame level often clips soft onsets).
    """

    inputs = {"wav": WAV, "sr": SR}
    outputs = {"wav": WAV}
    attrs_through = {"wav": "wav"}  # same rate out as in

    def __init__(self, top_db: float = 40.0, frame_length: int = 2048, hop_length: int = 512,
                 pad_ms: float = 0.0, silence_db: float = -60.0):
        _positive("TrimSilence", top_db=top_db, frame_length=frame_length, hop_length=hop_length)
        if pad_ms < 0:
            raise ValueError(f"TrimSilence: pad_ms must be >= 0, got {pad_ms}")
        self.top_db = top_db
        self.frame_length = frame_length
        self.hop_length = hop_length
        self.pad_ms = pad_ms
        self.silence_db = silence_db

    def run(self, wav, sr=16000):
        import librosa
        x = check_wav(wav, "TrimSilence")
        peak = float(np.abs(x).max())
        if peak <= 10.0 ** (self.silence_db / 20.0):
            log.warning("TrimSilence: input of %d samples is silence (peak %.1f dBFS <= %.1f); "
                        "returning its first %d samples", x.size, 20 * np.log10(max(peak, 1e-12)),
                        self.silence_db, min(x.size, self.frame_length))
            return {"wav": x[:self.frame_length].copy()}
        start, end = self._nonsilent(x)
        pad = int(round(self.pad_ms * _rate(sr, "TrimSilence") / 1000.0))
        start, end = max(0, int(start) - pad), min(x.size, int(end) + pad)
        if end <= start:  # cannot happen above the silence floor, but never return nothing
            start, end = 0, min(x.size, self.frame_length)
        return {"wav": x[start:end].copy()}

    def _nonsilent(self, x: np.ndarray) -> tuple[int, int]:
        """librosa.effects.trim's interval, with the frame RMS computed in blocks of frames.

        librosa.effects.trim squares a full (frame_length, frames) view at once, a temporary of
        frame_length/hop_length times the signal's size (150 MB for 10 minutes at the defaults);
        blocks bound it. The rule is librosa's: frames within top_db of the loudest are speech,
        start = first * hop, end = min(n, (last + 1) * hop).
        """
        import librosa
        fl, hop = self.frame_length, self.hop_length
        pad = fl // 2  # librosa.feature.rms(center=True) pads with zeros
        n_frames = _n_frames(x.size, fl, hop, pad)
        rms = np.empty(n_frames, dtype=np.float32)
        for f0, f1, seg in _frame_blocks(x, fl, hop, pad, n_frames):
            rms[f0:f1] = librosa.feature.rms(y=seg, frame_length=fl, hop_length=hop, center=False)[0]
        db = librosa.amplitude_to_db(rms, ref=np.max, top_db=None)
        speech = np.flatnonzero(db > -self.top_db)
        if speech.size == 0:
            return 0, 0
        return int(speech[0]) * hop, min(x.size, (int(speech[-1]) + 1) * hop)


class Preemphasis(Module):
    """Pre-emphasis filter y[n] = x[n] - coeff * x[n-1] (scipy.signal.lfilter); boosts high frequencies."""

    inputs = {"wav": WAV}
    outputs = {"wav": WAV}
    attrs_through = {"wav": "wav"}

    def __init__(self, coeff: float = 0.97):
        self.coeff = coeff

    def run(self, wav):
        from scipy.signal import lfilter
        x = check_wav(wav, "Preemphasis")
        # float32 coefficients keep lfilter in float32 (an FIR filter loses nothing) and halve the temporary
        b = np.array([1.0, -self.coeff], dtype=np.float32)
        return {"wav": lfilter(b, np.ones(1, np.float32), x).astype(np.float32, copy=False)}


class Deemphasis(Module):
    """Inverse of Preemphasis: y[n] = x[n] + coeff * y[n-1] (scipy.signal.lfilter)."""

    inputs = {"wav": WAV}
    outputs = {"wav": WAV}
    attrs_through = {"wav": "wav"}

    def __init__(self, coeff: float = 0.97):
        if abs(coeff) >= 1:
            raise ValueError(f"Deemphasis: |coeff| must be < 1 for a stable filter, got {coeff}")
        self.coeff = coeff

    def run(self, wav):
        from scipy.signal import lfilter
        x = check_wav(wav, "Deemphasis")
        # float64 recursion: in float32 the rounding error is amplified by 1/(1-coeff) (~33x)
        return {"wav": lfilter([1.0], [1.0, -self.coeff], x.astype(np.float64)).astype(np.float32)}


class LoudnessNormalize(Module):
    """Scale audio to an RMS level of `target_dbfs`, lowering the gain if the peak would pass `peak_dbfs`.

    Level is 20*log10(RMS) over the whole signal, so a full-scale sine measures -3 dBFS. The gain
    is then limited so that the peak stays at or below `peak_dbfs` (default -1 dBFS), with an INFO
    log: quiet speech with loud clicks ends up below the target rather than clipped. Digital
    silence (RMS 0) is returned unchanged. Outputs the gain applied, in dB.
    """

    inputs = {"wav": WAV}
    outputs = {"wav": WAV, "gain_db": Port("float")}
    attrs_through = {"wav": "wav"}

    def __init__(self, target_dbfs: float = -23.0, peak_dbfs: float = -1.0):
        if peak_dbfs > 0:
            raise ValueError(f"LoudnessNormalize: peak_dbfs must be <= 0, got {peak_dbfs}")
        self.target_dbfs = target_dbfs
        self.peak_dbfs = peak_dbfs

    def run(self, wav):
        x = check_wav(wav, "LoudnessNormalize")
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        if rms == 0.0:
            return {"wav": x.copy(), "gain_db": 0.0}
        gain_db = self.target_dbfs - 20.0 * np.log10(rms)
        peak = float(np.abs(x).max())
        max_gain_db = self.peak_dbfs - 20.0 * np.log10(peak)
        if gain_db > max_gain_db:
            log.info("LoudnessNormalize: peak limit %.1f dBFS lowers the gain from %.1f to %.1f dB",
                     self.peak_dbfs, gain_db, max_gain_db)
            gain_db = max_gain_db
        return {"wav": (x * np.float32(10.0 ** (gain_db / 20.0))).astype(np.float32), "gain_db": float(gain_db)}
