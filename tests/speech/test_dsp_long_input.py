"""Ten minutes of speech through a DSP chain, in bounded memory and time."""
from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pytest

pytest.importorskip("librosa")

from modulespack.speech import dsp  # noqa: E402


def test_ten_minutes_through_a_chain_with_bounded_memory(rms):
    """10 minutes of tiled speech through resample -> trim -> pre-emphasis -> mel -> dB.

    Each module's transient memory (traced peak minus its output) must stay a fraction of its
    input: librosa.effects.trim and a full-STFT mel would each need ~4x the signal (measured
    0.1x and 0.28x with the blockwise versions; pre-emphasis 1.0x, lfilter's own copy). soxr
    allocates in C++, out of tracemalloc's view, so Resample is checked for time and length only.
    """
    x, sr = rms
    long = np.tile(x, int(np.ceil(600 * sr / len(x))))[:600 * sr]
    dsp.MelSpectrogram(n_fft=512, hop_length=128, n_mels=40).run(wav=x, sr=8000)  # warm numba caches
    t0 = time.perf_counter()
    low = dsp.Resample(target_sr=8000).run(wav=long, sr=sr)
    assert abs(len(low["wav"]) - 300 * sr) <= 1
    steps = [
        (dsp.TrimSilence(), lambda m, w: m.run(wav=w, sr=8000)["wav"], 0.25),
        (dsp.Preemphasis(), lambda m, w: m.run(wav=w)["wav"], 1.5),
        (dsp.MelSpectrogram(n_fft=512, hop_length=128, n_mels=40), lambda m, w: m.run(wav=w, sr=8000)["mel"], 0.5),
    ]
    w = low["wav"]
    tracemalloc.start()
    try:
        for module, call, ratio in steps:
            tracemalloc.reset_peak()
            before = tracemalloc.get_traced_memory()[0]
            out = call(module, w)
            extra = tracemalloc.get_traced_memory()[1] - before - out.nbytes
            assert extra < ratio * w.nbytes, (type(module).__name__, extra / w.nbytes)
            w = out
    finally:
        tracemalloc.stop()
    db = dsp.AmpToDb().run(amp=w)["db"]
    seconds = time.perf_counter() - t0
    assert db.shape[1] == 40 and len(db) > 0.9 * (1 + 300 * 8000 // 128)
    assert np.isfinite(db).all()
    assert seconds < 60, seconds  # ~4 s measured; generous for a shared machine
