"""LoadWav and Resample on flite speech: reading, channel averaging, resampling and what they log."""
from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("librosa")

from modulespack.io import read_wav, write_wav  # noqa: E402
from modulespack.speech import dsp  # noqa: E402

LOGGER = "modulespack.speech.dsp"


def test_load_wav_reads_the_file(flite_wav, sentences):
    path = flite_wav(sentences[10], "rms")
    out = dsp.LoadWav().run(path=str(path))
    x, sr = read_wav(path)
    assert out["sr"] == sr == 16000
    assert out["wav"].dtype == np.float32 and np.array_equal(out["wav"], x)


def test_load_wav_averages_stereo_and_warns(tmp_path, rms, caplog):
    x, sr = rms
    stereo = np.stack([x, 0.5 * x], axis=1)
    path = tmp_path / "stereo.wav"
    write_wav(path, stereo, sr, subtype="FLOAT")
    with caplog.at_level(logging.WARNING, LOGGER):
        out = dsp.LoadWav().run(path=str(path))
    assert out["wav"].shape == x.shape
    np.testing.assert_allclose(out["wav"], 0.75 * x, atol=1e-6)
    assert "2 channels" in caplog.text and "averaging" in caplog.text


def test_load_wav_mono_false_keeps_channels_and_says_so_in_its_ports(tmp_path, rms):
    x, sr = rms
    path = tmp_path / "stereo.wav"
    write_wav(path, np.stack([x, -x], axis=1), sr, subtype="FLOAT")
    assert dsp.LoadWav.ports({"mono": False})[1]["wav"].shape == (None, None)
    assert dsp.LoadWav.ports({})[1]["wav"].shape == (None,)
    assert dsp.LoadWav(mono=False).run(path=str(path))["wav"].shape == (len(x), 2)


def test_load_wav_resamples_to_the_asked_rate_and_warns(flite_wav, sentences, caplog):
    path = flite_wav(sentences[10], "rms")
    x, _ = read_wav(path)
    with caplog.at_level(logging.WARNING, LOGGER):
        out = dsp.LoadWav(sr=8000).run(path=str(path))
    assert out["sr"] == 8000
    assert abs(len(out["wav"]) - len(x) / 2) <= 1
    assert "from 16000 Hz to 8000 Hz" in caplog.text


def test_resample_round_trip_keeps_length_and_waveform(rms, caplog):
    x, sr = rms
    with caplog.at_level(logging.INFO, LOGGER):
        down = dsp.Resample(target_sr=8000).run(wav=x, sr=sr)
        up = dsp.Resample(target_sr=16000).run(**down)
    assert down["sr"] == 8000 and up["sr"] == 16000
    assert abs(len(down["wav"]) - len(x) / 2) <= 1
    assert abs(len(up["wav"]) - len(x)) <= 1
    n = min(len(x), len(up["wav"]))
    # measured 0.996 (rms voice): only the 4-8 kHz band is lost
    assert np.corrcoef(x[:n], up["wav"][:n])[0, 1] > 0.9
    assert "from 16000 Hz to 8000 Hz" in caplog.text
    up_msgs = [r for r in caplog.records if "from 8000 Hz to 16000 Hz" in r.getMessage()]
    assert up_msgs and up_msgs[0].levelno == logging.WARNING  # upsampling is worth a warning


def test_resample_passes_the_target_rate_through_silently(rms, caplog):
    x, sr = rms
    with caplog.at_level(logging.DEBUG, LOGGER):
        out = dsp.Resample(target_sr=16000).run(wav=x, sr=sr)
    assert np.array_equal(out["wav"], x) and out["sr"] == 16000
    assert not caplog.records
