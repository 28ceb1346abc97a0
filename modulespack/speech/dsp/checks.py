"""The audio and spectrogram ports every DSP module shares, and the input checks they all apply.

Bad input values are refused with an InputError that names the module (`who`) and the input port,
never repaired: the caller's mistake, not the module's (a front end answers it as such). Impossible
parameters, found when a module is built, stay ValueError.
"""
from __future__ import annotations

import numpy as np

from ...core.errors import InputError
from ...core.module import init_defaults
from ...core.ports import Port
from ...io.audio_ports import MAX_RATE

WAV = Port("float32", (None,), "mono audio in [-1, 1]")
SR = Port("int", doc="sample rate in Hz")


def check_wav(wav, who: str, port: str = "wav") -> np.ndarray:
    """`wav` as contiguous float32 (n,), or InputError naming `who` and `port` (empty, not 1-D, NaN or inf samples)."""
    x = np.asarray(wav)
    if x.ndim != 1:
        raise InputError(f"{who}: expected mono audio of shape (n,), got shape {x.shape}", port=port)
    if x.size == 0:
        raise InputError(f"{who}: empty audio (0 samples)", port=port)
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{who}: expected float audio in [-1, 1], got dtype {x.dtype}", port=port)
    x = np.ascontiguousarray(x, dtype=np.float32)
    # one pass in the common case; the counts only when something is wrong
    if not np.isfinite(x.sum(dtype=np.float64)):
        n_nan = int(np.isnan(x).sum())
        n_inf = int(np.isinf(x).sum())
        if n_nan or n_inf:
            raise InputError(f"{who}: input audio has {n_nan} NaN and {n_inf} infinite samples "
                             f"(of {x.size}); clean it upstream, e.g. np.nan_to_num", port=port)
    return x


def _check_finite(x: np.ndarray, who: str, what: str) -> None:
    """InputError unless every value of the input port `what` is finite."""
    if not np.isfinite(x.sum(dtype=np.complex128 if np.iscomplexobj(x) else np.float64)):
        n_bad = int((~np.isfinite(x)).sum())
        if n_bad:
            raise InputError(f"{who}: {what} has {n_bad} NaN or infinite values (of {x.size})", port=what)


def _rate(sr, who: str, port: str = "sr") -> int:
    sr = int(sr)
    if sr <= 0:
        raise InputError(f"{who}: sample rate must be positive, got {sr}", port=port)
    if sr > MAX_RATE:
        raise InputError(f"{who}: sample rate {sr} Hz is above {MAX_RATE} Hz, more than any audio has", port=port)
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
    """InputError unless the input port `what` is (frames >= 1, n_fft//2 + 1)."""
    if spec.ndim != 2:
        raise InputError(f"{who}: {what} must be (frames, bins), got shape {spec.shape}", port=what)
    if spec.shape[1] != n_fft // 2 + 1:
        raise InputError(f"{who}: {what} has {spec.shape[1]} bins but n_fft={n_fft} gives "
                         f"{n_fft // 2 + 1}; is it frames-first (frames, bins)?", port=what)
    if spec.shape[0] == 0:
        raise InputError(f"{who}: {what} has no frames", port=what)
