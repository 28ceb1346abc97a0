"""Spectral DSP modules against librosa/scipy on flite speech: STFT and its inverse, Magnitude, mel, MFCC."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.fft

librosa = pytest.importorskip("librosa")

from modulespack.core.errors import GraphError  # noqa: E402
from modulespack.speech import dsp  # noqa: E402


@pytest.mark.parametrize("n_fft,hop,win", [(1024, 256, None), (1136, 96, 1136), (512, 160, 400)])
def test_stft_matches_librosa_frames_first(rms, n_fft, hop, win):
    x, _ = rms
    spec = dsp.STFT(n_fft=n_fft, hop_length=hop, win_length=win).run(wav=x)["spec"]
    assert spec.dtype == np.complex64 and spec.flags.c_contiguous
    assert spec.shape == (1 + len(x) // hop, n_fft // 2 + 1)
    want = librosa.stft(x, n_fft=n_fft, hop_length=hop, win_length=win).T
    np.testing.assert_allclose(spec, want, atol=1e-4)


@pytest.mark.parametrize("n_fft,hop,win", [(1024, 256, None), (1136, 96, 1136)])
def test_istft_inverts_stft(rms, n_fft, hop, win):
    x, _ = rms
    spec = dsp.STFT(n_fft=n_fft, hop_length=hop, win_length=win).run(wav=x)["spec"]
    inv = dsp.ISTFT(n_fft=n_fft, hop_length=hop, win_length=win)
    back = inv.run(spec=spec, length=len(x))["wav"]
    assert back.shape == x.shape and back.dtype == np.float32
    assert np.max(np.abs(back - x)) < 1e-4
    assert len(inv.run(spec=spec)["wav"]) == hop * (len(spec) - 1)


def test_stft_ports_carry_the_bin_count_so_mismatches_fail_at_build(tmp_path):
    assert dsp.STFT.ports({"n_fft": 1136})[1]["spec"].shape == (None, 569)
    assert dsp.STFT.ports({})[1]["spec"].shape == (None, 513)  # the default n_fft
    graph = tmp_path / "bad.yaml"
    graph.write_text("""
name: bad
inputs: {wav: {dtype: float32, shape: [null]}}
nodes:
  - {name: stft, module: stft, params: {n_fft: 1024, hop_length: 256}, inputs: {wav: $wav}}
  - {name: istft, module: istft, params: {n_fft: 512, hop_length: 256}, inputs: {spec: stft/spec}}
  - {name: mel, module: mel, params: {n_mels: 90}, inputs: {wav: $wav}}
  - {name: mfcc, module: mfcc, params: {n_mels: 80}, inputs: {log_mel: mel/mel}}
outputs: {wav: istft/wav}
""")
    import modulespack as mp
    with pytest.raises(GraphError) as e:
        mp.Session(graph)
    text = str(e.value)
    assert "istft" in text and "513" in text and "257" in text
    assert "mfcc" in text and "90" in text and "80" in text


def test_magnitude_is_abs(rms):
    x, _ = rms
    spec = dsp.STFT().run(wav=x[:8000])["spec"]
    mag = dsp.Magnitude().run(spec=spec)["mag"]
    assert mag.dtype == np.float32 and mag.shape == spec.shape
    np.testing.assert_allclose(mag, np.abs(spec), rtol=1e-6)


@pytest.mark.parametrize("power,hop", [(2.0, 256), (1.0, 32)])  # hop 32: > 1 block of frames
def test_mel_from_wav_matches_librosa(rms, power, hop):
    x, sr = rms
    mel = dsp.MelSpectrogram(n_fft=1024, hop_length=hop, n_mels=80, power=power).run(wav=x, sr=sr)["mel"]
    want = librosa.feature.melspectrogram(y=x, sr=sr, n_fft=1024, hop_length=hop, n_mels=80, power=power).T
    assert mel.shape == want.shape == (1 + len(x) // hop, 80) and mel.dtype == np.float32
    np.testing.assert_allclose(mel, want, rtol=1e-4, atol=1e-6 * want.max())


def test_mel_from_magnitude_and_log(rms):
    x, sr = rms
    mag = np.abs(librosa.stft(x, n_fft=1136, hop_length=96)).T
    m = dsp.MelSpectrogram(n_fft=1136, hop_length=96, n_mels=90, power=1.0, fmax=7600.0)
    out = m.run(mag=mag, sr=sr)["mel"]
    basis = librosa.filters.mel(sr=sr, n_fft=1136, n_mels=90, fmax=7600.0)
    np.testing.assert_allclose(out, mag @ basis.T, rtol=1e-4, atol=1e-6)
    logged = dsp.MelSpectrogram(n_fft=1136, hop_length=96, n_mels=90, power=1.0, fmax=7600.0, log=True)
    np.testing.assert_allclose(logged.run(mag=mag, sr=sr)["mel"], np.log(np.maximum(out, 1e-5)), atol=1e-5)
    with pytest.raises(ValueError, match="exactly one"):
        m.run(wav=x, mag=mag, sr=sr)
    with pytest.raises(ValueError, match="569 bins but n_fft=1024"):
        dsp.MelSpectrogram(n_fft=1024).run(mag=mag)


def test_mfcc_from_wav_matches_librosa(rms):
    x, sr = rms
    out = dsp.MFCC(n_mfcc=13, n_fft=512, hop_length=160, n_mels=40).run(wav=x, sr=sr)["mfcc"]
    want = librosa.feature.mfcc(y=x, sr=sr, n_mfcc=13, n_fft=512, hop_length=160, n_mels=40).T
    assert out.shape == want.shape == (1 + len(x) // 160, 13)
    np.testing.assert_allclose(out, want, atol=2e-3)


def test_mfcc_from_log_mel_is_the_orthonormal_dct(rms):
    x, sr = rms
    log_mel = librosa.amplitude_to_db(np.abs(librosa.feature.melspectrogram(y=x, sr=sr, n_mels=90, power=1))).T
    out = dsp.MFCC(n_mfcc=60, n_mels=90).run(log_mel=log_mel.astype(np.float32))["mfcc"]
    want = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=1)[:, :60]
    assert out.shape == (len(log_mel), 60)
    np.testing.assert_allclose(out, want, atol=1e-3)
