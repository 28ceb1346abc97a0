"""Speech recognition with pocketsphinx 5 (CMU Sphinx), using the English model it ships.

One module, :class:`PocketSphinx`, in four modes chosen by its parameters:

- default: the bundled trigram language model (`en-us.lm.bin`), or `lm` (an ARPA or binary file);
- `jsgf` (a grammar file) or `grammar_sentences` (a grammar accepting exactly those sentences);
- `lm_sentences`: a small trigram model built from the sentences (see :mod:`modulespack.speech.lm`);
- `keyphrases`: keyword spotting; the text is the phrases heard, in order.

>>> asr = PocketSphinx(); asr.setup()                          # doctest: +SKIP
>>> asr.run(wav=wav, sr=16000)["text"]                          # doctest: +SKIP
'the old man found a red box'
"""
from __future__ import annotations

import logging
import os
import tempfile
import threading
from typing import Any, Callable, Mapping

import numpy as np

from ..core.errors import InputError
from ..core.module import Module
from ..core.ports import Port
from ..io.audio_ports import MAX_RATE
from . import lm as lmtools

log = logging.getLogger(__name__)

#: the only rate the bundled acoustic model was trained at
MODEL_RATE = 16000
#: feature frames per second (pocketsphinx's default `frate`): segment times are in these frames
FRAME_RATE = 100

_MODES = ("jsgf", "grammar_sentences", "keyphrases", "lm_sentences", "lm")


def to_int16(wav: np.ndarray) -> np.ndarray:
    """Float samples in [-1, 1] as 16-bit PCM, the inverse of `read_wav`'s scaling (x / 32768).

    A 16-bit WAV read with `read_wav` comes back bit for bit, so the decoder sees exactly the
    samples pocketsphinx would get from the file.
    """
    return np.clip(np.rint(np.asarray(wav, dtype=np.float64) * 32768.0), -32768, 32767).astype(np.int16)


def default_model_paths() -> dict[str, str]:
    """hmm, dict and lm paths of the English model bundled with the pocketsphinx wheel."""
    import pocketsphinx

    return {"hmm": pocketsphinx.get_model_path("en-us/en-us"),
            "dict": pocketsphinx.get_model_path("en-us/cmudict-en-us.dict"),
            "lm": pocketsphinx.get_model_path("en-us/en-us.lm.bin")}


