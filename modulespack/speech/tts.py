"""Text-to-speech modules wrapping the `flite` and `espeak-ng` command-line synthesisers.

Both run the Debian binaries as subprocesses: no Python bindings are needed, a crash in the
synthesiser cannot take the Session down, and concurrent runs are independent processes (so they
also scale across cores despite the GIL).

>>> from modulespack.speech.tts import Flite
>>> tts = Flite(voice="rms"); tts.setup()                  # doctest: +SKIP
>>> out = tts.run(text="the old man found a red box")      # doctest: +SKIP
>>> out["sr"], out["wav"].dtype                             # doctest: +SKIP
(16000, dtype('float32'))
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Any, Literal, Mapping

import numpy as np

from ..core.module import Module
from ..core.ports import Port
from ..io import read_wav, read_wav_bytes

#: voices compiled into Debian's flite package; kal is an 8 kHz diphone voice, the others are 16 kHz
FLITE_VOICES = ("slt", "rms", "awb", "kal", "kal16")
FliteVoice = Literal["slt", "rms", "awb", "kal", "kal16"]

ESPEAK_SPEED = (80, 450)   # words per minute, the range espeak-ng accepts
ESPEAK_PITCH = (0, 99)

_AUDIO_OUT = {"wav": Port("float32", (None,), "mono samples in [-1, 1]"), "sr": Port("int", doc="sample rate, Hz")}


def _find_binary(module: str, binary: str | None, default: str, package: str) -> str:
    found = shutil.which(binary or default)
    if found is None:
        what = f"'{binary}'" if binary else f"'{default}' on PATH"
        raise RuntimeError(f"{module}: the {default} program was not found ({what}); "
                           f"install the Debian package '{package}' (apt-get install {package})")
    return found


def _check_text(module: str, text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"{module}: text must be a str, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"{module}: empty text (nothing to synthesise)")
    return text


def _failed(module: str, cmd: list[str], proc: subprocess.CompletedProcess) -> RuntimeError:
    err = proc.stderr.decode("utf-8", "replace").strip() if proc.stderr else ""
    return RuntimeError(f"{module}: {os.path.basename(cmd[0])} exited with status {proc.returncode}"
                        + (f": {err[-2000:]}" if err else ""))


def _mono(wav: np.ndarray) -> np.ndarray:
    # both programs write mono; guard anyway so the declared (None,) port always holds
    return wav if wav.ndim == 1 else wav.mean(axis=1, dtype=np.float32)


class Flite(Module):
    """Speech from text with flite (CMU voices slt, rms, awb, kal, kal16); 16 kHz except kal (8 kHz).

    Parameters: `voice` (default "slt"), `binary` (path of the flite program; default `flite`
    on PATH), `timeout` (seconds per run; None = no limit). The optional input `voice` chooses
    another voice for one run (graphs expose it as an input with a default).

    flite cannot write a WAV to a pipe (it reopens its output to append utterance by utterance),
    so each run writes into its own temporary directory, removed whatever happens. The text goes
    in through a file as well: no argument-length limit, and text starting with '-' is not taken
    for an option.
    """

    inputs = {"text": Port("str", doc="text to speak"), "voice": Port("str", doc="voice for this run")}
    outputs = dict(_AUDIO_OUT)

    def __init__(self, voice: FliteVoice = "slt", binary: str | None = None, timeout: float | None = None):
        self.voice = self._valid_voice(voice)
        self.binary = binary
        self.timeout = timeout
        self._exe: str | None = None
        self._listed: frozenset[str] = frozenset()  # voices this flite build has, once set up

    @staticmethod
    def _valid_voice(voice: Any) -> str:
        if voice not in FLITE_VOICES:
            raise ValueError(f"Flite: unknown voice {voice!r} (valid voices: {', '.join(FLITE_VOICES)})")
        return voice

    @classmethod
    def param_problems(cls, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        out = [(p, m) for p, m in super().param_problems(params) if p != "voice"]
        if "voice" in params and params["voice"] not in FLITE_VOICES:
            out.append(("voice", f"unknown flite voice {params['voice']!r} "
                                 f"(valid voices: {', '.join(FLITE_VOICES)})"))
        return out

    def setup(self) -> None:
        self._exe = _find_binary("Flite", self.binary, "flite", "flite")
        # A voice missing from this build would make flite fall back silently to its default voice.
        proc = subprocess.run([self._exe, "-lv"], capture_output=True, timeout=30)
        listed = proc.stdout.decode("utf-8", "replace").split(":", 1)[-1].split()
        self._listed = frozenset(listed)
        self._check_listed(self.voice)

    def _check_listed(self, voice: str) -> None:
        if self._listed and voice not in self._listed:
            raise RuntimeError(f"Flite: voice {voice!r} is not compiled into {self._exe} "
                               f"(it lists: {', '.join(sorted(self._listed))})")

    def run(self, text: str, voice: str | None = None) -> dict[str, Any]:
        text = _check_text("Flite", text)
        if voice is None:
            voice = self.voice
        else:
            self._check_listed(self._valid_voice(voice))
        exe = self._exe or _find_binary("Flite", self.binary, "flite", "flite")
        with tempfile.TemporaryDirectory(prefix="modulespack-flite-") as tmp:
            txt, out = os.path.join(tmp, "text.txt"), os.path.join(tmp, "speech.wav")
            with open(txt, "w", encoding="utf-8", errors="replace") as f:
                f.write(text)
            cmd = [exe, "-voice", voice, "-f", txt, "-o", out]
            proc = subprocess.run(cmd, capture_output=True, timeout=self.timeout)
            if proc.returncode != 0 or not os.path.exists(out):
                raise _failed("Flite", cmd, proc)
            wav, sr = read_wav(out)
        return {"wav": _mono(wav), "sr": int(sr)}


class EspeakNG(Module):
    """Speech from text with espeak-ng (formant synthesis, many languages); 22.05 kHz.

    Parameters: `voice` (an espeak-ng voice such as "en-us", "en-gb", "fr"; `espeak-ng --voices`
    lists them), `speed` (words per minute, 80-450), `pitch` (0-99), `binary`, `timeout`.
    The WAV comes back on stdout (`--stdout`), so no file is written.
    """

    inputs = {"text": Port("str", doc="text to speak")}
    outputs = dict(_AUDIO_OUT)

    def __init__(self, voice: str = "en-us", speed: int = 175, pitch: int = 50, binary: str | None = None,
                 timeout: float | None = None):
        problems = self._range_problems({"speed": speed, "pitch": pitch})
        if problems:
            raise ValueError("EspeakNG: " + "; ".join(f"{p} {m}" for p, m in problems))
        self.voice = voice
        self.speed = speed
        self.pitch = pitch
        self.binary = binary
        self.timeout = timeout
        self._exe: str | None = None

    @staticmethod
    def _range_problems(params: Mapping[str, Any]) -> list[tuple[str, str]]:
        out = []
        for name, (lo, hi) in (("speed", ESPEAK_SPEED), ("pitch", ESPEAK_PITCH)):
            v = params.get(name)
            if isinstance(v, int) and not isinstance(v, bool) and not lo <= v <= hi:
                out.append((name, f"must be in {lo}..{hi}, got {v}"))
        return out

    @classmethod
    def param_problems(cls, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        return super().param_problems(params) + cls._range_problems(params)

    def setup(self) -> None:
        self._exe = _find_binary("EspeakNG", self.binary, "espeak-ng", "espeak-ng")
        proc = subprocess.run([self._exe, "-q", "-v", self.voice, "x"], capture_output=True, timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(f"EspeakNG: voice {self.voice!r} is not available "
                               f"(`espeak-ng --voices` lists the installed ones)")

    def _command(self) -> list[str]:
        exe = self._exe or _find_binary("EspeakNG", self.binary, "espeak-ng", "espeak-ng")
        return [exe, "--stdout", "--stdin", "-b", "1", "-v", self.voice, "-s", str(self.speed),
                "-p", str(self.pitch)]

    def run(self, text: str) -> dict[str, Any]:
        text = _check_text("EspeakNG", text)
        cmd = self._command()
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout)
        if proc.returncode != 0 or not proc.stdout:
            raise _failed("EspeakNG", cmd, proc)
        # espeak-ng streams, so its header carries a placeholder length that read_wav_bytes accepts
        wav, sr = read_wav_bytes(proc.stdout, name="espeak-ng output")
        return {"wav": _mono(wav), "sr": int(sr)}
