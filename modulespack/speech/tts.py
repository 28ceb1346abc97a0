"""Text-to-speech modules wrapping the `flite` and `espeak-ng` command-line synthesisers.

Both run the Debian binaries as subprocesses: no Python bindings are needed, a crash in the
synthesiser cannot take the Session down, and concurrent runs are independent processes (so they
also scale across cores despite the GIL). They start them with `core.proc.run_process`, so a
cancelled or timed-out run, or the exit of the server, kills the synthesiser instead of leaving it
running on its own.

Wrong input values (empty text, an unknown voice) raise `InputError` naming the port; a
synthesiser that is missing, fails or times out raises RuntimeError.

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

from ..core.errors import InputError
from ..core.module import Module
from ..core.ports import Port
from ..core.proc import run_process
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
        raise InputError(f"{module}: text must be a str, got {type(text).__name__}", port="text")
    if not text.strip():
        raise InputError(f"{module}: empty text (nothing to synthesise)", port="text")
    return text


def _run(module: str, cmd: list[str], input: bytes | None, timeout: float | None,
         text: str) -> subprocess.CompletedProcess:
    try:
        return run_process(cmd, input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{module}: {os.path.basename(cmd[0])} did not finish within its time limit of "
                           f"{timeout:g} s (parameter timeout) on {len(text)} characters of text") from None


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
    on PATH), `timeout` (seconds per run, after which flite is killed; None = no limit; flite
    needs about 1 s per KB of text). The optional input `voice` chooses another voice for one
    run (graphs expose it as an input with a default); an unknown one is an InputError.

    flite cannot write a WAV to a pipe (it reopens its output to append utterance by utterance),
    so each run writes into its own temporary directory, removed whatever happens. The text goes
    in through a file as well: no argument-length limit, and text starting with '-' is not taken
    for an option.
    """

    inputs = {"text": Port("str", doc="text to speak"), "voice": Port("str", doc="voice for this run")}
    outputs = dict(_AUDIO_OUT)

    @classmethod
    def port_attrs(cls, params, in_attrs):
        # the rate is fixed by the voice, unless a run may choose another (kal is 8 kHz)
        if "voice" in in_attrs or params.get("voice") not in FLITE_VOICES:
            return {}
        return {"wav": {"sr": 8000 if params["voice"] == "kal" else 16000}}

    def __init__(self, voice: FliteVoice = "slt", binary: str | None = None, timeout: float | None = None):
        self.voice = self._valid_voice(voice)
        self.binary = binary
        self.timeout = timeout
        self._exe: str | None = None
        self._listed: frozenset[str] = frozenset()  # voices this flite build has, once set up

    @staticmethod
    def _valid_voice(voice: Any, per_run: bool = False) -> str:
        if voice not in FLITE_VOICES:
            msg = f"Flite: unknown voice {voice!r} (valid voices: {', '.join(FLITE_VOICES)})"
            raise InputError(msg, port="voice") if per_run else ValueError(msg)
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
        proc = run_process([self._exe, "-lv"], timeout=30)
        listed = proc.stdout.decode("utf-8", "replace").split(":", 1)[-1].split()
        self._listed = frozenset(listed)
        self._check_listed(self.voice)

    def _check_listed(self, voice: str, per_run: bool = False) -> None:
        if self._listed and voice not in self._listed:
            msg = (f"Flite: voice {voice!r} is not compiled into {self._exe} "
                   f"(it lists: {', '.join(sorted(self._listed))})")
            # a voice asked for in one run is the caller's choice; the module's own is the installation's fault
            raise InputError(msg, port="voice") if per_run else RuntimeError(msg)

    def run(self, text: str, voice: str | None = None) -> dict[str, Any]:
        text = _check_text("Flite", text)
        if voice is None:
            voice = self.voice
        else:
            self._check_listed(self._valid_voice(voice, per_run=True), per_run=True)
        exe = self._exe or _find_binary("Flite", self.binary, "flite", "flite")
        with tempfile.TemporaryDirectory(prefix="modulespack-flite-") as tmp:
            txt, out = os.path.join(tmp, "text.txt"), os.path.join(tmp, "speech.wav")
            with open(txt, "w", encoding="utf-8", errors="replace") as f:
                f.write(text)
            cmd = [exe, "-voice", voice, "-f", txt, "-o", out]
            proc = _run("Flite", cmd, None, self.timeout, text)
            if proc.returncode != 0 or not os.path.exists(out):
                raise _failed("Flite", cmd, proc)
            wav, sr = read_wav(out)
        return {"wav": _mono(wav), "sr": int(sr)}


