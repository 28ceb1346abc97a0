"""Metrics against hand-computed values: MCD (with and without DTW, masks), F0 RMSE, WER/CER, and their modules."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")
pytest.importorskip("jiwer")

import modulespack as mp  # noqa: E402
from modulespack.speech.metrics import (MCD_CONST, F0Error, MelCepstralDistortion, WordErrorRate, align, cer,  # noqa: E402
                                        f0_rmse, mel_cepstral_distortion, speech_mask, wer)


@pytest.fixture
def mc():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.3, (60, 25)).astype(np.float32)
    x[:, 0] = rng.normal(-2, 0.2, 60)
    return x


def test_mcd_formula_and_c0_excluded(mc):
    assert mel_cepstral_distortion(mc, mc) == 0.0
    other = mc.copy()
    other[:, 0] += 5.0  # energy only: not counted
    other[:, 3] += 0.1
    other[:, 7] -= 0.2
    expect = 10 / np.log(10) * np.sqrt(2 * (0.1 ** 2 + 0.2 ** 2))
    assert mel_cepstral_distortion(mc, other, dtw=False) == pytest.approx(expect, rel=1e-5)
    assert mel_cepstral_distortion(mc, other) == pytest.approx(expect, rel=1e-5)  # DTW keeps the diagonal
    assert MCD_CONST == pytest.approx(6.1418, abs=1e-4)


def test_mcd_dtw_aligns_a_time_stretched_copy(mc):
    slow = np.repeat(mc, 2, axis=0)  # same frames, twice as slow
    assert mel_cepstral_distortion(mc, slow) == pytest.approx(0.0, abs=1e-9)
    assert mel_cepstral_distortion(mc, slow, dtw=False) > 1.0
    r = mel_cepstral_distortion(mc, slow, details=True)
    assert r.frames == len(r.path) >= len(slow) and float(r) == r.mcd
    assert (r.path[:, 0] == r.path[:, 1] // 2).all()
    assert r.path[0].tolist() == [0, 0] and r.path[-1].tolist() == [len(mc) - 1, len(slow) - 1]


def test_mcd_speech_only_and_masks(mc):
    ref, test = mc.copy(), mc.copy()
    ref[:10, 0] = test[:10, 0] = -20.0  # ten silent frames (c0 far below the rest) ...
    test[:10, 1:] += 1.0  # ... that differ a lot
    assert mel_cepstral_distortion(ref, test, dtw=False) > 5
    assert mel_cepstral_distortion(ref, test, dtw=False, speech_only=True) == pytest.approx(0.0, abs=1e-9)
    assert speech_mask(ref).sum() == 50
    keep = np.arange(60) >= 10
    assert mel_cepstral_distortion(ref, test, mask_ref=keep, mask_test=keep) == pytest.approx(0.0, abs=1e-9)
    r = mel_cepstral_distortion(ref, test, mask_ref=keep, mask_test=keep, details=True)
    assert r.path[:, 0].min() == 10  # indices into the original frames


def test_mcd_bad_inputs(mc):
    with pytest.raises(ValueError, match="different orders"):
        mel_cepstral_distortion(mc, mc[:, :20])
    with pytest.raises(ValueError, match="mask_ref"):
        mel_cepstral_distortion(mc, mc, mask_ref=np.ones(3, bool))
    with pytest.raises(ValueError, match="no frames"):
        mel_cepstral_distortion(mc, mc, mask_ref=np.zeros(60, bool))
    bad = mc.copy()
    bad[0, 1] = np.nan
    with pytest.raises(ValueError, match="mc_test contains NaN"):
        mel_cepstral_distortion(mc, bad)
    with pytest.raises(ValueError, match="max_dtw_cells"):
        mel_cepstral_distortion(mc, mc, max_dtw_cells=1000)  # 60 x 60 frames
    assert mel_cepstral_distortion(mc, mc, dtw=False, max_dtw_cells=1000) == 0.0


def test_f0_rmse_hz_cents_and_voicing():
    ref = np.array([0, 100, 100, 200, 200, 0], np.float32)
    test = np.array([0, 110, 90, 200, 0, 150], np.float32)
    e = f0_rmse(ref, test)
    assert e.rmse == pytest.approx(np.sqrt((100 + 100 + 0) / 3))
    assert e.vuv_error == pytest.approx(2 / 6) and e.voiced_both == 3 and e.frames == 6
    rmse, vuv = f0_rmse(ref, test)
    assert (rmse, vuv) == (e.rmse, e.vuv_error)
    octave = f0_rmse(np.array([100.0, 220.0]), np.array([200.0, 110.0]), unit="cents")
    assert octave.rmse == pytest.approx(1200.0)
    assert np.isnan(f0_rmse(np.array([0.0, 100.0]), np.array([100.0, 0.0])).rmse)
    # different lengths: the shorter; an explicit alignment path
    assert f0_rmse(ref, test[:3]).frames == 3
    path = np.array([[1, 0], [2, 0]])
    assert f0_rmse(ref, np.array([105.0]), path=path).rmse == pytest.approx(5.0)
    with pytest.raises(ValueError, match="unit"):
        f0_rmse(ref, test, unit="semitones")


def test_wer_cer_normalised_with_alignment():
    assert wer("The old man, found a RED box!", "the old man found a red box") == 0.0
    assert wer("the cat sat on the mat", "the bat sat on mat") == pytest.approx(2 / 6)
    assert wer("a b", "a b c d") == pytest.approx(1.0)  # insertions can pass 1
    assert cer("abcd", "abed") == pytest.approx(0.25)
    out = align("the cat sat on the mat", "the bat sat on mat")
    assert (out.substitutions, out.deletions, out.insertions, out.hits) == (1, 1, 0, 4)
    assert [c.type for c in out.alignments[0]] == ["equal", "substitute", "equal", "delete", "equal"]
    with pytest.raises(ValueError, match="empty after normalisation"):
        wer("?!", "anything")
    assert wer("words here", "") == 1.0


def test_metric_modules_in_a_graph(mc):
    spec = mp.load_graph({
        "inputs": {"a": {"dtype": "float32", "shape": [None, None]}, "b": {"dtype": "float32", "shape": [None, None]},
                   "fa": {"dtype": "float32", "shape": [None]}, "fb": {"dtype": "float32", "shape": [None]},
                   "ref": "str", "hyp": "str"},
        "nodes": [{"name": "mcd", "module": "mcd", "params": {"dtw": False}, "inputs": {"mc_ref": "$a", "mc_test": "$b"}},
                  {"name": "f0", "module": "f0_error", "params": {"unit": "cents"},
                   "inputs": {"f0_ref": "$fa", "f0_test": "$fb"}},
                  {"name": "asr", "module": "wer", "inputs": {"ref": "$ref", "hyp": "$hyp"}}],
    })
    other = mc.copy()
    other[:, 1] += 0.1
    res = mp.Session(spec).run({"a": mc, "b": other, "fa": np.array([100, 0], np.float32),
                                "fb": np.array([200, 100], np.float32), "ref": "one two", "hyp": "one three"})
    assert res["mcd/mcd"] == pytest.approx(MCD_CONST * 0.1, rel=1e-4)
    assert res["f0/rmse"] == pytest.approx(1200.0) and res["f0/vuv_error"] == 0.5
    assert res["asr/wer"] == 0.5 and res["asr/cer"] == pytest.approx(4 / 7)
    assert MelCepstralDistortion.describe().startswith("Mel-cepstral distortion")
    assert F0Error().run(f0_ref=np.zeros(3, np.float32), f0_test=np.zeros(3, np.float32))["vuv_error"] == 0.0
    assert WordErrorRate().run(ref="a", hyp="a") == {"wer": 0.0, "cer": 0.0}


def test_mcd_on_speech_copy_synthesis_below_source_target(flite_wav, sentences):
    pytest.importorskip("pyworld")
    from modulespack.io import read_wav
    from modulespack.speech.world import SpToMcep, WorldAnalysis, WorldSynthesis

    an, mcep = WorldAnalysis("dio"), SpToMcep()
    x, sr = read_wav(flite_wav(sentences[6], "rms"))
    t, _ = read_wav(flite_wav(sentences[6], "slt"))
    p = an.run(wav=x, sr=sr)
    y = WorldSynthesis().run(sr=sr, **p)["wav"]
    mc_x, mc_y, mc_t = (mcep.run(sp=an.run(wav=w, sr=sr)["sp"])["mgc"] for w in (x, y, t))
    copy = mel_cepstral_distortion(mc_x, mc_y, dtw=False)
    cross = mel_cepstral_distortion(mc_x, mc_t)
    assert copy < 5.0 < 8.0 < cross
    assert mel_cepstral_distortion(mc_x, mc_t, speech_only=True) > 5.0
