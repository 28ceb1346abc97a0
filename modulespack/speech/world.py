"""WORLD vocoder modules (pyworld) and mel-cepstrum conversion (pysptk).

Conventions: audio is float32 mono in [-1, 1] with its rate `sr`; frame features are float32
`[frames, dim]`, one frame every `frame_period` ms; F0 is float32 Hz with 0 for unvoiced frames.
The spectral envelope `sp` is WORLD's power spectrum (fft_size // 2 + 1 bins per frame) and the
aperiodicity `ap` is WORLD's 0..1 ratio on the same bins.

FFT size: `fft_size=None` takes pyworld's CheapTrick default for the rate and `f0_floor`
(`pyworld.get_cheaptrick_fft_size`): 512 at 8 kHz, 1024 at 16-24 kHz, 2048 at 44.1/48 kHz with the
default 71 Hz floor. A fixed `fft_size` that is small for the rate raises CheapTrick's own F0 floor
to 3 * sr / (fft_size - 3): analysis still works but low voices lose detail.

pyworld's functions are pure C calls on the arrays given, so one module instance serves concurrent
runs; the modules keep no state besides their parameters.
"""
from __future__ import annotations

import functools
import logging
import math
import warnings
from typing import Any, Literal, Mapping

import numpy as np

from ..core.errors import InputError
from ..core.module import Module
from ..core.ports import Port
from .frames import frame_attrs, frames_of, rate_of

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=None)
def _pyworld():
    # Imported once (modules call this in __init__, before any concurrent run).
    # pyworld imports pkg_resources (deprecated in setuptools, pinned < 81): keep its warning quiet.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        import pyworld
    return pyworld


@functools.lru_cache(maxsize=None)
def _pysptk():
    import pysptk
    return pysptk


# Wrong input values raise InputError naming the input port (the caller's mistake); impossible
# parameters raise ValueError when the module is built.

def _check_sr(owner: str, sr: Any) -> int:
    if isinstance(sr, (bool, np.bool_)) or not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise InputError(f"{owner}: sr must be a positive integer sample rate, got {sr!r}", port="sr")
    return int(sr)


def _check_wav(owner: str, wav: Any, sr: int, min_samples: int) -> np.ndarray:
    x = np.asarray(wav)
    if x.ndim != 1:
        raise InputError(f"{owner}: expected mono audio of shape (samples,), got shape {x.shape}", port="wav")
    if not np.issubdtype(x.dtype, np.floating):
        raise InputError(f"{owner}: expected float samples in [-1, 1], got {x.dtype}", port="wav")
    if len(x) < min_samples:
        raise InputError(f"{owner}: input is {len(x)} sample(s) long; WORLD analysis needs at least "
                         f"{min_samples} samples ({1000 * min_samples / sr:.0f} ms at {sr} Hz)", port="wav")
    if not np.isfinite(x).all():
        bad = np.flatnonzero(~np.isfinite(x))
        raise InputError(f"{owner}: wav contains NaN or infinity ({len(bad)} sample(s), first at index {bad[0]})",
                         port="wav")
    return np.ascontiguousarray(x, dtype=np.float64)


def _check_frames(owner: str, name: str, a: Any, ndim: int) -> np.ndarray:
    x = np.asarray(a)
    if x.ndim != ndim:
        raise InputError(f"{owner}: {name} must have {ndim} dimension(s), got shape {x.shape}", port=name)
    if not np.isfinite(x).all():
        raise InputError(f"{owner}: {name} contains NaN or infinity", port=name)
    return np.ascontiguousarray(x, dtype=np.float64)


def _bins(fft_size: Any) -> int | None:
    return fft_size // 2 + 1 if isinstance(fft_size, int) and not isinstance(fft_size, bool) and fft_size > 0 else None


def _check_fft_size(owner: str, fft_size: int | None) -> None:
    if fft_size is not None and (fft_size < 16 or fft_size % 2):
        raise ValueError(f"{owner}: fft_size must be an even number >= 16 (a power of two is usual), got {fft_size}")


def default_fft_size(sr: int, f0_floor: float = 71.0) -> int:
    """CheapTrick's FFT size for a rate: the power of two above 3 * sr / f0_floor (1024 at 16 kHz)."""
    return int(_pyworld().get_cheaptrick_fft_size(int(sr), float(f0_floor)))


