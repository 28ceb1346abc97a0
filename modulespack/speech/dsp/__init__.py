"""Signal-processing modules: loading, resampling, trimming, pre-emphasis, STFT, mel, MFCC, dB scales, F0.

Conventions shared by every module here:

- audio is ``wav: float32 (n,)``, mono, in [-1, 1]; the rate travels on a separate ``sr: int`` port;
- time-frequency matrices are frames-first, ``(frames, bins)`` or ``(frames, n_mels)``, row-major,
  as the toolkit stores features (librosa's own layout is the transpose);
- bad audio is refused, not repaired: an empty input, or one with NaN or infinite samples, raises
  ``InputError`` (a ValueError) naming the module, the port and how many samples are bad. Repairing NaNs silently (by zeros)
  would hide a broken upstream step, and a single NaN spreads through every FFT frame it touches;
- the work is done by librosa, scipy, soxr and pyworld, not by hand-written DSP.

Nothing here keeps state between runs, so one instance serves concurrent runs. All modules log
to the ``modulespack.speech.dsp`` logger.

Files: ``checks`` (shared ports and input checks), ``blocks`` (bounded-memory framing),
``load`` (LoadWav, Resample), ``time_domain`` (TrimSilence, Preemphasis, Deemphasis,
LoudnessNormalize), ``spectral`` (STFT, ISTFT, Magnitude, MelSpectrogram, MFCC), ``scale``
(AmpToDb, DbToAmp, NormalizeDb, DenormalizeDb, Power), ``pitch`` (F0). Import from this
package; the entry points name ``modulespack.speech.dsp:<Class>``.
"""
from __future__ import annotations

# The modules, for the entry points (`modulespack.speech.dsp:<Class>`) and `from ...dsp import X`;
# the shared ports and checks are imported from `.checks` by whoever needs them.
from .load import LoadWav, Resample
from .pitch import F0
from .scale import AmpToDb, DbToAmp, DenormalizeDb, NormalizeDb, Power
from .spectral import ISTFT, MFCC, STFT, Magnitude, MelSpectrogram
from .time_domain import Deemphasis, LoudnessNormalize, Preemphasis, TrimSilence

__all__ = [
    "LoadWav", "Resample",
    "TrimSilence", "Preemphasis", "Deemphasis", "LoudnessNormalize",
    "STFT", "ISTFT", "Magnitude", "MelSpectrogram", "MFCC",
    "AmpToDb", "DbToAmp", "NormalizeDb", "DenormalizeDb", "Power",
    "F0",
]
