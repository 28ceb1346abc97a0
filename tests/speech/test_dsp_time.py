"""Time-domain DSP modules on flite speech: TrimSilence against librosa, pre-/de-emphasis against
scipy, LoudnessNormalize."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import scipy.signal

librosa = pytest.importorskip("librosa")

from modulespack.speech import dsp  # noqa: E402

LOGGER = "modulespack.speech.dsp"


@pytest.mark.parametrize("top_db", [40.0, 60.0])
def test_trim_matches_librosa_and_cuts_added_silence(rms, top_db):
    x, sr = rms
    padded = np.concatenate([np.zeros(8000, np.float32), x, np.zeros(12000, np.float32)])
    out = dsp.TrimSilence(top_db=top_db).run(wav=padded, sr=sr)["wav"]
    want, _ = librosa.effects.trim(padded, top_db=top_db)
    assert np.array_equal(out, want)
    assert len(out) < len(padded) - 8000


def test_trim_pad_ms_keeps_a_margin(rms):
    x, sr = rms
    padded = np.concatenate([np.zeros(8000, np.float32), x, np.zeros(8000, np.float32)])
    plain = dsp.TrimSilence().run(wav=padded, sr=sr)["wav"]
    margin = dsp.TrimSilence(pad_ms=50).run(wav=padded, sr=sr)["wav"]
    assert len(margin) == len(plain) + 2 * 800


@pytest.mark.parametrize("silence", [np.zeros(48000, np.float32),
                                     (1e-4 * np.random.default_rng(0).standard_normal(48000)).astype(np.float32)])
def test_trim_of_silence_only_returns_a_short_nonempty_signal(silence, caplog):
    with caplog.at_level(logging.WARNING, LOGGER):
        out = dsp.TrimSilence(frame_length=1136).run(wav=silence)["wav"]
    assert len(out) == 1136 and out.dtype == np.float32
    assert "silence" in caplog.text


def test_preemphasis_matches_scipy_and_deemphasis_inverts_it(rms):
    x, _ = rms
    pre = dsp.Preemphasis(coeff=0.97).run(wav=x)["wav"]
    np.testing.assert_allclose(pre, scipy.signal.lfilter([1, -0.97], [1], x.astype(np.float64)), atol=1e-6)
    assert pre.dtype == np.float32
    back = dsp.Deemphasis(coeff=0.97).run(wav=pre)["wav"]
    assert back.dtype == np.float32 and back.shape == x.shape
    assert np.max(np.abs(back - x)) < 1e-5


def test_loudness_normalize_reaches_target_and_protects_peaks(rms):
    x, _ = rms
    out = dsp.LoudnessNormalize(target_dbfs=-23).run(wav=x)
    level = 20 * np.log10(np.sqrt(np.mean(out["wav"].astype(np.float64) ** 2)))
    assert level == pytest.approx(-23, abs=0.01)
    assert out["gain_db"] == pytest.approx(-23 - 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2))), abs=0.01)

    quiet_click = np.full(16000, 1e-3, np.float32)
    quiet_click[100] = 0.5
    clicked = dsp.LoudnessNormalize(target_dbfs=-10, peak_dbfs=-1).run(wav=quiet_click)["wav"]
    assert np.abs(clicked).max() == pytest.approx(10 ** (-1 / 20), rel=1e-5)
    silent = dsp.LoudnessNormalize().run(wav=np.zeros(100, np.float32))
    assert silent["gain_db"] == 0 and not silent["wav"].any()
