"""Getting audio in: LoadWav (a WAV file as float32 mono and its rate) and Resample (soxr)."""
from __future__ import annotations

import logging
from typing import Literal

import numpy as np

from ...core.module import Module
from ...core.ports import Port
from .checks import SR, WAV, _positive, _rate, check_wav

log = logging.getLogger(__package__)  # one logger, "modulespack.speech.dsp", for the whole package


class LoadWav(Module):
    """Read a WAV file as float32 mono audio and its sample rate, resampling or down-mixing if asked.

    `sr`: target rate; None keeps the file's own. A file at another rate is resampled with soxr
    and a warning names both rates. `mono=True` averages the channels of a multi-channel file (with
    a warning); `mono=False` always returns (frames, channels), which downstream mono modules
    refuse when the graph is built.
    """

    inputs = {"path": Port("str", doc="path of a WAV file")}
    outputs = {"wav": WAV, "sr": SR}

    def __init__(self, sr: int | None = None, mono: bool = True):
        _positive("LoadWav", sr=sr)
        self.sr = sr
        self.mono = mono

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        if params.get("mono", True) is False:
            outs["wav"] = Port("float32", (None, None), "audio (frames, channels)")
        return ins, outs

    @classmethod
    def port_attrs(cls, params, in_attrs):
        return {"wav": {"sr": params["sr"]}} if params.get("sr") else {}

    def run(self, path):
        from ...io import read_wav
        x, sr = read_wav(path)
        if x.ndim == 2:
            if self.mono:
                log.warning("LoadWav: %s has %d channels; averaging them to mono", path, x.shape[1])
                x = x.mean(axis=1, dtype=np.float32)
        elif not self.mono:
            x = x[:, None]
        if self.sr is not None and sr != self.sr:
            import soxr
            log.warning("LoadWav: %s is at %d Hz; resampling it from %d Hz to %d Hz", path, sr, sr, self.sr)
            x = soxr.resample(x, sr, self.sr).astype(np.float32, copy=False)
            sr = self.sr
        return {"wav": np.ascontiguousarray(x, dtype=np.float32), "sr": int(sr)}


class Resample(Module):
    """Resample audio to `target_sr` with soxr (high quality); passes it through if already there.

    Logs every resampling: at WARNING when upsampling (the result has nothing above the source's
    Nyquist frequency, which models trained on full-band audio may notice), at INFO otherwise.
    An input so short that downsampling leaves no sample gives its first sample instead.
    """

    inputs = {"wav": WAV, "sr": SR}
    outputs = {"wav": WAV, "sr": SR}

    def __init__(self, target_sr: int = 16000, quality: Literal["QQ", "LQ", "MQ", "HQ", "VHQ"] = "HQ"):
        _positive("Resample", target_sr=target_sr)
        self.target_sr = target_sr
        self.quality = quality

    @classmethod
    def port_attrs(cls, params, in_attrs):
        return {"wav": {"sr": params.get("target_sr")}}

    def run(self, wav, sr):
        sr = _rate(sr, "Resample")
        x = check_wav(wav, "Resample")
        if sr == self.target_sr:
            return {"wav": x, "sr": sr}
        import soxr
        if sr < self.target_sr:
            log.warning("Resample: upsampling from %d Hz to %d Hz; the output has no content above %d Hz",
                        sr, self.target_sr, sr // 2)
        else:
            log.info("Resample: resampling from %d Hz to %d Hz", sr, self.target_sr)
        y = soxr.resample(x, sr, self.target_sr, quality=self.quality)
        if y.size == 0:  # a 1-sample input downsampled rounds to nothing
            y = x[:1]
        return {"wav": np.ascontiguousarray(y, dtype=np.float32), "sr": self.target_sr}
