"""Griffin-Lim phase reconstruction: a waveform from a frames-first magnitude spectrogram."""
from __future__ import annotations

import numpy as np

from ..core.errors import InputError
from ..core.module import Module
from ..core.ports import Port
from .dsp.checks import WAV, _bins_port, _check_bins, _check_finite, _check_frames, _positive


class GriffinLim(Module):
    """Waveform from a magnitude spectrogram (frames, n_fft//2+1) by fast Griffin-Lim (librosa.griffinlim).

    `momentum` 0.99 is the "fast Griffin-Lim" of Perraudin et al. (2013), which converges in far
    fewer iterations than the plain algorithm (momentum 0) that modulespack2 ran. The random initial
    phase comes from a generator seeded with `seed` on every run, so a given input always gives the
    same output and concurrent runs share nothing; `seed: null` draws a fresh phase each time.
    The STFT parameters must be those that made the magnitudes. `length` (optional input) fixes
    the output length; without it the output has hop_length * (frames - 1) samples, and at least
    hop_length (one frame would otherwise give none). Outputs shorter than n_fft work, though
    librosa warns that n_fft is too large for them.
    """

    inputs = {"mag": Port("float32", (None, None), "magnitude (frames, bins)"),
              "length": Port("int", doc="output length in samples")}
    outputs = {"wav": WAV}

    def __init__(self, n_fft: int = 1024, hop_length: int = 256, win_length: int | None = None,
                 window: str = "hann", n_iter: int = 60, momentum: float = 0.99, seed: int | None = 0):
        _check_frames(n_fft, hop_length, win_length, window, "GriffinLim")
        _positive("GriffinLim", n_iter=n_iter)
        if not 0 <= momentum < 1:
            # librosa allows > 1 with a warning; it diverges, so refuse it here
            raise ValueError(f"GriffinLim: momentum must be in [0, 1), got {momentum}")
        self.n_fft, self.hop_length, self.win_length, self.window = n_fft, hop_length, win_length, window
        self.n_iter, self.momentum, self.seed = n_iter, momentum, seed

    @classmethod
    def ports(cls, params):
        ins, outs = super().ports(params)
        ins["mag"] = _bins_port(cls, params, "float32", "magnitude (frames, n_fft//2+1)")
        return ins, outs

    def run(self, mag, length=None):
        import librosa
        m = np.asarray(mag, dtype=np.float32)
        _check_bins(m, self.n_fft, "GriffinLim", "mag")
        _check_finite(m, "GriffinLim", "mag")
        if m.min() < 0:
            raise InputError(f"GriffinLim: magnitudes must be >= 0, got {int((m < 0).sum())} negative values",
                             port="mag")
        hop, frames = self.hop_length, m.shape[0]
        want = max(hop * (frames - 1), hop) if length is None else int(length)
        if want <= 0:
            raise InputError(f"GriffinLim: length must be positive, got {length}", port="length")
        # librosa.griffinlim re-analyses a signal of `length` samples each iteration and fails unless
        # that gives the same number of frames (length in [hop*(F-1), hop*F - 1]); iterate on such a
        # length and pad or cut afterwards
        inner = min(max(want, hop * (frames - 1)), hop * frames - 1)
        rng = np.random.default_rng(self.seed)
        y = librosa.griffinlim(np.ascontiguousarray(m.T), n_iter=self.n_iter, hop_length=hop,
                               win_length=self.win_length, n_fft=self.n_fft, window=self.window, center=True,
                               length=inner, momentum=self.momentum, init="random", random_state=rng)
        return {"wav": np.ascontiguousarray(librosa.util.fix_length(y, size=want), dtype=np.float32)}
