"""Real audio for speech tests, synthesised with flite once per test session."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from modulespack.io import read_wav
from modulespack.speech.sentences import make_sentences

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed (apt-get install flite)")


@pytest.fixture(scope="session")
def speech_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("speech")


@pytest.fixture(scope="session")
def flite_wav(speech_dir):
    """flite_wav(text, voice="rms") -> Path of a WAV (flite's native rate, 16 kHz for these voices)."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    cache: dict[tuple[str, str], Path] = {}

    def make(text: str, voice: str = "rms") -> Path:
        key = (text, voice)
        if key not in cache:
            out = speech_dir / f"{voice}_{len(cache):04d}.wav"
            subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True,
                           capture_output=True, timeout=60)
            cache[key] = out
        return cache[key]
    return make


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    """Twenty reproducible sentences; tests take slices so statistics and tests never share one."""
    return make_sentences(20, seed=1234)


@pytest.fixture(scope="module")
def rms(flite_wav, sentences):
    """(float32 samples, 16000): a sentence in flite's male voice rms."""
    x, sr = read_wav(flite_wav(sentences[10], "rms"))
    assert sr == 16000 and x.ndim == 1 and len(x) > sr
    return x, sr


@pytest.fixture(scope="module")
def slt(flite_wav, sentences):
    """(float32 samples, 16000): a sentence in flite's female voice slt."""
    x, sr = read_wav(flite_wav(sentences[11], "slt"))
    assert sr == 16000
    return x, sr
