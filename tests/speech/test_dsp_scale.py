"""Value-scale modules: amplitude/dB, dB normalisation, Power."""
from __future__ import annotations

import numpy as np
import pytest

librosa = pytest.importorskip("librosa")

from modulespack.speech import dsp  # noqa: E402


def test_amp_db_convention_and_round_trip(rms):
    amp = np.array([1.0, 10.0, 0.1, 1e-3], np.float32)
    db = dsp.AmpToDb(top_db=None).run(amp=amp)["db"]
    np.testing.assert_allclose(db, [0, 20, -20, -60], atol=1e-4)  # 20*log10
    floored = dsp.AmpToDb(top_db=40.0).run(amp=amp)["db"]
    assert floored.min() == pytest.approx(20 - 40)

    x, _ = rms
    mag = np.abs(librosa.stft(x)).T
    db = dsp.AmpToDb().run(amp=mag)["db"]
    np.testing.assert_allclose(db, librosa.amplitude_to_db(mag), atol=1e-4)
    back = dsp.DbToAmp().run(db=db)["amp"]
    above = db > db.max() - 79  # values that the 80 dB floor left alone
    np.testing.assert_allclose(back[above], mag[above], rtol=1e-4)


def test_normalize_denormalize_round_trip_and_clipping():
    db = np.linspace(-50, 40, 91, dtype=np.float32)
    norm = dsp.NormalizeDb(min_db=-50, max_db=40).run(db=db)["norm"]
    np.testing.assert_allclose(norm, np.linspace(0, 1, 91), atol=1e-6)
    back = dsp.DenormalizeDb(min_db=-50, max_db=40).run(norm=norm)["db"]
    np.testing.assert_allclose(back, db, atol=1e-4)
    out = dsp.NormalizeDb(min_db=-50, max_db=40).run(db=np.array([-80, 60], np.float32))["norm"]
    assert out.tolist() == [0.0, 1.0]
    assert dsp.DenormalizeDb(min_db=-50, max_db=40).run(norm=np.array([-1, 2], np.float32))["db"].tolist() == [-50, 40]
    with pytest.raises(ValueError, match="max_db"):
        dsp.NormalizeDb(min_db=10, max_db=0)


def test_power():
    x = np.array([[0.0, 1.0], [4.0, 9.0]], np.float32)
    np.testing.assert_allclose(dsp.Power(p=0.5).run(x=x)["y"], [[0, 1], [2, 3]])
    np.testing.assert_allclose(dsp.Power(p=1.6).run(x=x)["y"], x ** 1.6, rtol=1e-6)
    with pytest.raises(ValueError, match="1 negative"):
        dsp.Power(p=1.6).run(x=np.array([-1.0, 1.0], np.float32))
