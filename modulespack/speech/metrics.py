"""Objective speech metrics: mel-cepstral distortion, F0 error, word and character error rate.

Functions for scripts and benchmarks, and modules wrapping them for graphs.

- `mel_cepstral_distortion`: dB, (10 / ln 10) * sqrt(2 * sum_d (c_d - c'_d)^2) over d = 1..D (c0, the
  frame energy, excluded), averaged over frames aligned by DTW (librosa.sequence.dtw) or by index.
- `f0_rmse`: RMSE in Hz or cents over frames voiced in both, and the voicing decision error rate.
- `wer` / `cer`: jiwer, after lower-casing and removing punctuation; `align` gives jiwer's alignment.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..core.module import Module
from ..core.ports import Port

MCD_CONST = 10.0 / np.log(10.0) * np.sqrt(2.0)  # (10 / ln 10) * sqrt(2): dB per unit of cepstral distance


@dataclass
class MCDResult:
    """Mel-cepstral distortion with what it was computed on."""
    mcd: float  #: dB, mean over aligned frame pairs
    frames: int  #: number of aligned frame pairs averaged
    per_frame: np.ndarray = field(repr=False)  #: dB per aligned pair
    path: np.ndarray = field(repr=False)  #: (pairs, 2) indices into the *original* ref and test frames

    def __float__(self) -> float:
        return self.mcd


def speech_mask(mc: np.ndarray, threshold_db: float = 30.0) -> np.ndarray:
    """Frames whose energy (c0 of a mel-cepstrum, natural-log amplitude) lies within `threshold_db`
    of the utterance's loudest frame: a power mask that drops leading, trailing and inner silence."""
    c0_db = np.asarray(mc)[:, 0] * (20.0 / np.log(10.0))
    return c0_db > c0_db.max() - threshold_db if len(c0_db) else np.zeros(0, bool)