class _FftSized(Module):
    """A module with an `fft_size` parameter: a fixed size fixes the width of its `_binned`
    outputs (fft_size//2+1 bins) at build time; None leaves it to the rate at run time."""

    _binned: tuple[str, ...] = ()

    @classmethod
    def ports(cls, params: Mapping[str, Any]):
        ins, outs = super().ports(params)
        n = _bins(params.get("fft_size"))
        if n is not None:
            for name in cls._binned:
                outs[name] = Port("float32", (None, n), outs[name].doc)
        return ins, outs


class WorldAnalysis(_FftSized):
    """WORLD analysis: F0 (DIO+StoneMask or Harvest), spectral envelope (CheapTrick), aperiodicity (D4C).

    `f0_method`: "dio" (DIO refined by StoneMask: fast, about 4x faster than Harvest) or "harvest"
    (slower, fewer voicing errors). `frame_period` in ms. `fft_size=None` chooses CheapTrick's default
    for the input rate (1024 at 16 kHz, 512 at 8 kHz), so any rate works; a fixed size fixes the
    width of `sp`/`ap` at build time. F0 search range `f0_floor`..`f0_ceil` Hz.
    Silence gives all-zero F0. Inputs shorter than one frame period, or containing NaN, raise InputError.
    `length` is the number of samples analysed: connect it to WorldSynthesis's `length` so that
    the resynthesis has exactly the input's length.
    """

    inputs = {"wav": Port("float32", (None,), "mono audio in [-1, 1]"),
              "sr": Port("int", doc="sample rate in Hz")}
    outputs = {"f0": Port("float32", (None,), "F0 in Hz, 0 = unvoiced"),
               "sp": Port("float32", (None, "bins"), "spectral envelope (power), fft_size//2+1 bins"),
               "ap": Port("float32", (None, "bins"), "aperiodicity 0..1, fft_size//2+1 bins"),
               "length": Port("int", doc="samples analysed (for WorldSynthesis's length)")}
    _binned = ("sp", "ap")

    @classmethod
    def port_attrs(cls, params, in_attrs):
        # frames every frame_period ms; their rate and shift in samples when the audio's rate is known
        fa = frame_attrs(rate_of(in_attrs), period_ms=params.get("frame_period"))
        return {"f0": fa, "sp": fa, "ap": fa}

    def __init__(self, f0_method: Literal["dio", "harvest"] = "harvest", frame_period: float = 5.0,
                 fft_size: int | None = None, f0_floor: float = 71.0, f0_ceil: float = 800.0,
                 d4c_threshold: float = 0.85):
        if f0_method not in ("dio", "harvest"):
            raise ValueError(f"WorldAnalysis: f0_method must be 'dio' or 'harvest', got {f0_method!r}")
        if not frame_period > 0:
            raise ValueError(f"WorldAnalysis: frame_period must be > 0 ms, got {frame_period}")
        if not 0 < f0_floor < f0_ceil:
            raise ValueError(f"WorldAnalysis: need 0 < f0_floor < f0_ceil, got {f0_floor}, {f0_ceil}")
        _check_fft_size("WorldAnalysis", fft_size)
        self.f0_method = f0_method
        self.frame_period = float(frame_period)
        self.fft_size = fft_size
        self.f0_floor = float(f0_floor)
        self.f0_ceil = float(f0_ceil)
        self.d4c_threshold = float(d4c_threshold)
        _pyworld()

    def run(self, wav, sr):
        pw = _pyworld()
        sr = _check_sr("WorldAnalysis", sr)
        x = _check_wav("WorldAnalysis", wav, sr, max(2, math.ceil(sr * self.frame_period / 1000)))
        if self.f0_ceil >= sr / 2:
            raise InputError(f"WorldAnalysis: f0_ceil {self.f0_ceil} Hz must be below half the sample rate "
                             f"({sr / 2:g} Hz); usable rates: above {2 * self.f0_ceil:g} Hz", port="sr")
        if self.f0_method == "dio":
            f0, t = pw.dio(x, sr, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil, frame_period=self.frame_period)
            f0 = pw.stonemask(x, f0, t, sr)
        else:
            f0, t = pw.harvest(x, sr, f0_floor=self.f0_floor, f0_ceil=self.f0_ceil, frame_period=self.frame_period)
        fft = self.fft_size or default_fft_size(sr, self.f0_floor)
        sp = pw.cheaptrick(x, f0, t, sr, f0_floor=self.f0_floor, fft_size=fft)
        ap = pw.d4c(x, f0, t, sr, threshold=self.d4c_threshold, fft_size=fft)
        return {"f0": f0.astype(np.float32), "sp": sp.astype(np.float32), "ap": ap.astype(np.float32),
                "length": len(x)}


