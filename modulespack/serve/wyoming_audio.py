"""Wyoming audio chunks <-> the samples a graph takes and gives.

In: PCM chunks in whatever rate, width and channels the client's microphone gives become float32
mono samples at the rate the graph wants. The width is converted by the wyoming package's own
`AudioChunkConverter` (audioop's exact integer conversions); channels are averaged here (the
converter sums them, which clips loud stereo), and the rate is converted by soxr, streaming chunk by
chunk (the converter's `ratecv` is linear interpolation, audibly worse for speech recognition).
Out: float samples become 16-bit mono chunks at their own rate (the client is told it in
`audio-start`, so nothing is resampled).
"""
from __future__ import annotations

import warnings
from typing import Iterator

import numpy as np

from ..io.audio_ports import MAX_RATE

with warnings.catch_warnings():  # wyoming imports audioop, deprecated (not removed) before Python 3.13
    warnings.simplefilter("ignore", DeprecationWarning)
    from wyoming.audio import AudioChunk, AudioChunkConverter, AudioStart, AudioStop

OUT_WIDTH = 2                 # bytes per sample sent: 16-bit PCM, what every Wyoming client plays
SAMPLES_PER_CHUNK = 1024      # per audio-chunk sent (as wyoming-piper does)
MAX_CHANNELS = 32              # more is a mistake, not a microphone
MAX_WIDTH = 4


class AudioInputError(ValueError):
    """Audio the server cannot take; `code` is the Wyoming error code sent back."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class ChunkReceiver:
    """One incoming stream (audio-start ... audio-stop): chunks in, float32 mono at `rate` out.

    `rate`: the rate the graph wants (None: the client's own). `max_seconds`: more audio than this
    (counted at the client's rate, as it arrives) raises AudioInputError with code "too-large"."""

    def __init__(self, start: AudioStart, rate: int | None, max_seconds: float):
        _check_format(start.rate, start.width, start.channels, "audio-start")
        self.in_rate = int(start.rate)
        self.rate = int(rate or start.rate)
        self.max_seconds = max_seconds
        self.seconds = 0.0
        self._to_16bit = AudioChunkConverter(width=2)
        self._resampler = None
        if self.rate != self.in_rate:
            try:
                import soxr
            except ImportError:  # a server installed without the speech extra
                raise AudioInputError(f"this server cannot resample {self.in_rate} Hz audio (soxr is not installed):"
                                      f" send {self.rate} Hz", code="unsupported-rate") from None
            self._resampler = soxr.ResampleStream(self.in_rate, self.rate, 1, dtype="float32", quality="HQ")
        self._parts: list[np.ndarray] = []

    def add(self, chunk: AudioChunk) -> None:
        _check_format(chunk.rate, chunk.width, chunk.channels, "audio-chunk")
        if int(chunk.rate) != self.in_rate:
            raise AudioInputError(f"audio-chunk at {chunk.rate} Hz in a stream that audio-start said is "
                                  f"{self.in_rate} Hz: send one rate per stream", code="bad-audio")
        frame = chunk.width * chunk.channels
        if len(chunk.audio) % frame:
            raise AudioInputError(f"audio-chunk of {len(chunk.audio)} bytes is not a whole number of "
                                  f"{chunk.width}-byte x {chunk.channels}-channel frames", code="bad-audio")
        self.seconds += len(chunk.audio) / frame / self.in_rate
        if self.seconds > self.max_seconds:
            raise AudioInputError(f"more than {self.max_seconds:g} s of audio in one stream (the server's "
                                  f"limit): send a shorter utterance", code="too-large")
        pcm = self._to_16bit.convert(chunk).audio
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
        if chunk.channels > 1:
            x = x.reshape(-1, chunk.channels).mean(axis=1, dtype=np.float32)
        if self._resampler is not None:
            x = self._resampler.resample_chunk(x)
        if x.size:
            self._parts.append(x)

    def finish(self) -> np.ndarray:
        """All samples received, float32 mono at `rate`."""
        if self._resampler is not None:
            self._parts.append(self._resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        x = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        self._parts = []
        return np.ascontiguousarray(x, dtype=np.float32)


def _check_format(rate: object, width: object, channels: object, event: str) -> None:
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (rate, width, channels))
    if not ok or width > MAX_WIDTH or rate > MAX_RATE or channels > MAX_CHANNELS:  # type: ignore[operator]
        raise AudioInputError(f"{event}: rate, width and channels must be positive integers, rate at most {MAX_RATE} "
                              f"Hz, width 1 to {MAX_WIDTH} bytes, channels at most {MAX_CHANNELS} (got rate={rate!r}, "
                              f"width={width!r}, channels={channels!r})", code="bad-audio")


def to_pcm16(x: np.ndarray) -> bytes:
    """Float samples (mono, or frames x channels averaged to mono) -> 16-bit little-endian PCM."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    return (np.clip(np.nan_to_num(x), -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def audio_events(x: np.ndarray, rate: int, samples_per_chunk: int = SAMPLES_PER_CHUNK) -> Iterator:
    """audio-start, audio-chunk..., audio-stop (as wyoming Eventables) for samples `x` at `rate`."""
    pcm = to_pcm16(x)
    step = samples_per_chunk * OUT_WIDTH
    yield AudioStart(rate=rate, width=OUT_WIDTH, channels=1, timestamp=0)
    for i in range(0, len(pcm), step):
        yield AudioChunk(rate=rate, width=OUT_WIDTH, channels=1, audio=pcm[i:i + step],
                         timestamp=(i // OUT_WIDTH) * 1000 // rate)
    yield AudioStop(timestamp=(len(pcm) // OUT_WIDTH) * 1000 // rate)
