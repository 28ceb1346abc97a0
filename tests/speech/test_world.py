"""WORLD modules on flite speech: copy-synthesis quality through resynth.yaml, shapes, rates, bad inputs."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyworld")
pytest.importorskip("pysptk")

import modulespack as mp  # noqa: E402
from modulespack.core.errors import GraphError, InputError, NodeError  # noqa: E402
from modulespack.io import read_wav  # noqa: E402
from modulespack.speech.metrics import mel_cepstral_distortion  # noqa: E402
from modulespack.speech.world import (CodeAperiodicity, DecodeAperiodicity, McepToSp, SpToMcep,  # noqa: E402
                                      WorldAnalysis, WorldSynthesis)

GRAPHS = Path(__file__).resolve().parents[2] / "examples" / "graphs"


@pytest.fixture(scope="module")
def rms_wavs(flite_wav, sentences):
    return [read_wav(flite_wav(s, "rms")) for s in sentences[:3]]


@pytest.fixture(scope="module")
def harvest():
    return WorldAnalysis("harvest", frame_period=5.0, fft_size=1024)


@pytest.fixture(scope="module")
def mcep():
    return SpToMcep(order=24, alpha=0.42)


def test_resynth_graph_copy_synthesis_mcd_rms(rms_wavs, harvest, mcep):
    """resynth.yaml output, re-analysed, against the original's analysis: baseline 3.5 dB, limit 4.0."""
    sess = mp.Session(GRAPHS / "resynth.yaml")
    mcds = []
    for x, sr in rms_wavs:
        out = sess.run({"wav": x, "sr": sr})
        y = out["wav"]
        assert y.dtype == np.float32 and y.ndim == 1 and np.abs(y).max() <= 1.0
        assert len(y) == len(x)  # the synthesis node is given the analysed length
        ref = mcep.run(sp=harvest.run(wav=x, sr=sr)["sp"])["mgc"]
        test = mcep.run(sp=harvest.run(wav=y, sr=sr)["sp"])["mgc"]
        mcds.append(mel_cepstral_distortion(ref, test, dtw=False))
    print(f"\nresynth.yaml copy-synthesis MCD (rms, {len(mcds)} sentences): {np.mean(mcds):.2f} dB "
          f"(baseline 3.5, limit 4.0): {np.round(mcds, 2).tolist()}")
    assert np.mean(mcds) <= 4.0


@pytest.mark.parametrize("method", ["dio", "harvest"])
def test_analysis_outputs(rms_wavs, method):
    x, sr = rms_wavs[0]
    out = WorldAnalysis(method).run(wav=x, sr=sr)
    n = len(x) // 80 + 1  # one frame per 5 ms, the first at 0
    assert out["f0"].shape == (n,) and out["sp"].shape == (n, 513) and out["ap"].shape == (n, 513)
    assert all(out[k].dtype == np.float32 for k in ("f0", "sp", "ap")) and out["length"] == len(x)
    voiced = out["f0"][out["f0"] > 0]
    assert 0.3 < len(voiced) / n < 0.95
    assert 70 < np.median(voiced) < 160  # rms is a male voice, about 100 Hz
    assert (out["sp"] > 0).all() and ((out["ap"] >= 0) & (out["ap"] <= 1 + 1e-6)).all()


def test_fixed_fft_size_fixes_port_widths_at_build_time():
    spec = mp.load_graph({
        "inputs": {"wav": None, "sr": None},
        "nodes": [{"name": "a", "module": "world_analysis", "params": {"fft_size": 512}, "inputs": {"wav": "$wav", "sr": "$sr"}},
                  {"name": "m", "module": "sp_to_mcep", "params": {"order": 39}, "inputs": {"sp": "a/sp", "sr": "$sr"}},
                  {"name": "back", "module": "mcep_to_sp", "params": {"fft_size": 1024}, "inputs": {"mgc": "m/mgc"}}],
    })
    g = mp.build_graph(spec)
    assert g.nodes["a"].outputs["sp"].shape == (None, 257)
    assert g.nodes["m"].outputs["mgc"].shape == (None, 40)
    assert g.nodes["back"].outputs["sp"].shape == (None, 513)