def _mcep(name: str, a: Any) -> np.ndarray:
    x = np.asarray(a, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"{name} must be (frames, order+1) with c0 first, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return x


def _mask(name: str, mask: Any, n: int) -> np.ndarray:
    m = np.asarray(mask, dtype=bool)
    if m.shape != (n,):
        raise ValueError(f"{name} must be a boolean array of {n} frames, got shape {m.shape}")
    return m


def mel_cepstral_distortion(mc_ref, mc_test, dtw: bool = True, speech_only: bool = False, *,
                            mask_ref=None, mask_test=None, threshold_db: float = 30.0,
                            details: bool = False, max_dtw_cells: int = 25_000_000) -> float | MCDResult:
    """Mel-cepstral distortion in dB between two `(frames, order+1)` mel-cepstra (c0 first, excluded).

    `dtw=True` aligns the sequences with librosa.sequence.dtw (Euclidean cost on c1..cD, which is
    the MCD itself) and averages over the path; `dtw=False` pairs frames by index over the shorter
    length (for copy synthesis, where both have the same timing).
    Frames kept: `mask_ref` / `mask_test` (boolean per frame, e.g. voicing `f0 > 0`) when given,
    else with `speech_only=True` the power mask `speech_mask(mc, threshold_db)`, else all frames.
    `details=True` returns an MCDResult with the per-pair values and the alignment path.
    DTW holds (ref frames x test frames) matrices in memory: beyond `max_dtw_cells` (25 million, about
    25 s against 25 s at 5 ms frames, some 600 MB) it raises ValueError instead; compare utterances.
    """
    ref, test = _mcep("mc_ref", mc_ref), _mcep("mc_test", mc_test)
    if ref.shape[1] != test.shape[1]:
        raise ValueError(f"mc_ref and mc_test have different orders: {ref.shape[1]} and {test.shape[1]} coefficients")
    keep_r = _mask("mask_ref", mask_ref, len(ref)) if mask_ref is not None else \
        speech_mask(ref, threshold_db) if speech_only else np.ones(len(ref), bool)
    keep_t = _mask("mask_test", mask_test, len(test)) if mask_test is not None else \
        speech_mask(test, threshold_db) if speech_only else np.ones(len(test), bool)
    idx_r, idx_t = np.flatnonzero(keep_r), np.flatnonzero(keep_t)
    if len(idx_r) == 0 or len(idx_t) == 0:
        raise ValueError(f"no frames to compare ({len(idx_r)} reference and {len(idx_t)} test frames kept)")
    r, t = ref[idx_r, 1:], test[idx_t, 1:]
    if dtw:
        import librosa

        if len(r) * len(t) > max_dtw_cells:
            raise ValueError(f"DTW of {len(r)} x {len(t)} frames exceeds max_dtw_cells={max_dtw_cells} "
                             f"(memory grows with the product): compare shorter segments or use dtw=False")

        _, wp = librosa.sequence.dtw(X=r.T, Y=t.T, metric="euclidean")
        wp = wp[::-1]  # librosa returns the path end to start
        pr, pt = wp[:, 0], wp[:, 1]
    else:
        n = min(len(r), len(t))
        pr = pt = np.arange(n)
    per = MCD_CONST * np.sqrt(((r[pr] - t[pt]) ** 2).sum(axis=1))
    value = float(per.mean())
    if not details:
        return value
    return MCDResult(value, len(per), per, np.stack([idx_r[pr], idx_t[pt]], axis=1))


@dataclass
class F0Errors:
    """F0 comparison: RMSE over frames voiced in both, and voicing decision errors."""
    rmse: float  #: Hz or cents; NaN when no frame is voiced in both
    vuv_error: float  #: fraction of compared frames whose voiced/unvoiced decisions differ
    voiced_both: int  #: frames voiced in both (the RMSE's frames)
    frames: int  #: frames compared
    unit: str = "hz"

    def __iter__(self):  # rmse, vuv_error = f0_rmse(...)
        return iter((self.rmse, self.vuv_error))


def f0_rmse(f0_ref, f0_test, unit: Literal["hz", "cents"] = "hz", path=None) -> F0Errors:
    """F0 RMSE over frames voiced (> 0) in both, in Hz or cents, plus the voicing decision error rate.

    Frames are paired by index over the shorter length, or along `path` ((pairs, 2) indices, e.g. the
    `path` of `mel_cepstral_distortion(..., details=True)`) for sequences with different timing.
    Unpack as `rmse, vuv_error = f0_rmse(a, b)` or read the F0Errors fields.
    """
    if unit not in ("hz", "cents"):
        raise ValueError(f"unit must be 'hz' or 'cents', got {unit!r}")
    a, b = np.asarray(f0_ref, np.float64), np.asarray(f0_test, np.float64)
    for name, x in (("f0_ref", a), ("f0_test", b)):
        if x.ndim != 1:
            raise ValueError(f"{name} must be 1-D (frames,), got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or infinity")
    if path is not None:
        p = np.asarray(path)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValueError(f"path must be (pairs, 2) frame indices, got shape {p.shape}")
        a, b = a[p[:, 0]], b[p[:, 1]]
    else:
        n = min(len(a), len(b))
        a, b = a[:n], b[:n]
    if len(a) == 0:
        raise ValueError("no frames to compare")
    va, vb = a > 0, b > 0
    both = va & vb
    if both.any():
        if unit == "cents":
            diff = 1200.0 * np.log2(b[both] / a[both])
        else:
            diff = b[both] - a[both]
        rmse = float(np.sqrt(np.mean(diff ** 2)))
    else:
        rmse = float("nan")
    return F0Errors(rmse, float(np.mean(va != vb)), int(both.sum()), len(a), unit)


def _transform():
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfWords()])


def _char_transform():
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip(), jiwer.ReduceToListOfListOfChars()])


def normalise_text(text: str) -> str:
    """The text WER and CER compare: lower case, punctuation removed, single spaces."""
    import jiwer

    return jiwer.Compose([jiwer.ToLowerCase(), jiwer.RemovePunctuation(), jiwer.RemoveMultipleSpaces(),
                          jiwer.Strip()])(text)