class EspeakNG(Module):
    """Speech from text with espeak-ng (formant synthesis, many languages); 22.05 kHz.

    Parameters: `voice` (an espeak-ng voice such as "en-us", "en-gb", "fr"; `espeak-ng --voices`
    lists them), `speed` (words per minute, 80-450), `pitch` (0-99), `binary`, `timeout`
    (seconds per run, after which espeak-ng is killed; None = no limit). The optional input
    `voice` chooses another voice for one run; one espeak-ng does not have is an InputError.
    The WAV comes back on stdout (`--stdout`), so no file is written.
    """

    inputs = {"text": Port("str", doc="text to speak"), "voice": Port("str", doc="voice for this run")}
    outputs = dict(_AUDIO_OUT)

    @classmethod
    def port_attrs(cls, params, in_attrs):
        # espeak-ng's own voices speak at 22.05 kHz; mbrola voices (mb-*) at their database's rate
        voice = params.get("voice")
        if "voice" in in_attrs or not isinstance(voice, str) or voice.startswith("mb"):
            return {}
        return {"wav": {"sr": 22050}}

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
        proc = run_process([self._exe, "-q", "-v", self.voice, "x"], timeout=30)
        if proc.returncode != 0:
            raise RuntimeError(self._unknown_voice(self._exe, self.voice))

    @staticmethod
    def _unknown_voice(exe: str, voice: str) -> str:
        # espeak-ng also takes file names and variants ("en-us+f3"), so the list is a hint, not the check
        proc = run_process([exe, "--voices"], timeout=30)
        rows = proc.stdout.decode("utf-8", "replace").splitlines()[1:]
        names = sorted({r.split()[1] for r in rows if len(r.split()) > 1})
        return (f"EspeakNG: unknown voice {voice!r}; espeak-ng has {len(names)} voices: {', '.join(names)} "
                f"(`espeak-ng --voices` describes them)")

    def _command(self, voice: str) -> list[str]:
        exe = self._exe or _find_binary("EspeakNG", self.binary, "espeak-ng", "espeak-ng")
        return [exe, "--stdout", "--stdin", "-b", "1", "-v", voice, "-s", str(self.speed),
                "-p", str(self.pitch)]

    def run(self, text: str, voice: str | None = None) -> dict[str, Any]:
        text = _check_text("EspeakNG", text)
        if voice is not None and (not isinstance(voice, str) or not voice.strip() or voice.startswith("-")):
            raise InputError(f"EspeakNG: voice must be an espeak-ng voice name such as 'en-us', got {voice!r}",
                             port="voice")
        cmd = self._command(self.voice if voice is None else voice)
        proc = _run("EspeakNG", cmd, text.encode("utf-8"), self.timeout, text)
        if proc.returncode != 0 and voice is not None and b"voice does not exist" in proc.stderr:
            raise InputError(self._unknown_voice(cmd[0], voice), port="voice")
        if proc.returncode != 0 or not proc.stdout:
            raise _failed("EspeakNG", cmd, proc)
        # espeak-ng streams, so its header carries a placeholder length that read_wav_bytes accepts
        wav, sr = read_wav_bytes(proc.stdout, name="espeak-ng output")
        return {"wav": _mono(wav), "sr": int(sr)}
