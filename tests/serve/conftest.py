"""Fixtures for the web app tests: a folder of small test graphs and modules, WAV bytes, apps."""
from __future__ import annotations

import socket
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed")

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "graphs"

MODULES = '''
import time
import numpy as np
from modulespack import Module, Port


class Gain(Module):
    """wav * gain; the sample rate passes through."""
    inputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
    outputs = {"wav": Port("float32", (None,)), "sr": Port("int")}

    def __init__(self, gain: float = 0.5):
        self.gain = gain

    def run(self, wav, sr):
        return {"wav": (wav * self.gain).astype(np.float32), "sr": sr}


class Decimate(Module):
    """Every other sample: the rate halves."""
    inputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
    outputs = {"wav": Port("float32", (None,)), "sr": Port("int")}

    def run(self, wav, sr):
        return {"wav": np.ascontiguousarray(wav[::2]), "sr": sr // 2}


class Invert(Module):
    """-wav (knows nothing of sample rates)."""
    inputs = {"wav": Port("float32", (None,))}
    outputs = {"wav": Port("float32", (None,))}

    def run(self, wav):
        return {"wav": -wav}


class Boom(Module):
    """Always fails."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, x):
        return {"y": explode(x)}


def explode(x):
    raise ZeroDivisionError(f"cannot handle {x}")


class Slow(Module):
    """Sleeps `seconds`, then y = x."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, seconds: float = 2.0):
        self.seconds = seconds

    def run(self, x):
        time.sleep(self.seconds)
        return {"y": x}


class Untyped(Module):
    """Untyped outputs, as modulespack2 modules declare them: `n` samples of a ramp as `wav` (text
    when n is 0), and the rate."""
    inputs = {"n": Port("int"), "sr": Port("int")}
    outputs = {"wav": Port(), "sr": Port("int")}

    def run(self, n, sr):
        return {"wav": np.linspace(-0.5, 0.5, n, dtype=np.float32) if n else "no samples", "sr": sr}


class Kinds(Module):
    """One port of each kind."""
    inputs = {"text": Port("str"), "n": Port("int"), "flag": Port("bool"),
              "m": Port("float32", (None, 3)), "v": Port("int16", (None,)), "anything": Port("any"),
              "scale": Port("float32", ())}
    outputs = {"text": Port("str"), "n": Port("int"), "flag": Port("bool"), "m": Port("float32", (None, 3)),
               "v": Port("int16", (None,)), "anything": Port("any"), "scale": Port("float32", ())}

    def run(self, text, n, flag, m, v, anything, scale):
        return {"text": text.upper(), "n": n * 2, "flag": not flag, "m": m * scale, "v": v,
                "anything": anything, "scale": scale}
'''

GRAPHS = {
    "gain.yaml": """
        name: gain
        description: wav, sr -> gain -> wav, sr (a test graph)
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null], doc: mono audio}
          sr: {dtype: int, doc: sample rate}
        nodes:
          - name: gain
            module: Gain
            params: {gain: 0.5}
            inputs: {wav: $wav, sr: $sr}
        outputs:
          wav: gain/wav
          sr: gain/sr
    """,
    "slow.yaml": """
        name: slow
        module_paths: [modules]
        inputs: {x: float}
        nodes:
          - name: slow
            module: Slow
            params: {seconds: 1.5}
            inputs: {x: $x}
        outputs: {y: slow/y}
    """,
    "kinds.yaml": """
        name: kinds
        module_paths: [modules]
        inputs:
          text: str
          n: int
          flag: bool
          m: {dtype: float32, shape: [null, 3]}
          v: {dtype: int16, shape: [null]}
          anything: any
          scale: {dtype: float32, shape: [], default: 2.0}
        nodes:
          - name: k
            module: Kinds
            inputs: {text: $text, n: $n, flag: $flag, m: $m, v: $v, anything: $anything, scale: $scale}
        outputs: {text: k/text, n: k/n, flag: k/flag, m: k/m, v: k/v, anything: k/anything}
    """,
}
GRAPHS["boom.yaml"] = """
    name: boom
    module_paths: [modules]
    inputs: {x: float}
    nodes:
      - name: ok
        module: Slow
        params: {seconds: 0.0}
        inputs: {x: $x}
      - name: kaboom
        module: Boom
        inputs: {x: ok/y}
    outputs: {y: kaboom/y}
"""


@pytest.fixture(scope="session")
def graph_dir(tmp_path_factory) -> Path:
    """A folder with gain, boom, slow, kinds graphs (and modules/ beside them)."""
    d = tmp_path_factory.mktemp("graphs")
    (d / "modules").mkdir()
    (d / "modules" / "testmods.py").write_text(MODULES)
    for name, text in GRAPHS.items():
        (d / name).write_text(textwrap.dedent(text))
    arith = (EXAMPLES / "arith.yaml").read_text().replace("[../modules]", f"[{REPO / 'examples' / 'modules'}]")
    (d / "arith.yaml").write_text(arith)
    return d


def make_sine_wav(seconds: float = 0.5, sr: int = 16000, freq: float = 440.0, amp: float = 0.5) -> tuple[bytes, np.ndarray]:
    from modulespack.io import wav_to_bytes
    t = np.arange(int(seconds * sr)) / sr
    x = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return wav_to_bytes(x, sr), x


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    from modulespack.io import read_wav_bytes
    return read_wav_bytes(data)


@pytest.fixture(scope="session")
def sine_wav():
    """sine_wav(seconds=0.5, sr=16000, freq=440, amp=0.5) -> (WAV bytes, float32 samples)."""
    return make_sine_wav


@pytest.fixture(scope="session")
def read_wav():
    """read_wav(bytes) -> (float32 samples, sample rate)."""
    return decode_wav


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def app(graph_dir):
    from modulespack.serve import create_app
    return create_app(graph_dir, timeout_s=20)


@pytest.fixture(scope="module")
def client(app):
    from fastapi.testclient import TestClient
    with TestClient(app) as c:
        yield c


@pytest.fixture
def graph_client(graph_dir, tmp_path):
    """graph_client(name, yaml) -> a TestClient of an app serving that one graph, written (dedented)
    to tmp_path/<name>.yaml beside a link to the test modules (module_paths: [modules])."""
    from fastapi.testclient import TestClient
    from modulespack.serve import create_app
    (tmp_path / "modules").symlink_to(graph_dir / "modules")

    def make(name: str, text: str) -> TestClient:
        path = tmp_path / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        return TestClient(create_app(path))
    return make
