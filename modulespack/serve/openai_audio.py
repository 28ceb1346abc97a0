"""Audio in and out of the OpenAI audio API: uploads to transcribe (WAV as everywhere in the server,
plus what OpenAI's clients also send and libsndfile reads: FLAC, OGG, MP3), and synthesised speech
in the formats `POST /v1/audio/speech` offers (soundfile writes them all; soxr resamples where a
format needs another rate; librosa stretches time for `speed`).
"""
from __future__ import annotations

import io
from typing import Any

import numpy as np

from .errors import ServeError
from .feeds import decode_wav

UPLOAD_PORT = "file"
# response_format -> media type; pcm is OpenAI's: raw 16-bit little-endian mono at 24 kHz
SPEECH_FORMATS = {"wav": "audio/wav", "pcm": "audio/pcm", "flac": "audio/flac", "opus": "audio/ogg",
                  "mp3": "audio/mpeg"}
PCM_RATE = 24000
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)  # what libopus encodes; others are resampled to 48 kHz
MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
SPEED_RANGE = (0.25, 4.0)


def mp3_available() -> bool:
    """Can this libsndfile write MP3 (1.1 and later, built with LAME)?"""
    import soundfile as sf
    return "MP3" in sf.available_formats()


def decode_upload(data: bytes, filename: str | None, max_seconds: float, dtype: str = "float32") -> tuple[np.ndarray, int]:
    """An uploaded file -> (mono samples, rate): a WAV by the server's own decoder, else FLAC, OGG
    or MP3 by libsndfile; 415 naming the file otherwise, 413 beyond `max_seconds`."""
    try:
        return decode_wav(data, UPLOAD_PORT, filename, max_seconds, dtype)
    except ServeError as err:
        if err.status != 415 or not data:
            raise
        wav_problem = err.message
    import soundfile as sf

    label = f"input '{UPLOAD_PORT}'" + (f" ({filename})" if filename else "")
    try:
        info = sf.info(io.BytesIO(data))
    except Exception:
        raise ServeError(415, f"{wav_problem}; nor is it FLAC, OGG or MP3 (the formats read here besides WAV: "
                              "convert other formats, e.g. with ffmpeg -i in.m4a out.wav)", port=UPLOAD_PORT) from None
    if info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
        raise ServeError(413, f"{label}: audio is {info.frames / info.samplerate:.1f} s long; the limit is "
                              f"{max_seconds:g} s", port=UPLOAD_PORT, limit_seconds=max_seconds, kind="too-large")
    try:
        x, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:
        raise ServeError(415, f"{label}: cannot decode {info.format} audio: {e}", port=UPLOAD_PORT) from None
    if sr <= 0 or not len(x):
        raise ServeError(415, f"{label}: no audio in the file", port=UPLOAD_PORT)
    return np.ascontiguousarray(x.mean(axis=1), dtype=dtype), int(sr)


def _resample(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    if sr == rate:
        return x
    import soxr
    return soxr.resample(x, sr, rate)


def change_speed(x: np.ndarray, speed: float) -> np.ndarray:
    """Speech `speed` times as fast, pitch kept (librosa's phase vocoder)."""
    if speed == 1.0 or len(x) < 2048:  # shorter than one analysis frame: nothing to stretch
        return x
    import librosa
    return librosa.effects.time_stretch(np.asarray(x, dtype=np.float32), rate=speed)


def encode_speech(samples: Any, sr: int, fmt: str) -> tuple[bytes, str, int]:
    """(bytes, media type, rate written) of synthesised speech in `fmt` (a key of SPEECH_FORMATS)."""
    import soundfile as sf

    from ..io import wav_to_bytes

    x = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    if fmt == "wav":
        return wav_to_bytes(x, sr, subtype="PCM_16"), SPEECH_FORMATS[fmt], sr
    if fmt == "pcm":
        y = np.clip(_resample(x, sr, PCM_RATE), -1.0, 1.0)
        return (np.rint(y * 32767.0).astype("<i2")).tobytes(), SPEECH_FORMATS[fmt], PCM_RATE
    buf = io.BytesIO()
    if fmt == "flac":
        sf.write(buf, x, sr, format="FLAC", subtype="PCM_16")
    elif fmt == "opus":
        rate = sr if sr in OPUS_RATES else 48000
        sf.write(buf, _resample(x, sr, rate), rate, format="OGG", subtype="OPUS")
        sr = rate
    elif fmt == "mp3":
        rate = sr if sr in MP3_RATES else 24000
        sf.write(buf, _resample(x, sr, rate), rate, format="MP3", subtype="MPEG_LAYER_III")
        sr = rate
    else:
        raise ValueError(f"unknown speech format {fmt!r}")
    return buf.getvalue(), SPEECH_FORMATS[fmt], sr