class WorldSynthesis(Module):
    """WORLD synthesis: a waveform from F0, spectral envelope and aperiodicity.

    `frame_period` (ms) must match the analysis. The frames of `f0`, `sp` and `ap` must agree and
    `sp`/`ap` have fft_size//2+1 bins.

    Length: WORLD makes frames * frame_period of audio, up to one frame more than the audio that
    was analysed (frame i sits at i * frame_period, the first at 0). Connect `length`
    (WorldAnalysis's `length` output) to get exactly the analysed length back; without it the
    output keeps WORLD's frames * frame_period samples, the duration of generated features.

    Level: modified features (a converted F0 or envelope) can push the waveform past full scale.
    Rather than clipping it, the whole output is scaled down to a peak of 1.0, and a warning on
    the `modulespack.speech.world` logger gives the peak and the gain.
    """

    inputs = {"f0": Port("float32", (None,), "F0 in Hz, 0 = unvoiced"),
              "sp": Port("float32", (None, "bins"), "spectral envelope (power)"),
              "ap": Port("float32", (None, "bins"), "aperiodicity 0..1"),
              "sr": Port("int", doc="sample rate in Hz"),
              "length": Port("int", doc="output length in samples (WorldAnalysis's length)")}
    outputs = {"wav": Port("float32", (None,), "mono audio in [-1, 1]")}

    @classmethod
    def ports(cls, params: Mapping[str, Any]):
        # the frames must be as far apart as this synthesis assumes: analysis at 10 ms into
        # synthesis at 5 ms is refused when the graph is built
        ins, outs = super().ports(params)
        fa = frame_attrs(period_ms=params.get("frame_period", 5.0))
        for name in ("f0", "sp", "ap"):
            ins[name] = ins[name].with_attrs(fa)
        return ins, outs

    @classmethod
    def port_attrs(cls, params, in_attrs):
        sr = next((a["sr"] for a in in_attrs.values() if "sr" in a), None)
        return {"wav": {"sr": sr}} if sr else {}

    def __init__(self, frame_period: float = 5.0):
        if not frame_period > 0:
            raise ValueError(f"WorldSynthesis: frame_period must be > 0 ms, got {frame_period}")
        self.frame_period = float(frame_period)
        _pyworld()

    def run(self, f0, sp, ap, sr, length=None):
        sr = _check_sr("WorldSynthesis", sr)
        f0 = _check_frames("WorldSynthesis", "f0", f0, 1)
        sp = _check_frames("WorldSynthesis", "sp", sp, 2)
        ap = _check_frames("WorldSynthesis", "ap", ap, 2)
        if length is not None and int(length) < 0:
            raise InputError(f"WorldSynthesis: length must be >= 0 samples, got {length}", port="length")
        if not (len(f0) == len(sp) == len(ap)):
            raise InputError(f"WorldSynthesis: frame counts differ: f0 {len(f0)}, sp {len(sp)}, ap {len(ap)}",
                             port="f0")
        if sp.shape[1] != ap.shape[1] or sp.shape[1] < 9:
            raise InputError(f"WorldSynthesis: sp and ap need the same number of bins (fft_size//2+1), "
                             f"got {sp.shape[1]} and {ap.shape[1]}", port="ap")
        if (f0 < 0).any():
            raise InputError("WorldSynthesis: f0 has negative values (use 0 for unvoiced frames)", port="f0")
        y = _pyworld().synthesize(f0, sp, ap, sr, frame_period=self.frame_period) if len(f0) else np.zeros(0)
        if length is not None:
            n = int(length)
            y = y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
        return {"wav": _limit_peak(y).astype(np.float32)}


