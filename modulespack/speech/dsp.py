"""Signal-processing modules: loading, resampling, trimming, pre-emphasis, STFT, mel, MFCC, dB scales, F0.

Conventions shared by every module here:

- audio is ``wav: float32 (n,)``, mono, in [-1, 1]; the rate travels on a separate ``sr: int`` port;
- time-frequency matrices are frames-first, ``(frames, bins)`` or ``(frames, n_mels)``, row-major,
  as the toolkit stores features (librosa's own layout is the transpose);
- bad audio is refused, not repaired: an empty input, or one with NaN or infinite samples, raises
  ``ValueError`` naming the module and how many samples are bad. Repairing NaNs silently (by zeros)
  would hide a broken upstream step, and a single NaN spreads through every FFT frame it touches;
- the work is done by librosa, scipy, soxr and pyworld, not by hand-written DSP.

Nothing here keeps state between runs, so one instance serves concurrent runs.
"""
from __future__ import annotations

import functools
import logging
import warnings
from typing import Literal

import numpy as np

from ..core.module import Module, init_defaults
from ..core.ports import Port

log = logging.getLogger(__name__)

WAV = Port("float32", (None,), "mono audio in [-1, 1]")
SR = Port("int", doc="sample rate in Hz")


# --------------------------------------------------------------------------------------------- helpers

def check_wav(wav, who: str) -> np.ndarray:
    """`wav` as contiguous float32 (n,), or ValueError naming `who` (empty, not 1-D, NaN or inf samples)."""
    x = np.asarray(wav)
    if x.ndim != 1:
        raise ValueError(f"{who}: expected mono audio of shape (n,), got shape {x.shape}")
    if x.size == 0:
        raise ValueError(f"{who}: empty audio (0 samples)")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{who}: expected float audio in [-1, 1], got dtype {x.dtype}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    # one pass in the common case; the counts only when something is wrong
    if not np.isfinite(x.sum(dtype=np.float64)):
        n_nan = int(np.isnan(x).sum())
        n_inf = int(np.isinf(x).sum())
        if n_nan or n_inf:
            raise ValueError(f"{who}: input audio has {n_nan} NaN and {n_inf} infinite samples "
                             f"(of {x.size}); clean it upstream, e.g. np.nan_to_num")
    return x


def _check_finite(x: np.ndarray, who: str, what: str) -> None:
    if not np.isfinite(x.sum(dtype=np.complex128 if np.iscomplexobj(x) else np.float64)):
        n_bad = int((~np.isfinite(x)).sum())
        if n_bad:
            raise ValueError(f"{who}: {what} has {n_bad} NaN or infinite values (of {x.size})")


def _rate(sr, who: str) -> int:
    sr = int(sr)
    if sr <= 0:
        raise ValueError(f"{who}: sample rate must be positive, got {sr}")
    return sr


def _positive(who: str, **values) -> None:
    for name, v in values.items():
        if v is not None and v <= 0:
            raise ValueError(f"{who}: {name} must be positive, got {v}")


