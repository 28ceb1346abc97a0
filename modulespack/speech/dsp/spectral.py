"""Spectra: STFT, ISTFT, Magnitude, MelSpectrogram, MFCC; all frames-first (frames, bins)."""
from __future__ import annotations

import functools

import numpy as np

from ...core.errors import InputError
from ...core.module import Module
from ...core.ports import Port
from ..frames import frame_attrs, frames_of, rate_of
from .blocks import _blockwise_stft
from .checks import SR, WAV, _bins_port, _check_bins, _check_finite, _check_frames, _positive, _rate, check_wav


@functools.lru_cache(maxsize=64)
def _mel_basis(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None, htk: bool) -> np.ndarray:
    # Shared, read-only and keyed by every argument: a cache, not per-instance run state.
    import librosa
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk)
    basis = np.ascontiguousarray(basis.T, dtype=np.float32)  # (bins, n_mels) for frames-first products
    basis.flags.writeable = False
    return basis


class _StftFrames(Module):
    """The STFT parameters STFT and ISTFT share, checked when the module is built, and their
    complex `spec` port, (frames, n_fft//2+1): an output of STFT, an input of ISTFT."""

    _spec_is_output: bool = True

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 window: str = "hann", center: bool = True):
        _check_frames(n_fft, hop_length, win_length, window, type(self).__name__)
        self.n_fft, self.hop_length, self.win_length = n_fft, hop_length, win_length
        self.window, self.center = window, center

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        (outs if cls._spec_is_output else ins)["spec"] = _bins_port(cls, params, "complex64",
                                                                     "(frames, n_fft//2+1)")
        return ins, outs


class STFT(_StftFrames):
    """Short-time Fourier transform (librosa.stft), frames-first: spec is complex64 (frames, n_fft//2+1).

    With `center=True` (default) the signal is zero-padded by n_fft//2 on both sides and frame t is
    centred on sample t*hop_length, so there are 1 + n//hop_length frames.
    """

    inputs = {"wav": WAV}
    outputs = {"spec": Port("complex64", (None, None), "(frames, bins)")}

    def run(self, wav):
        import librosa
        x = check_wav(wav, "STFT")
        if not self.center and x.size < self.n_fft:
            raise InputError(f"STFT: {x.size} samples is shorter than n_fft={self.n_fft} (center=False)", port="wav")
        # Centre-padding here rather than in librosa gives the same frames (pad_mode="constant")
        # without librosa's "n_fft is too large" warning for inputs shorter than n_fft, which
        # this module accepts on purpose: any input down to one sample makes a valid frame.
        y = np.pad(x, self.n_fft // 2) if self.center else x
        spec = librosa.stft(y, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
                            window=self.window, center=False)
        return {"spec": np.ascontiguousarray(spec.T, dtype=np.complex64)}


class ISTFT(_StftFrames):
    """Inverse STFT (librosa.istft) of a frames-first complex spectrogram; `length` pads or cuts the result.

    Without `length` the output has hop_length * (frames - 1) samples (center=True), and at least
    hop_length: a single frame (an input shorter than one hop) would otherwise give no samples.
    """

    inputs = {"spec": Port("complex64", (None, None), "(frames, bins)"),
              "length": Port("int", doc="output length in samples")}
    outputs = {"wav": WAV}
    _spec_is_output = False

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

    @classmethod
    def port_attrs(cls, params, in_attrs):
        # from audio the frames are hop_length apart; from `mag` they are whatever the STFT made
        fa = frame_attrs(rate_of(in_attrs), shift=params.get("hop_length")) if "wav" in in_attrs \
            else frames_of(in_attrs.get("mag"))
        return {"mel": {**fa, "dim": params.get("n_mels")}}

    def _basis(self, sr: int) -> np.ndarray:
        if self.fmax is not None and self.fmax > sr / 2:
            raise InputError(f"MelSpectrogram: fmax {self.fmax} Hz is above the Nyquist frequency of {sr} Hz audio "
                             f"(usable rates: {2 * self.fmax:g} Hz and above)", port="sr")
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

    @classmethod
    def port_attrs(cls, params, in_attrs):
        fa = frame_attrs(rate_of(in_attrs), shift=params.get("hop_length")) if "wav" in in_attrs \
            else frames_of(in_attrs.get("log_mel"))
        return {"mfcc": {**fa, "dim": params.get("n_mfcc")}}

    def run(self, wav=None, sr=16000, log_mel=None):
        import librosa
        if (wav is None) == (log_mel is None):
            raise ValueError("MFCC: connect exactly one of 'wav' or 'log_mel'")
        if log_mel is None:
            lm = librosa.power_to_db(self.mel(wav, sr, power=2.0), top_db=80.0)
        else:
            lm = np.asarray(log_mel, dtype=np.float32)
            if lm.ndim != 2 or lm.shape[1] != self.n_mels:
                raise InputError(f"MFCC: log_mel must be (frames, {self.n_mels}), got shape {lm.shape}", port="log_mel")
            _check_finite(lm, "MFCC", "log_mel")
        out = librosa.feature.mfcc(S=lm.T, n_mfcc=self.n_mfcc, dct_type=2, norm="ortho", lifter=self.lifter)
        return {"mfcc": np.ascontiguousarray(out.T, dtype=np.float32)}
