"""The audio and spectrogram ports every DSP module shares, and the input checks they all apply.

Bad input is refused with a ValueError that names the module (`who`), never repaired.
"""
from __future__ import annotations

import numpy as np

from ...core.module import init_defaults
from ...core.ports import Port

WAV = Port("float32", (None,), "mono audio in [-1, 1]")
SR = Port("int", doc="sample rate in Hz")


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
