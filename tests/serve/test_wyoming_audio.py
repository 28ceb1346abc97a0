"""Wyoming audio chunks <-> graph samples (`serve.wyoming_audio`): conversion and what is refused."""
from __future__ import annotations

import warnings

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    pytest.importorskip("wyoming")
    from wyoming.audio import AudioChunk, AudioStart


def test_chunks_become_mono_float_at_the_graph_rate_without_clipping():
    import numpy as np

    from modulespack.serve.wyoming_audio import (
        AudioInputError,
        ChunkReceiver,
        audio_events,
    )
    sr = 22050
    x = (0.9 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)).astype(np.float32)
    stereo = (np.stack([x, x], axis=1) * 32767).astype("<i2").tobytes()
    rx = ChunkReceiver(AudioStart(rate=sr, width=2, channels=2), 16000, max_seconds=5)
    for i in range(0, len(stereo), 4004):  # chunks of whole frames, not of whole resampler blocks
        rx.add(AudioChunk(rate=sr, width=2, channels=2, audio=stereo[i:i + 4004]))
    y = rx.finish()
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 2
    assert 0.85 < np.abs(y[100:-100]).max() < 0.95  # averaged, not summed (which clips at 1.0)
    with pytest.raises(AudioInputError, match="whole number") as e:
        rx.add(AudioChunk(rate=sr, width=2, channels=2, audio=b"\0" * 6))
    assert e.value.code == "bad-audio"
    with pytest.raises(AudioInputError, match="rate at most 768000 Hz"):  # soxr would never return (1e15 Hz)
        ChunkReceiver(AudioStart(rate=10**15, width=2, channels=1), 16000, max_seconds=5)
    with pytest.raises(AudioInputError, match="22050 Hz"):
        rx.add(AudioChunk(rate=16000, width=2, channels=2, audio=b"\0" * 8))
    events = list(audio_events(y, 16000, samples_per_chunk=1000))
    assert [type(ev).__name__ for ev in (events[0], events[1], events[-1])] == ["AudioStart", "AudioChunk", "AudioStop"]
    pcm = b"".join(ev.audio for ev in events[1:-1])
    assert len(pcm) == 2 * len(y) and np.allclose(np.frombuffer(pcm, "<i2") / 32767, y, atol=1e-4)
