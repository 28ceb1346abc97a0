"""WAV files: float32 samples in memory, 16/32-bit PCM or 32-bit float on disk.

soundfile (libsndfile) reads, as it knows every WAV variant (extensible headers,
24-bit, mu-law, ...). scipy.io.wavfile writes, because the toolkit promises files
that scipy reads cleanly and libsndfile adds a PEAK chunk to float files that
scipy warns about. Both are imported on first use: scipy.io alone takes ~0.4 s.
"""
from __future__ import annotations

import io
import operator
import os
import re

import numpy as np

from .atomic import atomic_open
from .errors import FormatError

SUBTYPES = ("PCM_16", "PCM_32", "FLOAT")
_WAV_FORMATS = ("WAV", "WAVEX", "RF64")
# libsndfile reads a cut-off file without complaint but logs the shortfall.
_DATA_LOG = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.M)
# Writers that stream (and cannot seek back) put a placeholder size >= this.
_UNKNOWN_LENGTH = 0x7FFF0000


def _check_complete(name, log: str) -> None:
    m = _DATA_LOG.search(log)
    if m:
        declared, present = int(m[1]), int(m[2])
        if present < declared < _UNKNOWN_LENGTH:
            raise FormatError(name, f"truncated WAV: header declares {declared} data bytes, "
                                    f"the file holds {present}")


def _decode(source, name, allow_truncated: bool):
    import soundfile as sf

    try:
        f = sf.SoundFile(source)
    except RuntimeError as e:  # LibsndfileError; a RuntimeError in every soundfile version
        raise FormatError(name, f"not a readable WAV file ({getattr(e, 'error_string', e)})") from None
    with f:
        if f.format not in _WAV_FORMATS:
            raise FormatError(name, f"not a WAV file (it is {f.format})")
        if not allow_truncated:
            _check_complete(name, f.extra_info)
        data = f.read(dtype="float32", always_2d=False)
        if len(data) != f.frames:
            raise FormatError(name, f"read {len(data)} of {f.frames} frames")
        return data, f.samplerate


def read_wav(path, allow_truncated: bool = False) -> tuple[np.ndarray, int]:
    """Read a WAV file as float32 ``(samples, sample_rate)``.

    Mono gives ``[frames]``, more channels ``[frames, channels]``. PCM is scaled
    to [-1, 1); float files are returned as stored (they may exceed 1).
    Empty, non-WAV or truncated files raise :class:`FormatError` naming the file;
    ``allow_truncated=True`` returns the frames present instead.

    >>> x, sr = read_wav("utt001.wav")                  # doctest: +SKIP
    >>> x.dtype, x.ndim, sr                              # doctest: +SKIP
    (dtype('float32'), 1, 16000)
    """
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            raise FormatError(path, "empty file (0 bytes), not a WAV file")
        return _decode(fh, path, allow_truncated)


def read_wav_bytes(data: bytes, allow_truncated: bool = False, name: str = "<bytes>") -> tuple[np.ndarray, int]:
    """Like :func:`read_wav` for WAV bytes in memory (an upload, say).

    ``name`` is what error messages call the data.

    >>> x, sr = read_wav_bytes(request_body, name="upload.wav")   # doctest: +SKIP
    """
    if len(data) == 0:
        raise FormatError(name, "empty data (0 bytes), not a WAV file")
    return _decode(io.BytesIO(data), name, allow_truncated)


def _rate(sr) -> int:
    try:
        rate = operator.index(sr)
    except TypeError:
        if isinstance(sr, float) and sr.is_integer():
            rate = int(sr)
        else:
            raise TypeError(f"sample rate must be a whole number, got {sr!r}") from None
    if not 0 < rate < 2**32:
        raise ValueError(f"sample rate must be in 1 .. 2**32-1, got {rate}")
    return rate


def _encode(data, subtype: str) -> np.ndarray:
    if subtype not in SUBTYPES:
        raise ValueError(f"subtype must be one of {SUBTYPES}, got {subtype!r}")
    x = np.asarray(data)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] == 0):
        raise ValueError(f"expected [frames] or [frames, channels] samples, got shape {x.shape}")
    if np.issubdtype(x.dtype, np.signedinteger):
        # Integer samples are PCM at their own full scale, as scipy returns them.
        x = x / -float(np.iinfo(x.dtype).min)
    elif not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"samples must be float (or signed integer PCM), got {x.dtype}")
    if not np.isfinite(x).all():
        raise ValueError("samples contain NaN or infinity")
    if subtype == "FLOAT":
        return np.ascontiguousarray(x, dtype="<f4")
    scale = 2.0 ** (31 if subtype == "PCM_32" else 15)
    # float64 so that 2**31-1 is exact; clip as libsndfile does, rather than wrap.
    pcm = np.clip(np.rint(x.astype(np.float64) * scale), -scale, scale - 1)
    return np.ascontiguousarray(pcm, dtype="<i4" if subtype == "PCM_32" else "<i2")


def _write(target, samples: np.ndarray, rate: int) -> None:
    from scipy.io import wavfile

    channels = samples.shape[1] if samples.ndim == 2 else 1
    if rate * channels * samples.itemsize >= 2**32:
        raise ValueError(f"sample rate {rate} x {channels} channels does not fit a WAV header")
    wavfile.write(target, rate, samples)


def write_wav(path, data, sr: int, subtype: str = "PCM_16") -> None:
    """Write samples atomically as a WAV file that ``scipy.io.wavfile.read`` reads.

    ``data`` is float in [-1, 1] (PCM clips outside it; FLOAT keeps it) or signed
    integer PCM; ``[frames]`` or ``[frames, channels]``. ``subtype`` is "PCM_16",
    "PCM_32" or "FLOAT" (32-bit).

    >>> write_wav("out.wav", np.zeros(16000, np.float32), 16000)   # doctest: +SKIP
    >>> write_wav("out.wav", stereo, 48000, subtype="FLOAT")       # doctest: +SKIP
    """
    samples, rate = _encode(data, subtype), _rate(sr)
    with atomic_open(path, "wb") as f:
        _write(f, samples, rate)


def wav_to_bytes(data, sr: int, subtype: str = "PCM_16") -> bytes:
    """Like :func:`write_wav`, returning the file's bytes (for an HTTP response).

    >>> body = wav_to_bytes(x, 16000)                   # doctest: +SKIP
    >>> body[:4]                                         # doctest: +SKIP
    b'RIFF'
    """
    samples, rate = _encode(data, subtype), _rate(sr)
    buf = io.BytesIO()
    _write(buf, samples, rate)
    return buf.getvalue()