def _limit_peak(y: np.ndarray) -> np.ndarray:
    peak = float(np.abs(y).max()) if y.size else 0.0
    if peak <= 1.0:
        return y
    over = int((np.abs(y) > 1.0).sum())
    log.warning("WorldSynthesis: output peak %.3f (%d of %d samples beyond full scale); scaled down by "
                "%.2f dB instead of clipping", peak, over, y.size, 20 * math.log10(peak))
    return y / peak


def _check_alpha(owner: str, alpha: float | None) -> None:
    if alpha is not None and not -1 < alpha < 1:
        raise ValueError(f"{owner}: alpha must be in (-1, 1), got {alpha}")


def _alpha(owner: str, alpha: float | None, sr: Any) -> float:
    if alpha is not None:
        return float(alpha)
    if sr is None:
        raise ValueError(f"{owner}: alpha=None takes the all-pass constant from the sample rate: connect `sr`")
    return float(_pysptk().util.mcepalpha(_check_sr(owner, sr)))


class SpToMcep(Module):
    """Spectral envelope to mel-cepstrum (pysptk.sp2mc): `order`+1 coefficients per frame, c0 first.

    `alpha` is the all-pass (frequency warping) constant: 0.42 suits 16 kHz (0.31 at 8 kHz,
    0.55 at 48 kHz); `alpha=None` derives it from `sr` with pysptk.util.mcepalpha.
    """

    inputs = {"sp": Port("float32", (None, None), "spectral envelope (power)"),
              "sr": Port("int", doc="sample rate in Hz (needed only when alpha is None)")}
    outputs = {"mgc": Port("float32", (None, None), "mel-cepstrum, order+1 coefficients")}

    def __init__(self, order: int = 24, alpha: float | None = 0.42):
        if order < 1:
            raise ValueError(f"SpToMcep: order must be >= 1, got {order}")
        _check_alpha("SpToMcep", alpha)
        self.order = int(order)
        self.alpha = alpha
        _pysptk()

    @classmethod
    def ports(cls, params: Mapping[str, Any]):
        ins, outs = super().ports(params)
        order = params.get("order", 24)
        if isinstance(order, int) and not isinstance(order, bool):
            outs["mgc"] = Port("float32", (None, order + 1), outs["mgc"].doc)
        return ins, outs

    @classmethod
    def port_attrs(cls, params, in_attrs):
        out = frames_of(in_attrs.get("sp"))
        order = params.get("order", 24)
        if isinstance(order, int) and not isinstance(order, bool):
            out["dim"] = order + 1
        if params.get("alpha") is not None:
            out["alpha"] = float(params["alpha"])
        return {"mgc": out}

    def run(self, sp, sr=None):
        sp = _check_frames("SpToMcep", "sp", sp, 2)
        if sp.shape[1] < 2 * self.order:
            raise InputError(f"SpToMcep: sp has {sp.shape[1]} bins, too few for order {self.order}", port="sp")
        alpha = _alpha("SpToMcep", self.alpha, sr)
        if len(sp) == 0:
            return {"mgc": np.zeros((0, self.order + 1), np.float32)}
        # log(0) would give -inf: floor exact zeros (WORLD itself never outputs them) far below speech.
        mc = _pysptk().sp2mc(np.maximum(sp, 1e-30), self.order, alpha)
        return {"mgc": mc.astype(np.float32)}


