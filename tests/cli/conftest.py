"""Fixtures for the `modulespack` command tests, run in-process through `main([...])`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cli_helpers import write_graph


GAIN_MODULE = '''
import numpy as np
from modulespack import Module, Port

class Gain(Module):
    """wav * gain, plus a feature matrix, the sample rate and a text"""
    inputs = {"wav": Port("float32", (None,))}
    outputs = {"wav": Port("float32", (None,)), "feats": Port("float32", (None, 3)),
               "sr": Port("int"), "text": Port("str")}

    def __init__(self, gain: float = 0.5, sr: int = 16000):
        self.gain = gain
        self.sr = sr

    def run(self, wav):
        feats = np.arange(len(wav) // 10 * 3, dtype=np.float32).reshape(-1, 3)
        return {"wav": (wav * self.gain).astype(np.float32), "feats": feats, "sr": self.sr,
                "text": f"{len(wav)} samples"}

class Boom(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, x):
        return {"y": deep_helper(x)}

def deep_helper(x):
    raise ZeroDivisionError(f"cannot divide {x}")
'''


@pytest.fixture
def gain_graph(tmp_path: Path) -> Path:
    (tmp_path / "gainmods.py").write_text(GAIN_MODULE)
    return write_graph(tmp_path / "gain.yaml", """\
        name: gain
        module_paths: [.]
        inputs:
          wav: {dtype: float32, shape: [null]}
        nodes:
          - name: g
            module: Gain
            params: {gain: 0.5, sr: 8000}
            inputs: {wav: $wav}
        outputs:
          out_wav: g/wav
          feats: g/feats
          sr: g/sr
          text: g/text
        """)


@pytest.fixture
def sine_wav(tmp_path: Path) -> tuple[Path, np.ndarray]:
    from scipy.io import wavfile
    t = np.arange(4000) / 8000.0
    pcm = np.round(0.6 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    path = tmp_path / "sine.wav"
    wavfile.write(path, 8000, pcm)
    return path, pcm.astype(np.float32) / 32768.0