class PocketSphinx(Module):
    """Text from 16 kHz speech with pocketsphinx (bundled US English model; LM, grammar or keyphrases).

    Parameters (all optional; at most one of `jsgf`, `grammar_sentences`, `keyphrases`,
    `lm_sentences`, `lm`):

    - `hmm`, `dict`, `lm`: acoustic model folder, pronouncing dictionary and language model;
      default the English model in the pocketsphinx wheel. A small `lm` file needs a `dict` of
      its words too: with the full dictionary pocketsphinx takes ~25 s to set it up.
    - `jsgf`: path of a JSGF grammar file; `grammar_sentences`: build a grammar that accepts
      exactly these sentences (every word must be in the dictionary).
    - `lm_sentences`: build a trigram LM from these sentences with pocketsphinx's own builder.
    - `keyphrases`: spot these phrases (`kws_threshold` trades misses for false alarms); the text
      output is the phrases found, in the order heard.
    - `resample`: the model is 16 kHz only. True (default): other rates are resampled with soxr
      and each such run logs a warning naming both rates (put a resample node upstream to
      silence it). False: other rates raise InputError.
    - `pool_size`: at most this many decoders; each serves one run at a time, so up to
      `pool_size` runs decode at once and further runs wait their turn. One decoder is built at
      setup (so a bad model fails the build); the others only when concurrent runs need them
      (a decoder takes ~0.1-0.25 s and tens of MB, which a one-shot run should not pay).
      pocketsphinx holds the GIL while it decodes, so more decoders than threads buy nothing;
      scale with processes instead.
    - `loglevel`: pocketsphinx's own logging (to stderr): DEBUG, INFO, WARN, ERROR, FATAL.
    """

    inputs = {"wav": Port("float32", (None,), "mono samples in [-1, 1]"),
              "sr": Port("int", doc="sample rate, Hz (16000, or resampled to it)")}
    outputs = {"text": Port("str", doc="lower-case words, space separated; '' if nothing was heard"),
               "words": Port("list", doc="the words heard with their times: [{word, start, end}] in seconds "
                                         "from the start of the audio (computed only when fetched)")}

    def __init__(self, jsgf: str | None = None, grammar_sentences: list[str] | None = None,
                 keyphrases: list[str] | None = None, lm_sentences: list[str] | None = None,
                 hmm: str | None = None, dict: str | None = None, lm: str | None = None,
                 kws_threshold: float = 1e-20, resample: bool = True, pool_size: int = 2,
                 loglevel: str = "ERROR"):
        given = {**locals()}  # (`dict` is a parameter here, shadowing the builtin)
        problems = self._mode_problems(given)
        if problems:
            raise ValueError("PocketSphinx: " + "; ".join(f"{p}: {m}" for p, m in problems))
        self.jsgf = jsgf
        self.grammar_sentences = list(grammar_sentences) if grammar_sentences is not None else None
        self.keyphrases = list(keyphrases) if keyphrases is not None else None
        self.lm_sentences = list(lm_sentences) if lm_sentences is not None else None
        self.hmm, self.dict, self.lm = hmm, dict, lm
        self.kws_threshold = kws_threshold
        self.resample = resample
        self.pool_size = pool_size
        self.loglevel = loglevel
        self.mode = next((m for m in _MODES if given[m] is not None), "lm")
        self._idle: list | None = None      # decoders not in use; None before setup and after close
        self._built = 0                       # decoders in existence (idle, in use or being built)
        self._cond = threading.Condition()
        self._files: dict[str, str] = {}   # config key -> generated file text

    @staticmethod
    def _mode_problems(params: Mapping[str, Any]) -> list[tuple[str, str]]:
        out = []
        chosen = [m for m in _MODES if params.get(m) is not None]
        if len(chosen) > 1:
            out.append((chosen[1], f"give at most one of {', '.join(_MODES)} (got {', '.join(chosen)})"))
        for name in ("grammar_sentences", "keyphrases", "lm_sentences"):
            v = params.get(name)
            if isinstance(v, (list, tuple)) and not any(lmtools.words_of(str(s)) for s in v):
                out.append((name, "needs at least one sentence with words"))
        ps = params.get("pool_size")
        if isinstance(ps, int) and ps < 1:
            out.append(("pool_size", f"must be at least 1, got {ps}"))
        return out

    @classmethod
    def param_problems(cls, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        return super().param_problems(params) + cls._mode_problems(params)

    # -- set-up ---------------------------------------------------------------------------------

    def decoder_config(self) -> dict[str, Any]:
        """Keyword arguments of `pocketsphinx.Decoder` for this module, less generated files.

        In the default mode this is the whole configuration: `Decoder(**m.decoder_config())`
        is the decoder this module runs.
        """
        paths = default_model_paths()
        cfg: dict[str, Any] = {"hmm": self.hmm or paths["hmm"], "dict": self.dict or paths["dict"],
                               "samprate": MODEL_RATE, "loglevel": self.loglevel}
        if self.mode == "lm":
            cfg["lm"] = self.lm or paths["lm"]
        elif self.mode == "jsgf":
            cfg["jsgf"] = self.jsgf
        elif self.mode == "keyphrases":
            cfg["kws_threshold"] = self.kws_threshold
        return cfg

    def setup(self) -> None:
        import pocketsphinx  # noqa: F401  (fail here, at build time, if it is missing)

        cfg = self.decoder_config()
        for key in ("hmm", "dict", "lm", "jsgf"):
            if key in cfg and not os.path.exists(cfg[key]):
                raise FileNotFoundError(f"PocketSphinx: {key} path {cfg[key]} does not exist")
        sentences = self.grammar_sentences or self.lm_sentences or self.keyphrases
        if sentences is not None:
            entries = lmtools.read_dictionary(cfg["dict"])
            missing = lmtools.missing_words(sentences, entries)
            if missing:
                raise ValueError(f"PocketSphinx: word(s) not in the dictionary {cfg['dict']}: "
                                 f"{', '.join(missing[:20])}{' ...' if len(missing) > 20 else ''}")
            # Only the words the grammar, model or keyphrases use: with the full 135k-word
            # dictionary, pocketsphinx 5.1 takes ~25 s to build the search for a 60-word LM
            # (measured; 0.03 s with this subset), and the words outside can never be recognised.
            self._files["dict"] = lmtools.dictionary_subset(entries, sentences)
        if self.grammar_sentences is not None:
            self._files["jsgf"] = lmtools.jsgf_from_sentences(self.grammar_sentences)
        elif self.lm_sentences is not None:
            self._files["lm"] = lmtools.arpa_from_sentences(self.lm_sentences)
        elif self.keyphrases is not None:
            self._files["kws"] = lmtools.kws_from_keyphrases(self.keyphrases, self.kws_threshold)
        first = self._new_decoder()
        with self._cond:
            self._idle, self._built = [first], 1

    def _new_decoder(self):
        from pocketsphinx import Decoder

        cfg = self.decoder_config()
        if not self._files:
            return Decoder(**cfg)
        # pocketsphinx reads grammars and models only from files, and only while the decoder is
        # built, so generated ones live in a private folder for exactly that long.
        suffix = {"jsgf": ".gram", "lm": ".arpa", "kws": ".kws", "dict": ".dict"}
        with tempfile.TemporaryDirectory(prefix="modulespack-pocketsphinx-") as tmp:
            for key, text in self._files.items():
                path = os.path.join(tmp, key + suffix[key])
                with open(path, "w", encoding="utf-8") as f:
                    f.write(text)
                cfg[key] = path
            return Decoder(**cfg)

    def close(self) -> None:
        with self._cond:
            self._idle, self._built = None, 0
            self._cond.notify_all()

    @property
    def decoders_built(self) -> int:
        """How many decoders exist now (at most `pool_size`)."""
        return self._built

    def _acquire(self):
        with self._cond:
            while True:
                if self._idle is None:
                    raise RuntimeError("PocketSphinx: setup() has not been called (or the module was closed)")
                if self._idle:
                    return self._idle.pop()
                if self._built < self.pool_size:
                    self._built += 1  # reserve the slot, build outside the lock
                    break
                self._cond.wait()
        try:
            return self._new_decoder()
        except BaseException:
            with self._cond:
                self._built -= 1
                self._cond.notify()
            raise

    def _release(self, decoder) -> None:
        with self._cond:
            if self._idle is not None:
                self._idle.append(decoder)
            self._cond.notify()

    # -- running --------------------------------------------------------------------------------

    def _prepare(self, wav: Any, sr: int) -> np.ndarray:
        x = np.asarray(wav)
        if x.ndim != 1:
            raise InputError(f"PocketSphinx: expected mono samples of shape (n,), got shape {x.shape}", port="wav")
        if x.size and not np.isfinite(x).all():
            raise InputError(f"PocketSphinx: {int((~np.isfinite(x)).sum())} of {x.size} samples are NaN or "
                             f"infinite", port="wav")
        sr = int(sr)
        if sr <= 0:
            raise InputError(f"PocketSphinx: sample rate must be positive, got {sr}", port="sr")
        if sr > MAX_RATE:  # soxr would take seconds, or forever (~1e15 Hz), to resample it
            raise InputError(f"PocketSphinx: sample rate {sr} Hz is above {MAX_RATE} Hz, more than any audio has",
                             port="sr")
        if sr != MODEL_RATE:
            if not self.resample:
                raise InputError(f"PocketSphinx: the acoustic model needs {MODEL_RATE} Hz audio, got {sr} Hz "
                                 f"(resample upstream, or set resample: true)", port="sr")
            import soxr

            log.warning("PocketSphinx: resampling %d Hz audio to %d Hz for the acoustic model "
                        "(put a resample node upstream to avoid this)", sr, MODEL_RATE)
            x = soxr.resample(x.astype(np.float32, copy=False), sr, MODEL_RATE)
        return to_int16(x)

    def run(self, wav: np.ndarray, sr: int) -> dict[str, Any]:
        return self._run(wav, sr, words=True)

    def runner(self, outputs: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
        if "words" in outputs:
            return self.run
        return self._text_only  # a graph that never uses the word times does not collect them

    def _text_only(self, wav: np.ndarray, sr: int) -> dict[str, Any]:
        return self._run(wav, sr, words=False)

    def _run(self, wav: np.ndarray, sr: int, words: bool) -> dict[str, Any]:
        pcm = self._prepare(wav, sr)
        if self._idle is None:
            raise RuntimeError("PocketSphinx: setup() has not been called (or the module was closed)")
        if pcm.size == 0:
            return {"text": "", "words": []} if words else {"text": ""}
        decoder = self._acquire()
        try:
            text = self._decode(decoder, pcm.tobytes())
            return {"text": text, "words": word_times(decoder)} if words else {"text": text}
        finally:
            self._release(decoder)

    def _decode(self, decoder, data: bytes) -> str:
        # A decoder carries feature state from one utterance to the next, which changes
        # transcripts; resetting it makes every run decode as a fresh decoder would, whichever
        # pooled decoder it gets and whatever that decoder heard before (costs ~0.1 ms).
        decoder.reinit_feat()
        decoder.start_utt()
        try:
            decoder.process_raw(data, full_utt=True)
        finally:
            decoder.end_utt()
        hyp = decoder.hyp()
        return " ".join(hyp.hypstr.split()) if hyp is not None else ""


def word_times(decoder) -> list[dict[str, Any]]:
    """The words of the decoder's last utterance with their times in seconds, fillers (<s>, <sil>,
    [NOISE]...) left out and alternate pronunciations ("word(2)") named as the word."""
    out = []
    for seg in decoder.seg() or ():  # None when nothing was heard (keyword spotting)
        w = seg.word
        if not w or w[0] in "<[+":
            continue
        out.append({"word": w.split("(", 1)[0], "start": round(seg.start_frame / FRAME_RATE, 3),
                    "end": round((seg.end_frame + 1) / FRAME_RATE, 3)})  # end_frame is inclusive
    return out