def _check_frames(n_fft: int, hop_length: int, win_length: int | None, window: str, who: str) -> None:
    """Refuse impossible STFT parameters when the module is built, not on the first run."""
    _positive(who, n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    if win_length is not None and win_length > n_fft:
        raise ValueError(f"{who}: win_length {win_length} is larger than n_fft {n_fft}")
    import librosa
    try:
        librosa.filters.get_window(window, win_length or n_fft)
    except Exception as e:
        raise ValueError(f"{who}: unknown window {window!r} ({e})") from None


def _bins_port(cls, params, dtype: str, doc: str = "") -> Port:
    """(frames, n_fft//2 + 1) when n_fft is known at build time, so wrong sizes fail validation."""
    n_fft = {**init_defaults(cls), **params}.get("n_fft")
    ok = isinstance(n_fft, int) and not isinstance(n_fft, bool) and n_fft > 0
    return Port(dtype, (None, n_fft // 2 + 1 if ok else None), doc)


def _check_bins(spec: np.ndarray, n_fft: int, who: str, what: str) -> None:
    if spec.ndim != 2:
        raise ValueError(f"{who}: {what} must be (frames, bins), got shape {spec.shape}")
    if spec.shape[1] != n_fft // 2 + 1:
        raise ValueError(f"{who}: {what} has {spec.shape[1]} bins but n_fft={n_fft} gives "
                         f"{n_fft // 2 + 1}; is it frames-first (frames, bins)?")
    if spec.shape[0] == 0:
        raise ValueError(f"{who}: {what} has no frames")


@functools.lru_cache(maxsize=64)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool) -> np.ndarray:
    # Shared, read-only and keyed by every argument: a cache, not per-instance run state.
    import librosa
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
    basis = np.ascontiguousarray(basis.T, dtype=np.float32)  # (bins, n_mels) for frames-first products
    basis.flags.writeable = False
    return basis


# Frames per block when a module needs only a reduction of the STFT (mel): bounds the complex
# STFT held at once to ~block * bins * 8 bytes (about 9 MB at n_fft=2048) whatever the input length.
_BLOCK_FRAMES = 1024


def _padded_slice(x: np.ndarray, pad: int, start: int, stop: int) -> np.ndarray:
    """np.pad(x, pad)[start:stop] without copying the whole padded signal (only edge blocks copy)."""
    a, b = start - pad, stop - pad
    if a >= 0 and b <= x.size:
        return x[a:b]
    return np.pad(x[max(a, 0):max(min(b, x.size), 0)], (max(-a, 0), max(b - x.size, 0)))


def _blockwise_stft(wav: np.ndarray, n_fft: int, hop_length: int, win_length: int | None, window: str,
                    center: bool, fn, out_dim: int) -> np.ndarray:
    """Apply `fn` to frames-first STFT blocks and stack the results: (frames, out_dim) float32.

    Gives the same frames as librosa.stft(center=center, pad_mode="constant") on the whole signal:
    each block is a slice of the zero-padded signal, and consecutive blocks overlap by n_fft - hop.
    """
    import librosa
    pad = n_fft // 2 if center else 0
    if wav.size + 2 * pad < n_fft:
        # librosa.stft would fail with a generic message; say what is too short
        raise ValueError(f"signal of {wav.size} samples is shorter than n_fft={n_fft} (with center=False)")
    n_frames = 1 + (wav.size + 2 * pad - n_fft) // hop_length
    out = np.empty((n_frames, out_dim), dtype=np.float32)
    for f0 in range(0, n_frames, _BLOCK_FRAMES):
        f1 = min(n_frames, f0 + _BLOCK_FRAMES)
        seg = _padded_slice(wav, pad, f0 * hop_length, (f1 - 1) * hop_length + n_fft)
        spec = librosa.stft(seg, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                            center=False)
        out[f0:f1] = fn(spec.T)
    return out


# ------------------------------------------------------------------------------------------- loading

class LoadWav(Module):
    """Read a WAV file as float32 mono audio and its sample rate, resampling or down-mixing if asked.

    `sr`: target rate; None keeps the file's own. A file at another rate is resampled with soxr
    and a warning names both rates. `mono=True` averages the channels of a multi-channel file (with
    a warning); `mono=False` always returns (frames, channels), which downstream mono modules
    refuse when the graph is built.
    """

    inputs = {"path": Port("str", doc="path of a WAV file")}
    outputs = {"wav": WAV, "sr": SR}

    def __init__(self, sr: int | None = None, mono: bool = True):
        _positive("LoadWav", sr=sr)
        self.sr = sr
        self.mono = mono

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        if params.get("mono", True) is False:
            outs["wav"] = Port("float32", (None, None), "audio (frames, channels)")
        return ins, outs

    def run(self, path):
        from ..io import read_wav
        x, sr = read_wav(path)
        if x.ndim == 2:
            if self.mono:
                log.warning("LoadWav: %s has %d channels; averaging them to mono", path, x.shape[1])
                x = x.mean(axis=1, dtype=np.float32)
        elif not self.mono:
            x = x[:, None]
        if self.sr is not None and sr != self.sr:
            import soxr
            log.warning("LoadWav: %s is at %d Hz; resampling it from %d Hz to %d Hz", path, sr, sr, self.sr)
            x = soxr.resample(x, sr, self.sr).astype(np.float32, copy=False)
            sr = self.sr
        return {"wav": np.ascontiguousarray(x, dtype=np.float32), "sr": int(sr)}


class Resample(Module):
    """Resample audio to `target_sr` with soxr (high quality); passes it through if already there.

    Logs every resampling: at WARNING when upsampling (the result has nothing above the source's
    Nyquist frequency, which models trained on full-band audio may notice), at INFO otherwise.
    An input so short that downsampling leaves no sample gives its first sample instead.
    """

    inputs = {"wav": WAV, "sr": SR}
    outputs = {"wav": WAV, "sr": SR}

    def __init__(self, target_sr: int = 16000, quality: Literal["QQ", "LQ", "MQ", "HQ", "VHQ"] = "HQ"):
        _positive("Resample", target_sr=target_sr)
        self.target_sr = target_sr
        self.quality = quality

    def run(self, wav, sr):
        sr = _rate(sr, "Resample")
        x = check_wav(wav, "Resample")
        if sr == self.target_sr:
            return {"wav": x, "sr": sr}
        import soxr
        if sr < self.target_sr:
            log.warning("Resample: upsampling from %d Hz to %d Hz; the output has no content above %d Hz",
                        sr, self.target_sr, sr // 2)
        else:
            log.info("Resample: resampling from %d Hz to %d Hz", sr, self.target_sr)
        y = soxr.resample(x, sr, self.target_sr, quality=self.quality)
        if y.size == 0:  # a 1-sample input downsampled rounds to nothing
            y = x[:1]
        return {"wav": np.ascontiguousarray(y, dtype=np.float32), "sr": self.target_sr}


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
        n_frames = 1 + (x.size + 2 * pad - fl) // hop
        rms = np.empty(n_frames, dtype=np.float32)
        for f0 in range(0, n_frames, _BLOCK_FRAMES):
            f1 = min(n_frames, f0 + _BLOCK_FRAMES)
            seg = _padded_slice(x, pad, f0 * hop, (f1 - 1) * hop + fl)
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


# ---------------------------------------------------------------------------------------- spectra

class STFT(Module):
    """Short-time Fourier transform (librosa.stft), frames-first: spec is complex64 (frames, n_fft//2+1).

    With `center=True` (default) the signal is zero-padded by n_fft//2 on both sides and frame t is
    centred on sample t*hop_length, so there are 1 + n//hop_length frames.
    """

    inputs = {"wav": WAV}
    outputs = {"spec": Port("complex64", (None, None), "(frames, bins)")}

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 window: str = "hann", center: bool = True):
        _check_frames(n_fft, hop_length, win_length, window, "STFT")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.window, self.center = window, center

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        outs["spec"] = _bins_port(cls, params, "complex64", "(frames, n_fft//2+1)")
        return ins, outs

    def run(self, wav):
        import librosa
        x = check_wav(wav, "STFT")
        if not self.center and x.size < self.n_fft:
            raise ValueError(f"STFT: {x.size} samples is shorter than n_fft={self.n_fft} (center=False)")
        # Centre-padding here rather than in librosa gives the same frames (pad_mode="constant")
        # without librosa's "n_fft is too large" warning for inputs shorter than n_fft, which
        # this module accepts on purpose: any input down to one sample makes a valid frame.
        y = np.pad(x, self.n_fft // 2) if self.center else x
        spec = librosa.stft(y, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                            window=self.window, center=False)
        return {"spec": np.ascontiguousarray(spec.T, dtype=np.complex64)}


class ISTFT(Module):
    """Inverse STFT (librosa.istft) of a frames-first complex spectrogram; `length` pads or cuts the result.

    Without `length` the output has hop_length * (frames - 1) samples (center=True), and at least
    hop_length: a single frame (an input shorter than one hop) would otherwise give no samples.
    """

    inputs = {"spec": Port("complex64", (None, None), "(frames, bins)"),
              "length": Port("int", doc="output length in samples")}
    outputs = {"wav": WAV}

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 window: str = "hann", center: bool = True):
        _check_frames(n_fft, hop_length, win_length, window, "ISTFT")
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.window, self.center = window, center

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        ins["spec"] = _bins_port(cls, params, "complex64", "(frames, n_fft//2+1)")
        return ins, outs

    def run(self, spec, length=None):
        import librosa
        s = np.asarray(spec)
        _check_bins(s, self.n_fft, "ISTFT", "spec")
        _check_finite(s, "ISTFT", "spec")
        if length is None and s.shape[0] == 1:
            length = self.hop_length
        y = librosa.istft(s.T, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                          window=self.window, center=self.center,
                          length=None if length is None else int(length))
        return {"wav": np.ascontiguousarray(y, dtype=np.float32)}


class Magnitude(Module):
    """Magnitude |spec| of a complex spectrogram, as float32 of the same shape."""

    inputs = {"spec": Port("complex64", (None, None), "(frames, bins)")}
    outputs = {"mag": Port("float32", (None, None), "(frames, bins)")}

    def run(self, spec):
        return {"mag": np.abs(np.asarray(spec)).astype(np.float32, copy=False)}


class MelSpectrogram(Module):
    """Mel spectrogram, frames-first (frames, n_mels): from audio (`wav`, `sr`) or from a magnitude STFT (`mag`).

    Give exactly one of `wav` or `mag`. From `wav` it equals
    librosa.feature.melspectrogram(center=True, pad_mode="constant") transposed, computed in blocks
    of frames so that memory stays bounded by the output on long inputs. From `mag` (frames, bins)
    it is mag**power times librosa's mel filterbank (Slaney-normalised unless `htk`).
    `power`: 1 = magnitude, 2 = power. `log=True` returns the natural log of max(mel, 1e-5),
    the usual TTS convention; for decibels use AmpToDb (power=1) instead.
    """

    inputs = {"wav": WAV, "sr": SR, "mag": Port("float32", (None, None), "magnitude STFT (frames, bins)")}
    outputs = {"mel": Port("float32", (None, "n_mels"), "(frames, n_mels)")}

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 window: str = "hann", n_mels: int = 80, fmin: float = 0.0, fmax: float | None = None,
                 power: float = 2.0, log: bool = False, htk: bool = False):
        _check_frames(n_fft, hop_length, win_length, window, "MelSpectrogram")
        _positive("MelSpectrogram", n_mels=n_mels, power=power, fmax=fmax)
        if fmin < 0 or (fmax is not None and fmax <= fmin):
            raise ValueError(f"MelSpectrogram: need 0 <= fmin < fmax, got fmin={fmin}, fmax={fmax}")
        self.n_fft, self.hop_length, self.win_length, self.window = n_fft, hop_length, win_length, window
        self.n_mels, self.fmin, self.fmax = n_mels, float(fmin), None if fmax is None else float(fmax)
        self.power, self.log, self.htk = float(power), log, htk

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        ins["mag"] = _bins_port(cls, params, "float32", "magnitude STFT (frames, n_fft//2+1)")
        return ins, outs

    def _basis(self, sr: int) -> np.ndarray:
        if self.fmax is not None and self.fmax > sr / 2:
            raise ValueError(f"MelSpectrogram: fmax {self.fmax} Hz is above the Nyquist frequency of {sr} Hz audio")
        return _mel_basis(sr, self.n_fft, self.n_mels, self.fmin, self.fmax, self.htk)

    def mel(self, wav=None, sr=16000, mag=None, power: float | None = None) -> np.ndarray:
        """The linear (not log) mel spectrogram; `power` overrides the module's (MFCC needs 2)."""
        p = self.power if power is None else power
        if (wav is None) == (mag is None):
            raise ValueError(f"{type(self).__name__}: connect exactly one of 'wav' or 'mag'")
        basis = self._basis(_rate(sr, type(self).__name__))
        if mag is not None:
            m = np.asarray(mag, dtype=np.float32)
            _check_bins(m, self.n_fft, type(self).__name__, "mag")
            _check_finite(m, type(self).__name__, "mag")
            return (m if p == 1 else m ** p) @ basis

        def reduce(spec):
            a = np.abs(spec)
            return (a if p == 1 else a ** p) @ basis

        x = check_wav(wav, type(self).__name__)
        return _blockwise_stft(x, self.n_fft, self.hop_length, self.win_length, self.window, True, reduce,
                               self.n_mels)

    def run(self, wav=None, sr=16000, mag=None):
        m = self.mel(wav, sr, mag)
        if self.log:
            m = np.log(np.maximum(m, 1e-5))
        return {"mel": m.astype(np.float32, copy=False)}


class MFCC(MelSpectrogram):
    """MFCCs (frames, n_mfcc): DCT-II (orthonormal) of a log mel spectrogram, from `wav` or from `log_mel`.

    From `wav` (with `sr`) it equals librosa.feature.mfcc with the same parameters, transposed: a
    power mel spectrogram (power=2) in dB with an 80 dB floor below the peak. From `log_mel`
    (frames, n_mels), e.g. AmpToDb of a magnitude mel as modulespack2 did, it is the DCT of that
    matrix as given. `lifter` > 0 applies librosa's sinusoidal liftering.
    """

    inputs = {"wav": WAV, "sr": SR, "log_mel": Port("float32", (None, "n_mels"), "log mel (frames, n_mels)")}
    outputs = {"mfcc": Port("float32", (None, "n_mfcc"), "(frames, n_mfcc)")}

    def __init__(self, n_mfcc: int = 20, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 window: str = "hann", n_mels: int = 80, fmin: float = 0.0, fmax: float | None = None,
                 htk: bool = False, lifter: float = 0.0):
        super().__init__(n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                         n_mels=n_mels, fmin=fmin, fmax=fmax, power=2.0, htk=htk)
        if not 0 < n_mfcc <= n_mels:
            raise ValueError(f"MFCC: need 0 < n_mfcc <= n_mels, got n_mfcc={n_mfcc}, n_mels={n_mels}")
        if lifter < 0:
            raise ValueError(f"MFCC: lifter must be >= 0, got {lifter}")
        self.n_mfcc, self.lifter = n_mfcc, lifter

    @classmethod
    def ports(cls, params):
        return dict(cls.inputs), dict(cls.outputs)

    def run(self, wav=None, sr=16000, log_mel=None):
        import librosa
        if (wav is None) == (log_mel is None):
            raise ValueError("MFCC: connect exactly one of 'wav' or 'log_mel'")
        if log_mel is None:
            lm = librosa.power_to_db(self.mel(wav, sr, power=2.0), top_db=80.0)
        else:
            lm = np.asarray(log_mel, dtype=np.float32)
            if lm.ndim != 2 or lm.shape[1] != self.n_mels:
                raise ValueError(f"MFCC: log_mel must be (frames, {self.n_mels}), got shape {lm.shape}")
            _check_finite(lm, "MFCC", "log_mel")
        out = librosa.feature.mfcc(S=lm.T, n_mfcc=self.n_mfcc, dct_type=2, norm="ortho", lifter=self.lifter)
        return {"mfcc": np.ascontiguousarray(out.T, dtype=np.float32)}


# ---------------------------------------------------------------------------------- value scales

ANY_F32 = Port("float32")


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
            raise ValueError("AmpToDb: empty input")
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
        if not max_db > min_db:
            raise ValueError(f"NormalizeDb: max_db ({max_db}) must be above min_db ({min_db})")
        self.min_db, self.max_db = min_db, max_db

    def run(self, db):
        d = np.asarray(db, dtype=np.float32)
        return {"norm": np.clip((d - self.min_db) / (self.max_db - self.min_db), 0.0, 1.0).astype(np.float32)}


class DenormalizeDb(Module):
    """Map [0, 1] back to decibels in [min_db, max_db] (inverse of NormalizeDb); inputs are clipped to [0, 1] first."""

    inputs = {"norm": ANY_F32}
    outputs = {"db": ANY_F32}

    def __init__(self, min_db: float = -100.0, max_db: float = 20.0):
        if not max_db > min_db:
            raise ValueError(f"DenormalizeDb: max_db ({max_db}) must be above min_db ({min_db})")
        self.min_db, self.max_db = min_db, max_db

    def run(self, norm):
        n = np.clip(np.asarray(norm, dtype=np.float32), 0.0, 1.0)
        return {"db": (n * (self.max_db - self.min_db) + self.min_db).astype(np.float32)}


class Power(Module):
    """Raise every value to the power `p` (x**p), e.g. to sharpen a magnitude spectrogram before Griffin-Lim.

    A non-integer `p` with negative inputs would give NaN, so that raises ValueError instead.
    """

    inputs = {"x": ANY_F32}
    outputs = {"y": ANY_F32}

    def __init__(self, p: float = 1.0):
        self.p = p

    def run(self, x):
        a = np.asarray(x, dtype=np.float32)
        if float(self.p) != int(self.p) and a.size and a.min() < 0:
            raise ValueError(f"Power: {int((a < 0).sum())} negative values cannot be raised to "
                             f"the non-integer power {self.p}")
        return {"y": np.power(a, np.float32(self.p)).astype(np.float32, copy=False)}


# ------------------------------------------------------------------------------------------------ F0

class F0(Module):
    """Fundamental frequency in Hz per frame (0 = unvoiced) with WORLD dio+stonemask, harvest, or pYIN.

    One value per `frame_period_ms` (frame t at t*frame_period_ms). "dio" (default) is fast (about
    0.1 s per 3 s of speech here); "harvest" is more robust and ~15x slower; "pyin"
    (librosa.pyin) is slower still. pyworld works in float64; the result is float32.
    Inputs shorter than one frame give a single unvoiced frame.
    """

    inputs = {"wav": WAV, "sr": SR}
    outputs = {"f0": Port("float32", (None,), "Hz per frame, 0 when unvoiced")}

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
            raise ValueError(f"F0: f0_ceil {self.f0_ceil} Hz must be below the Nyquist frequency of {sr} Hz audio")
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
