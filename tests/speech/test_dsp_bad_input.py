"""Bad input to the DSP modules: NaN and empty audio refused (InputError) naming the module and the
port, one sample works, impossible parameters fail when the module is built."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("librosa")

from modulespack.core.errors import InputError  # noqa: E402
from modulespack.speech import dsp  # noqa: E402
from modulespack.speech.griffinlim import GriffinLim  # noqa: E402


def _wav_modules():
    return [
        ("Resample", lambda w: dsp.Resample(target_sr=8000).run(wav=w, sr=16000)),
        ("TrimSilence", lambda w: dsp.TrimSilence().run(wav=w)),
        ("Preemphasis", lambda w: dsp.Preemphasis().run(wav=w)),
        ("Deemphasis", lambda w: dsp.Deemphasis().run(wav=w)),
        ("STFT", lambda w: dsp.STFT().run(wav=w)),
        ("MelSpectrogram", lambda w: dsp.MelSpectrogram().run(wav=w)),
        ("MFCC", lambda w: dsp.MFCC().run(wav=w)),
        ("LoudnessNormalize", lambda w: dsp.LoudnessNormalize().run(wav=w)),
        ("F0", lambda w: dsp.F0().run(wav=w)),
    ]


@pytest.mark.parametrize("name,call", _wav_modules(), ids=[n for n, _ in _wav_modules()])
def test_nan_samples_raise_naming_module_and_count(rms, name, call):
    x = rms[0][:16000].copy()
    x[[10, 500, 9000]] = np.nan
    with pytest.raises(InputError, match=rf"^{name}: input audio has 3 NaN") as e:
        call(x)
    assert e.value.port == "wav"


@pytest.mark.parametrize("name,call", _wav_modules(), ids=[n for n, _ in _wav_modules()])
def test_empty_audio_raises_and_one_sample_works(name, call):
    with pytest.raises(InputError, match=rf"^{name}: empty audio") as e:
        call(np.zeros(0, np.float32))
    assert e.value.port == "wav"
    out = call(np.array([0.25], np.float32))
    for v in out.values():
        if isinstance(v, np.ndarray):
            assert v.size > 0 and np.isfinite(v).all()


def test_one_sample_through_stft_inverses_and_griffinlim():
    spec = dsp.STFT(n_fft=1024, hop_length=256).run(wav=np.array([0.25], np.float32))["spec"]
    assert spec.shape == (1, 513)
    assert len(dsp.ISTFT(n_fft=1024, hop_length=256).run(spec=spec)["wav"]) == 256
    assert len(dsp.ISTFT(n_fft=1024, hop_length=256).run(spec=spec, length=1)["wav"]) == 1
    with pytest.warns(UserWarning, match="too large"):  # librosa's, for outputs shorter than n_fft
        y = GriffinLim(n_fft=1024, hop_length=256, n_iter=3).run(mag=np.abs(spec))["wav"]
    assert len(y) == 256 and np.isfinite(y).all()


def test_bad_parameters_fail_when_the_module_is_built():
    with pytest.raises(ValueError, match="win_length 2048 is larger than n_fft 1024"):
        dsp.STFT(n_fft=1024, win_length=2048)
    with pytest.raises(ValueError, match="unknown window"):
        dsp.STFT(window="nope")
    with pytest.raises(ValueError, match="n_mfcc"):
        dsp.MFCC(n_mfcc=90, n_mels=80)
    with pytest.raises(ValueError, match="momentum"):
        GriffinLim(momentum=1.5)
    problems = dict(dsp.F0.param_problems({"method": "yin"}))
    assert "method" in problems
