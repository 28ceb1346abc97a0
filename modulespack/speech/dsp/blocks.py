"""Frame-based work in blocks of frames, so memory stays bounded whatever the input length.

Used where a module needs only a reduction of each frame (frame RMS for trimming, mel from the
STFT): each block is a slice of the zero-padded signal, and consecutive blocks overlap by
frame_length - hop, so the frames are exactly those of the whole signal.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...core.errors import InputError

# Frames per block: bounds e.g. the complex STFT held at once to ~block * bins * 8 bytes
# (about 9 MB at n_fft=2048) whatever the input length.
_BLOCK_FRAMES = 1024


def _padded_slice(x: np.ndarray, pad: int, start: int, stop: int) -> np.ndarray:
    """np.pad(x, pad)[start:stop] without copying the whole padded signal (only edge blocks copy)."""
    a, b = start - pad, stop - pad
    if a >= 0 and b <= x.size:
        return x[a:b]
    return np.pad(x[max(a, 0):max(min(b, x.size), 0)], (max(-a, 0), max(b - x.size, 0)))


def _n_frames(n: int, frame_length: int, hop_length: int, pad: int) -> int:
    """Frames of `frame_length` every `hop_length` in `n` samples zero-padded by `pad` on both sides."""
    return 1 + (n + 2 * pad - frame_length) // hop_length


def _frame_blocks(x: np.ndarray, frame_length: int, hop_length: int, pad: int,
                  n_frames: int) -> Iterator[tuple[int, int, np.ndarray]]:
    """(f0, f1, segment) per block: segment holds exactly frames f0..f1-1 of np.pad(x, pad)."""
    for f0 in range(0, n_frames, _BLOCK_FRAMES):
        f1 = min(n_frames, f0 + _BLOCK_FRAMES)
        yield f0, f1, _padded_slice(x, pad, f0 * hop_length, (f1 - 1) * hop_length + frame_length)


def _blockwise_stft(wav: np.ndarray, n_fft: int, hop_length: int, win_length: int | None, window: str,
                    center: bool, fn, out_dim: int) -> np.ndarray:
    """Apply `fn` to frames-first STFT blocks and stack the results: (frames, out_dim) float32.

    Gives the same frames as librosa.stft(center=center, pad_mode="constant") on the whole signal.
    """
    import librosa
    pad = n_fft // 2 if center else 0
    if wav.size + 2 * pad < n_fft:
        # librosa.stft would fail with a generic message; say what is too short
        raise InputError(f"signal of {wav.size} samples is shorter than n_fft={n_fft} (with center=False)",
                         port="wav")
    n_frames = _n_frames(wav.size, n_fft, hop_length, pad)
    out = np.empty((n_frames, out_dim), dtype=np.float32)
    for f0, f1, seg in _frame_blocks(wav, n_fft, hop_length, pad, n_frames):
        spec = librosa.stft(seg, n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
                            center=False)
        out[f0:f1] = fn(spec.T)
    return out