def test_silence_gives_unvoiced_f0_and_synthesises(harvest):
    out = harvest.run(wav=np.zeros(16000, np.float32), sr=16000)
    assert (out["f0"] == 0).all()
    assert np.isfinite(out["sp"]).all() and np.isfinite(out["ap"]).all()
    dio = WorldAnalysis("dio").run(wav=np.zeros(8000, np.float32), sr=16000)
    assert (dio["f0"] == 0).all()
    y = WorldSynthesis().run(sr=16000, **out)["wav"]
    assert np.isfinite(y).all() and np.abs(y).max() < 1e-3
    mc = SpToMcep().run(sp=out["sp"])["mgc"]
    assert np.isfinite(mc).all()


@pytest.mark.parametrize("n", [0, 1, 50])
def test_too_short_input_is_a_clear_error(n):
    with pytest.raises(ValueError, match=r"WorldAnalysis: input is \d+ sample.*at least 80 samples"):
        WorldAnalysis("dio").run(wav=np.zeros(n, np.float32), sr=16000)


def test_nan_samples_are_a_clear_error():
    x = np.zeros(16000, np.float32)
    x[123] = np.nan
    with pytest.raises(ValueError, match="WorldAnalysis: wav contains NaN.*index 123"):
        WorldAnalysis("dio").run(wav=x, sr=16000)


def test_errors_through_a_session_name_the_node():
    sess = mp.Session(GRAPHS / "resynth.yaml")
    with pytest.raises(NodeError) as e:
        sess.run({"wav": np.zeros(1, np.float32), "sr": 16000})
    assert "analysis" in str(e.value) and "WorldAnalysis" in str(e.value)


def test_8khz_input_with_default_fft_size(rms_wavs):
    from scipy.signal import resample_poly

    x, _ = rms_wavs[1]
    x8 = resample_poly(x, 1, 2).astype(np.float32)
    out = WorldAnalysis("dio").run(wav=x8, sr=8000)  # fft_size None -> 512 at 8 kHz
    assert out["sp"].shape[1] == 257
    assert (out["f0"] > 0).mean() > 0.3
    y = WorldSynthesis().run(sr=8000, **out)["wav"]
    assert abs(len(y) - len(x8)) <= 40 and np.abs(y).max() > 0.01


def test_f0_ceil_must_be_below_nyquist():
    with pytest.raises(ValueError, match="f0_ceil"):
        WorldAnalysis("dio", f0_ceil=4500.0).run(wav=np.zeros(8000, np.float32), sr=8000)


def test_bad_parameters():
    with pytest.raises(ValueError, match="f0_method"):
        WorldAnalysis("yin")
    with pytest.raises(ValueError, match="fft_size"):
        WorldAnalysis(fft_size=1023)
    with pytest.raises(GraphError, match="f0_method"):
        mp.build_graph(mp.load_graph({"inputs": {"wav": None, "sr": None}, "nodes": [
            {"name": "a", "module": "world_analysis", "params": {"f0_method": "crepe"},
             "inputs": {"wav": "$wav", "sr": "$sr"}}]}))


