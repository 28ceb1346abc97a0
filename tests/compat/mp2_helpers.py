"""Helpers for the modulespack2 compatibility tests: test audio and its checks."""
from __future__ import annotations

import io
import wave
from base64 import b64encode
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: the copies kept in this repository (byte-for-byte)
LOCAL_GRAPHS = HERE / "fixtures"
#: the shared originals: <folder holding the repository>/shared/fixtures/mp2-graphs
SHARED_GRAPHS = Path(__file__).resolve().parents[3] / "shared/fixtures/mp2-graphs"
#: stand-ins for the modulespack2 modules, written in the original style
MP2_MODULES = HERE / "mp2_modules"
FIXTURES = ["RMSE_graph.json", "test.json", "django-ASR.json", "django-VC.json", "django-_ASR.json",
            "django-_VC.json"]
SR = 16000


def tone_bursts(freqs, seconds=0.3, gap=0.25, amp=0.3) -> np.ndarray:
    """Silence, then one sine burst per frequency, each followed by silence."""
    parts = [np.zeros(int(gap * SR))]
    t = np.arange(int(seconds * SR)) / SR
    for f in freqs:
        parts += [amp * np.sin(2 * np.pi * f * t), np.zeros(int(gap * SR))]
    return np.concatenate(parts)


def wav_bytes(x: np.ndarray, sr: int = SR) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes((np.clip(x, -1, 1) * 32767).round().astype("<i2").tobytes())
    return buf.getvalue()


def read_wav_bytes(data: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(data), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getframerate(), np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768


def dominant_frequency(x: np.ndarray, sr: int = SR) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spec) * sr / len(x))


def data_url(data: bytes) -> str:
    return "data:audio/wav;base64," + b64encode(data).decode()