class McepToSp(_FftSized):
    """Mel-cepstrum to spectral envelope (pysptk.mc2sp), the inverse of SpToMcep.

    `fft_size=None` uses CheapTrick's default for `sr` (1024 at 16 kHz); `alpha` must match the
    analysis (None = pysptk.util.mcepalpha(sr)).
    """

    inputs = {"mgc": Port("float32", (None, None), "mel-cepstrum, c0 first"),
              "sr": Port("int", doc="sample rate in Hz (needed when fft_size or alpha is None)")}
    outputs = {"sp": Port("float32", (None, "bins"), "spectral envelope (power), fft_size//2+1 bins")}
    _binned = ("sp",)

    @classmethod
    def ports(cls, params: Mapping[str, Any]):
        # a mel-cepstrum warped with another alpha would decode to a wrong envelope: refuse it at build
        ins, outs = super().ports(params)
        alpha = params.get("alpha", 0.42)
        if isinstance(alpha, (int, float)) and not isinstance(alpha, bool):
            ins["mgc"] = ins["mgc"].with_attrs({"alpha": float(alpha)})
        return ins, outs

    @classmethod
    def port_attrs(cls, params, in_attrs):
        return {"sp": frames_of(in_attrs.get("mgc"))}

    def __init__(self, fft_size: int | None = None, alpha: float | None = 0.42):
        _check_fft_size("McepToSp", fft_size)
        _check_alpha("McepToSp", alpha)
        self.fft_size = fft_size
        self.alpha = alpha
        _pysptk()

    def run(self, mgc, sr=None):
        mc = _check_frames("McepToSp", "mgc", mgc, 2)
        if self.fft_size is None and sr is None:
            raise ValueError("McepToSp: fft_size=None takes CheapTrick's default for the rate: connect `sr`")
        fft = self.fft_size or default_fft_size(_check_sr("McepToSp", sr))
        alpha = _alpha("McepToSp", self.alpha, sr)
        if len(mc) == 0:
            return {"sp": np.zeros((0, fft // 2 + 1), np.float32)}
        return {"sp": _pysptk().mc2sp(mc, alpha, fft).astype(np.float32)}


class CodeAperiodicity(Module):
    """Band aperiodicity (pyworld.code_aperiodicity): WORLD's full ap reduced to a few bands in dB.

    One band per 3 kHz above 3 kHz up to 15 kHz: 1 band at 16 kHz, 2 at 22.05 kHz, 5 at 44.1/48 kHz;
    below 12 kHz there is no band, and this module refuses the rate.
    """

    inputs = {"ap": Port("float32", (None, None), "aperiodicity 0..1, fft_size//2+1 bins"),
              "sr": Port("int", doc="sample rate in Hz")}
    outputs = {"bap": Port("float32", (None, None), "band aperiodicity in dB")}

    def __init__(self):
        _pyworld()  # import now, not during the first run

    def run(self, ap, sr):
        sr = _check_sr("CodeAperiodicity", sr)
        ap = _check_frames("CodeAperiodicity", "ap", ap, 2)
        bands = _pyworld().get_num_aperiodicities(sr)
        if bands < 1:
            raise InputError(f"CodeAperiodicity: WORLD codes aperiodicity in 3 kHz bands above 3 kHz: "
                             f"none at {sr} Hz; usable rates are 12000 Hz and above (16000 is usual): "
                             f"resample the audio first, or use the full ap", port="sr")
        if len(ap) == 0:
            return {"bap": np.zeros((0, bands), np.float32)}
        return {"bap": _pyworld().code_aperiodicity(ap, sr).astype(np.float32)}


class DecodeAperiodicity(_FftSized):
    """Full aperiodicity from band aperiodicity (pyworld.decode_aperiodicity), for WorldSynthesis.

    `fft_size=None` uses CheapTrick's default for `sr`.
    """

    inputs = {"bap": Port("float32", (None, None), "band aperiodicity in dB"),
              "sr": Port("int", doc="sample rate in Hz")}
    outputs = {"ap": Port("float32", (None, "bins"), "aperiodicity 0..1, fft_size//2+1 bins")}
    _binned = ("ap",)

    def __init__(self, fft_size: int | None = None):
        _check_fft_size("DecodeAperiodicity", fft_size)
        self.fft_size = fft_size
        _pyworld()

    def run(self, bap, sr):
        sr = _check_sr("DecodeAperiodicity", sr)
        bap = _check_frames("DecodeAperiodicity", "bap", bap, 2)
        bands = _pyworld().get_num_aperiodicities(sr)
        if bap.shape[1] != bands:
            raise InputError(f"DecodeAperiodicity: bap has {bap.shape[1]} bands, WORLD codes {bands} at {sr} Hz"
                             + ("" if bands else " (usable rates: 12000 Hz and above)"), port="bap")
        fft = self.fft_size or default_fft_size(sr)
        if len(bap) == 0:
            return {"ap": np.zeros((0, fft // 2 + 1), np.float32)}
        return {"ap": _pyworld().decode_aperiodicity(bap, sr, fft).astype(np.float32)}
