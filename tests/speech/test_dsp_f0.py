"""F0 on flite's male and female voices: DIO medians, Harvest and pYIN agreeing with DIO."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from modulespack.speech import dsp  # noqa: E402


def test_f0_dio_medians_for_male_and_female_voices(rms, slt):
    f0 = dsp.F0(method="dio")
    male = f0.run(wav=rms[0], sr=rms[1])["f0"]
    female = f0.run(wav=slt[0], sr=slt[1])["f0"]
    for track, wav in ((male, rms[0]), (female, slt[0])):
        assert track.dtype == np.float32 and abs(len(track) - len(wav) / 80) <= 2  # 5 ms frames
        assert (track == 0).any() and (track > 0).mean() > 0.3
    assert 80 <= np.median(male[male > 0]) <= 160
    assert 150 <= np.median(female[female > 0]) <= 260


def test_f0_harvest_and_pyin_agree_with_dio(slt):
    x, sr = slt
    seg = x[8000:24000]  # one second keeps pYIN (~2 s per second of audio) affordable
    dio = dsp.F0(method="dio", frame_period_ms=10).run(wav=seg, sr=sr)["f0"]
    harvest = dsp.F0(method="harvest", frame_period_ms=10).run(wav=seg, sr=sr)["f0"]
    pyin = dsp.F0(method="pyin", frame_period_ms=10, f0_floor=100).run(wav=seg, sr=sr)["f0"]
    assert abs(len(pyin) - len(dio)) <= 1 and abs(len(harvest) - len(dio)) <= 1
    ref = np.median(dio[dio > 0])
    for track in (harvest, pyin):
        assert abs(np.median(track[track > 0]) - ref) / ref < 0.1
