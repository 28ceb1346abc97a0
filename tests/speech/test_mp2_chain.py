"""examples/graphs/mp2_vc_chain.yaml through a Session: modulespack2's VC features and vocoder, uncropped."""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.fft
import scipy.signal

librosa = pytest.importorskip("librosa")

import modulespack as mp  # noqa: E402
from modulespack.io import read_wav  # noqa: E402

GRAPH = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "mp2_vc_chain.yaml"
N_FFT, HOP = 1136, 96


@pytest.fixture(scope="module")
def session():
    with mp.Session(GRAPH) as s:
        yield s


def mp2_reference(x: np.ndarray, sr: int = 16000) -> dict[str, np.ndarray]:
    """modulespack2's _get_mfcc_and_spec (without its 2 s crop), written with librosa and scipy directly."""
    y, _ = librosa.effects.trim(x, top_db=60, frame_length=N_FFT, hop_length=HOP)
    y_pre = scipy.signal.lfilter([1, -0.97], [1], y)
    mag = np.abs(librosa.stft(y_pre, n_fft=N_FFT, hop_length=HOP, win_length=N_FFT))
    mel = librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=90) @ mag
    mag_db, mel_db = librosa.amplitude_to_db(mag), librosa.amplitude_to_db(mel)
    mfcc = scipy.fft.dct(mel_db, type=2, norm="ortho", axis=0)[:60]  # librosa.filters.dct(60, 90) @ mel_db
    norm = lambda db: np.clip((db - -50) / (40 - -50), 0, 1)  # noqa: E731
    return {"trimmed": y, "spec_norm": norm(mag_db).T, "mel_norm": norm(mel_db).T, "mfcc": mfcc.T}


def similarity(ref: np.ndarray, out: np.ndarray) -> tuple[float, float]:
    """(correlation of 10 ms RMS envelopes, correlation of 40-band log-mel spectrograms) over the
    frames within 50 dB of the loudest; both ignore level, which the vocoder normalises."""
    n = min(len(ref), len(out))
    env = [librosa.feature.rms(y=z[:n], frame_length=400, hop_length=160)[0] for z in (ref, out)]
    logmel = [10 * np.log10(librosa.feature.melspectrogram(y=z[:n], sr=16000, n_fft=512, hop_length=160,
                                                           n_mels=40) + 1e-8) for z in (ref, out)]
    active = logmel[0].max(axis=0) > logmel[0].max() - 50
    return (float(np.corrcoef(*env)[0, 1]),
            float(np.corrcoef(logmel[0][:, active].ravel(), logmel[1][:, active].ravel())[0, 1]))


def test_graph_builds_with_the_original_shapes(session):
    g = session.graph
    assert g.outputs["mfcc"].shape == (None, 60)
    assert g.nodes["stft"].outputs["spec"].shape == (None, N_FFT // 2 + 1)
    assert g.nodes["mel"].outputs["mel"].shape == (None, 90)
    assert set(g.outputs) == {"wav", "spec_norm", "mel_norm", "mfcc"}


@pytest.mark.parametrize("voice,idx", [("rms", 12), ("slt", 13)])
def test_chain_matches_mp2_features_and_resynthesises_uncropped(session, flite_wav, sentences, voice, idx):
    """Measured (two flite sentences): envelope correlation 0.94-0.97, log-mel correlation
    0.98; the time-reversed input against the same output scores 0.2-0.25 and 0.35-0.47, so the
    bounds (0.85, 0.93) separate a resynthesis from unrelated audio of the same voice."""
    x, sr = read_wav(flite_wav(sentences[idx], voice))
    ref = mp2_reference(x, sr)
    t0 = time.perf_counter()
    res = session.run({"wav": x, "sr": sr})
    rtf = (time.perf_counter() - t0) / (len(x) / sr)
    trimmed = ref["trimmed"]
    frames = 1 + len(trimmed) // HOP

    assert res["spec_norm"].shape == (frames, 569)
    assert res["mel_norm"].shape == (frames, 90)
    assert res["mfcc"].shape == (frames, 60)
    np.testing.assert_allclose(res["spec_norm"], ref["spec_norm"], atol=2e-4)
    np.testing.assert_allclose(res["mel_norm"], ref["mel_norm"], atol=2e-4)
    np.testing.assert_allclose(res["mfcc"], ref["mfcc"], rtol=1e-4, atol=1e-2)
    assert 0 <= res["spec_norm"].min() and res["spec_norm"].max() <= 1

    wav = res["wav"]
    assert wav.dtype == np.float32 and np.isfinite(wav).all()
    assert abs(len(wav) - len(trimmed)) <= 0.05 * len(trimmed)
    assert len(x) > 2 * sr and len(wav) > 2 * sr  # longer than the original's 2 s crop
    assert np.abs(wav).max() <= 10 ** (-1 / 20) + 1e-6  # inside [-1, 1]: the loudness step

    env_corr, spec_corr = similarity(trimmed.astype(np.float32), wav)
    rev_env, rev_spec = similarity(trimmed[::-1].astype(np.float32), wav)
    assert env_corr > 0.85 and spec_corr > 0.93, (env_corr, spec_corr)
    assert rev_env < 0.6 and rev_spec < 0.8, (rev_env, rev_spec)
    print(f"\nmp2_vc_chain {voice}: {len(x) / sr:.2f} s, RTF {rtf:.2f}, env corr {env_corr:.3f}, "
          f"log-mel corr {spec_corr:.3f}, vocoder {res.timings.get('vocoder', 0):.2f} s")


def test_chain_resamples_8khz_input_and_logs_it(session, flite_wav, sentences, caplog):
    x16, sr = read_wav(flite_wav(sentences[12], "rms"))
    import soxr
    x8 = soxr.resample(x16, sr, 8000).astype(np.float32)
    with caplog.at_level(logging.INFO, "modulespack.speech.dsp"):
        res = session.run({"wav": x8, "sr": 8000}, fetches=["spec_norm", "mfcc"])
    assert "from 8000 Hz to 16000 Hz" in caplog.text
    want_frames = 1 + len(mp2_reference(x16, sr)["trimmed"]) // HOP
    # same duration as the 16 kHz original (trimming may move by a frame or two)
    assert abs(len(res["spec_norm"]) - want_frames) <= 0.05 * want_frames
    assert res["mfcc"].shape[1] == 60
    assert "vocoder" not in res.timings  # only what the fetches need ran


def test_chain_refuses_nan_audio_naming_the_node(session):
    x = np.zeros(16000, np.float32)
    x[5] = np.nan
    with pytest.raises(Exception) as e:
        session.run({"wav": x, "sr": 16000})
    assert "resample" in str(e.value) and "1 NaN" in str(e.value)