def _check_texts(ref: Any, hyp: Any) -> None:
    if not isinstance(ref, str) or not isinstance(hyp, str):
        raise TypeError(f"ref and hyp must be strings, got {type(ref).__name__} and {type(hyp).__name__}")
    if not normalise_text(ref):
        raise ValueError(f"reference {ref!r} is empty after normalisation: the error rate is undefined")


def align(ref: str, hyp: str, unit: Literal["word", "char"] = "word"):
    """jiwer's alignment of `hyp` against `ref` (normalised): `.wer`/`.cer`, `.substitutions`,
    `.deletions`, `.insertions`, `.alignments`; `jiwer.visualize_alignment(out)` prints it."""
    import jiwer

    _check_texts(ref, hyp)
    if unit == "word":
        return jiwer.process_words(ref, hyp, reference_transform=_transform(), hypothesis_transform=_transform())
    if unit == "char":
        return jiwer.process_characters(ref, hyp, reference_transform=_char_transform(),
                                        hypothesis_transform=_char_transform())
    raise ValueError(f"unit must be 'word' or 'char', got {unit!r}")


def wer(ref: str, hyp: str) -> float:
    """Word error rate of `hyp` against `ref` after lower-casing and removing punctuation
    (may exceed 1 with insertions). An empty reference raises ValueError."""
    return float(align(ref, hyp, "word").wer)


def cer(ref: str, hyp: str) -> float:
    """Character error rate (spaces count as characters) after the same normalisation as `wer`."""
    return float(align(ref, hyp, "char").cer)


class MelCepstralDistortion(Module):
    """Mel-cepstral distortion in dB between two mel-cepstra (c0 excluded), DTW-aligned by default.

    `dtw=False` pairs frames by index (same timing, e.g. copy synthesis); `speech_only=True` keeps
    frames within `threshold_db` of each utterance's loudest (by c0).
    """

    inputs = {"mc_ref": Port("float32", (None, "order1"), "reference mel-cepstrum, c0 first"),
              "mc_test": Port("float32", (None, "order1"), "test mel-cepstrum, c0 first")}
    outputs = {"mcd": Port("float", doc="dB")}

    def __init__(self, dtw: bool = True, speech_only: bool = False, threshold_db: float = 30.0):
        self.dtw = dtw
        self.speech_only = speech_only
        self.threshold_db = float(threshold_db)

    def run(self, mc_ref, mc_test):
        return {"mcd": float(mel_cepstral_distortion(mc_ref, mc_test, self.dtw, self.speech_only,
                                                     threshold_db=self.threshold_db))}


class F0Error(Module):
    """F0 RMSE over frames voiced in both (Hz or cents) and the voiced/unvoiced decision error rate.

    Frames are paired by index over the shorter length; rmse is NaN when no frame is voiced in both.
    """

    inputs = {"f0_ref": Port("float32", (None,), "reference F0 in Hz, 0 = unvoiced"),
              "f0_test": Port("float32", (None,), "test F0 in Hz, 0 = unvoiced")}
    outputs = {"rmse": Port("float", doc="Hz or cents"), "vuv_error": Port("float", doc="fraction of frames")}

    def __init__(self, unit: Literal["hz", "cents"] = "hz"):
        if unit not in ("hz", "cents"):
            raise ValueError(f"F0Error: unit must be 'hz' or 'cents', got {unit!r}")
        self.unit = unit

    def run(self, f0_ref, f0_test):
        e = f0_rmse(f0_ref, f0_test, self.unit)
        return {"rmse": e.rmse, "vuv_error": e.vuv_error}


class WordErrorRate(Module):
    """Word and character error rate of a hypothesis against a reference text (jiwer, normalised)."""

    inputs = {"ref": Port("str", doc="reference text"), "hyp": Port("str", doc="hypothesis, e.g. ASR output")}
    outputs = {"wer": Port("float"), "cer": Port("float")}

    def run(self, ref, hyp):
        return {"wer": wer(ref, hyp), "cer": cer(ref, hyp)}