@pytest.mark.parametrize("n", [80, 12345, 16000, 16001, 16079])
def test_synthesis_returns_the_analysed_length(n, rms_wavs):
    x = rms_wavs[0][0][:n]
    p = WorldAnalysis("dio").run(wav=x, sr=16000)
    assert p["length"] == n
    assert len(WorldSynthesis().run(sr=16000, **p)["wav"]) == n
    # without a length: WORLD's own, one 5 ms frame per analysis frame (the first frame sits at 0)
    del p["length"]
    assert len(WorldSynthesis().run(sr=16000, **p)["wav"]) == 80 * (n // 80 + 1)
    with pytest.raises(InputError, match="length must be >= 0") as e:
        WorldSynthesis().run(sr=16000, length=-1, **p)
    assert e.value.port == "length"


def test_synthesis_scales_down_instead_of_clipping(harvest, rms_wavs, caplog):
    """An envelope raised by 20 dB (as a conversion might) would clip: the level is lowered instead."""
    import logging

    import pyworld

    x, sr = rms_wavs[0]
    p = harvest.run(wav=x, sr=sr)
    loud = {**p, "sp": p["sp"] * 100.0}
    raw = pyworld.synthesize(*(loud[k].astype(np.float64) for k in ("f0", "sp", "ap")), sr, 5.0)[:len(x)]
    assert np.abs(raw).max() > 2.0  # it would clip: the case under test
    with caplog.at_level(logging.WARNING, logger="modulespack.speech.world"):
        y = WorldSynthesis().run(sr=sr, **loud)["wav"]
    assert np.abs(y).max() <= 1.0 and (np.abs(y) >= 0.999).sum() <= 2  # no run of clipped samples
    np.testing.assert_allclose(y, raw / np.abs(raw).max(), atol=1e-6)  # the same waveform, scaled
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "WorldSynthesis: output peak" in msg and "scaled down by" in msg
    # an ordinary copy synthesis stays within full scale and is not touched
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modulespack.speech.world"):
        WorldSynthesis().run(sr=sr, **p)
    assert not caplog.records


def test_synthesis_checks_frame_counts(harvest, rms_wavs):
    x, sr = rms_wavs[0]
    p = harvest.run(wav=x[:8000], sr=sr)
    with pytest.raises(ValueError, match="frame counts differ"):
        WorldSynthesis().run(f0=p["f0"][:-1], sp=p["sp"], ap=p["ap"], sr=sr)


def test_mcep_round_trip_and_band_aperiodicity(harvest, mcep, rms_wavs):
    x, sr = rms_wavs[0]
    p = harvest.run(wav=x, sr=sr)
    mc = mcep.run(sp=p["sp"], sr=sr)["mgc"]
    assert mc.shape == (len(p["f0"]), 25) and mc.dtype == np.float32
    sp = McepToSp(fft_size=1024).run(mgc=mc, sr=sr)["sp"]
    assert sp.shape == p["sp"].shape
    # 24th-order mel-cepstrum smooths the envelope: a few dB of log-spectral distance, no more
    lsd = np.sqrt(np.mean((10 * np.log10(sp / p["sp"])) ** 2, axis=1)).mean()
    assert lsd < 4.0
    assert np.allclose(SpToMcep(alpha=None).run(sp=p["sp"][:5], sr=sr)["mgc"],
                       SpToMcep(alpha=0.41).run(sp=p["sp"][:5])["mgc"], atol=1e-3)  # mcepalpha(16000) = 0.41
    bap = CodeAperiodicity().run(ap=p["ap"], sr=sr)["bap"]
    assert bap.shape == (len(p["f0"]), 1)  # one band at 16 kHz
    ap = DecodeAperiodicity().run(bap=bap, sr=sr)["ap"]
    assert ap.shape == p["ap"].shape
    with pytest.raises(ValueError, match="CodeAperiodicity: .*none at 8000 Hz"):
        CodeAperiodicity().run(ap=p["ap"][:, :257], sr=8000)


def test_one_instance_serves_concurrent_runs(rms_wavs):
    a = WorldAnalysis("dio")
    expect = [a.run(wav=x, sr=sr)["sp"] for x, sr in rms_wavs]
    got: dict[int, np.ndarray] = {}

    def work(i):
        x, sr = rms_wavs[i]
        got[i] = a.run(wav=x, sr=sr)["sp"]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(rms_wavs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, e in enumerate(expect):
        np.testing.assert_array_equal(got[i], e)


def test_features_graph_frames_agree(rms_wavs):
    pytest.importorskip("librosa")
    x, sr = rms_wavs[2]
    out = mp.Session(GRAPHS / "features.yaml").run({"wav": x, "sr": sr}).outputs
    n = len(x) // 80 + 1
    assert out["f0"].shape == (n,)
    assert out["mgc"].shape == (n, 25)
    assert out["bap"].shape == (n, 1)
    assert out["logmel"].shape == (n, 80)
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in out.values())
