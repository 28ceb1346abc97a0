"""Voice conversion: vc.yaml quality on sentences its statistics never saw, F0Transform, FrequencyWarp."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyworld")
pytest.importorskip("pysptk")

import modulespack as mp  # noqa: E402
from modulespack.core.errors import GraphError, InputError  # noqa: E402
from modulespack.io import MeanStd, read_wav, write_raw  # noqa: E402
from modulespack.speech.metrics import mel_cepstral_distortion  # noqa: E402
from modulespack.speech.vc import F0Transform, FrequencyWarp, load_lf0_stats  # noqa: E402
from modulespack.speech.world import SpToMcep, WorldAnalysis  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STATS = ROOT / "examples" / "stats"


def _make_stats_module():
    spec = importlib.util.spec_from_file_location("make_stats", STATS / "make_stats.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture
def at_root(monkeypatch, tmp_path):
    # vc.yaml names its statistics with {path: ...}, relative to the graph file: any directory works
    monkeypatch.chdir(tmp_path)


def test_stats_come_from_other_sentences_than_the_tests(sentences):
    train = _make_stats_module().training_sentences(30)
    assert not set(train) & set(sentences)
    for voice, hz in (("rms", (80, 130)), ("slt", (150, 210))):
        mean, std = load_lf0_stats(STATS / f"{voice}_lf0.stats")
        assert hz[0] < np.exp(mean) < hz[1] and 0.02 < std < 0.3
        assert (STATS / f"{voice}_lf0.stats").stat().st_size == 8


def test_vc_graph_moves_rms_towards_slt(flite_wav, sentences, at_root):
    """vc.yaml output re-analysed vs the slt rendering of the same text: baseline 8.0 dB, limit 8.5."""
    sess = mp.Session(ROOT / "examples/graphs/vc.yaml")
    analysis, mcep = WorldAnalysis("harvest", fft_size=1024), SpToMcep(24, 0.42)
    slt_mean, slt_std = load_lf0_stats(STATS / "slt_lf0.stats")
    conv, src = [], []
    for text in sentences[3:6]:
        x, sr = read_wav(flite_wav(text, "rms"))
        t, _ = read_wav(flite_wav(text, "slt"))
        out = sess.run({"wav": x, "sr": sr})
        y = out["wav"]
        assert y.dtype == np.float32 and len(y) == len(x)  # synthesis given the analysed length
        mc_t = mcep.run(sp=analysis.run(wav=t, sr=sr)["sp"])["mgc"]
        mc_y = mcep.run(sp=analysis.run(wav=y, sr=sr)["sp"])["mgc"]
        mc_x = mcep.run(sp=analysis.run(wav=x, sr=sr)["sp"])["mgc"]
        conv.append(mel_cepstral_distortion(mc_t, mc_y))
        src.append(mel_cepstral_distortion(mc_t, mc_x))
        lf0 = np.log(out["f0"][out["f0"] > 0])
        assert abs(lf0.mean() - slt_mean) < 0.1  # converted F0 sits at slt's level (rms is ~0.55 lower)
    print(f"\nvc.yaml MCD to slt: {np.mean(conv):.2f} dB (baseline 8.0, limit 8.5); "
          f"source-target {np.mean(src):.2f} dB (baseline 9.35)")
    assert np.mean(conv) <= 8.5
    assert np.mean(conv) < np.mean(src) - 0.5


def test_f0_transform_maps_statistics():
    t = F0Transform(source_mean=np.log(100.0), source_std=0.1, target_mean=np.log(200.0), target_std=0.05)
    f0 = np.array([0.0, 100.0, 100.0 * np.e ** 0.1, 0.0, 100.0 / np.e ** 0.2], np.float32)
    out = t.run(f0=f0)["f0"]
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0, 200, 200 * np.e ** 0.05, 0, 200 / np.e ** 0.1], rtol=1e-5)


def test_f0_transform_from_files(tmp_path):
    for name, (m, s) in {"a": (4.6, 0.12), "b": (5.2, 0.09)}.items():
        write_raw(np.array([[m], [s]]), tmp_path / f"{name}.stats")
    t = F0Transform(source_stats=str(tmp_path / "a.stats"), target_stats=str(tmp_path / "b.stats"))
    assert t.source_mean == pytest.approx(4.6) and t.target_std == pytest.approx(0.09)
    # the format MeanStd writes
    acc = MeanStd(voiced_only=True)
    acc.update(np.array([0.0, 4.5, 4.7, 0.0]))
    acc.save(tmp_path / "c.stats")
    assert load_lf0_stats(tmp_path / "c.stats") == pytest.approx((4.6, 0.1))


def test_stats_file_of_wrong_size_names_the_file(tmp_path):
    bad = tmp_path / "bad.stats"
    bad.write_bytes(b"\0" * 12)  # three floats: not a mean/std pair
    with pytest.raises(ValueError, match="bad.stats"):
        F0Transform(source_stats=str(bad), target_mean=5.0, target_std=0.1)
    odd = tmp_path / "odd.stats"
    odd.write_bytes(b"\0" * 6)
    with pytest.raises(ValueError, match="odd.stats.*size 6"):
        load_lf0_stats(odd)
    # at build time too, with the node and parameter
    spec = mp.load_graph({"inputs": {"f0": None}, "nodes": [
        {"name": "conv", "module": "f0_transform", "inputs": {"f0": "$f0"},
         "params": {"source_stats": str(bad), "target_stats": str(tmp_path / "missing.stats")}}]})
    with pytest.raises(GraphError) as e:
        mp.build_graph(spec)
    msg = str(e.value)
    assert "conv" in msg and "bad.stats" in msg and "missing.stats" in msg and "does not exist" in msg


def test_f0_transform_parameter_combinations():
    with pytest.raises(ValueError, match="source_stats.*or both source_mean and source_std"):
        F0Transform(source_mean=4.6, target_mean=5.0, target_std=0.1)
    with pytest.raises(ValueError, match="not both"):
        F0Transform(source_stats="x", source_mean=4.6, source_std=0.1, target_mean=5.0, target_std=0.1)
    with pytest.raises(ValueError, match="std > 0"):
        F0Transform(source_mean=4.6, source_std=0.0, target_mean=5.0, target_std=0.1)
    with pytest.raises(ValueError, match="not a log-F0"):
        F0Transform(source_mean=100.0, source_std=10.0, target_mean=5.0, target_std=0.1)


def _envelope(peaks_hz, n_bins=513, sr=16000, edge_hz=7500.0):
    """A toy power envelope: Gaussian formant peaks plus a sharp drop at `edge_hz`."""
    f = np.linspace(0, sr / 2, n_bins)
    log_env = sum(3.0 * np.exp(-0.5 * ((f - p) / 150.0) ** 2) for p in peaks_hz) - 4.0 * (f > edge_hz)
    return np.exp(log_env)[None, :].repeat(3, axis=0).astype(np.float32), f


def test_frequency_warp_moves_formants_and_keeps_the_top_band():
    sp, f = _envelope([800.0, 2000.0])
    out = FrequencyWarp(ratio=1.25, cutoff_hz=5500.0, top_hz=7000.0).run(sp=sp, sr=16000)["sp"]
    assert out.shape == sp.shape and out.dtype == np.float32
    def peak(lo, hi):
        band = (f > lo) & (f < hi)
        return f[band][np.argmax(out[0, band])]
    assert abs(peak(0, 1500) - 1000.0) <= 16 and abs(peak(1500, 4000) - 2500.0) <= 16  # 800 and 2000 Hz x 1.25
    top = f >= 7000.0
    np.testing.assert_allclose(out[:, top], sp[:, top], rtol=1e-4)  # the 7.5 kHz edge stays where it was
    # sr as a parameter, and ratio 1 is the identity
    np.testing.assert_allclose(FrequencyWarp(1.0, sr=16000).run(sp=sp)["sp"], sp)
    whole = FrequencyWarp(ratio=1.25, cutoff_hz=5500.0, sr=16000).run(sp=sp)["sp"]  # top = Nyquist
    assert not np.allclose(whole[:, (f > 7000) & (f < 7900)], sp[:, (f > 7000) & (f < 7900)], rtol=0.1)


def test_frequency_warp_bad_input():
    with pytest.raises(ValueError, match="top_hz"):
        FrequencyWarp(ratio=1.3, cutoff_hz=6000.0, top_hz=7000.0)
    with pytest.raises(ValueError, match="no sample rate"):
        FrequencyWarp(1.2).run(sp=np.ones((2, 513), np.float32))
    # wrong input values are the caller's mistake (InputError, naming the port); the rest are not
    with pytest.raises(InputError, match="below the Nyquist frequency 4000 Hz.*usable rates: above 9600 Hz") as e:
        FrequencyWarp(1.2, cutoff_hz=4000.0).run(sp=np.ones((2, 257), np.float32), sr=8000)
    assert e.value.port == "sr"
    with pytest.raises(InputError, match="non-negative") as e:
        FrequencyWarp(1.2).run(sp=np.full((2, 513), np.nan, np.float32), sr=16000)
    assert e.value.port == "sp"


def test_make_stats_script_writes_meanstd_files(tmp_path):
    import shutil
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    r = subprocess.run([sys.executable, str(STATS / "make_stats.py"), "--voices", "slt", "--n", "2", "--out",
                        str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    mean, std = load_lf0_stats(tmp_path / "slt_lf0.stats")
    assert 150 < np.exp(mean) < 210 and (tmp_path / "slt_lf0.stats").stat().st_size == 8
