"""Helpers for core tests: write graph files and module folders into tmp_path."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import modulespack as mp

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MODULES = '''
import threading, time
import numpy as np
from modulespack import Module, Port, module

class Inc(Module):
    inputs = {"x": Port("int")}
    outputs = {"y": Port("int")}
    def run(self, x):
        return {"y": x + 1}

class Sleep(Module):
    """Sleeps, then passes x on, recording how many ran at once."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    active = 0
    peak = 0
    lock = threading.Lock()
    def __init__(self, seconds: float = 0.05):
        self.seconds = seconds
    def run(self, x):
        cls = type(self)
        with cls.lock:
            cls.active += 1
            cls.peak = max(cls.peak, cls.active)
        time.sleep(self.seconds)
        with cls.lock:
            cls.active -= 1
        return {"y": x}

class Boom(Module):
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    def run(self, x):
        return {"y": helper_that_fails(x)}

def helper_that_fails(x):
    raise ZeroDivisionError(f"cannot handle {x}")

class Liar(Module):
    """Declares a float32 vector but returns whatever `kind` says."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("float32", (None,))}
    def __init__(self, kind: str = "ok"):
        self.kind = kind
    def run(self, x):
        if self.kind == "ok":
            return {"y": np.zeros(3, np.float32)}
        if self.kind == "dtype":
            return {"y": np.zeros(3, np.float64)}
        if self.kind == "rank":
            return {"y": np.zeros((3, 2), np.float32)}
        if self.kind == "extra":
            return {"y": np.zeros(3, np.float32), "z": 1}
        if self.kind == "missing":
            return {}
        return [1, 2]

class Mel(Module):
    inputs = {"wav": Port("float32", (None,))}
    outputs = {"mel": Port("float32", (None, "n_mels"))}
    def __init__(self, n_mels: int = 80):
        self.n_mels = n_mels
    def run(self, wav):
        return {"mel": np.zeros((len(wav) // 10, self.n_mels), np.float32)}

class MelUser(Module):
    inputs = {"mel": Port("float32", (None, "n_mels"))}
    outputs = {"n": Port("int")}
    def __init__(self, n_mels: int = 80):
        self.n_mels = n_mels
    def run(self, mel):
        return {"n": int(mel.shape[1])}

class Ordered(Module):
    """Returns its output in a dict subclass."""
    inputs = {"x": Port("float32")}
    outputs = {"y": Port("float32")}
    def run(self, x):
        from collections import OrderedDict
        return OrderedDict(y=x)

class TwoMels(Module):
    inputs = {"a": Port("float32", (None, "d")), "b": Port("float32", (None, "d"))}
    outputs = {"n": Port("int")}
    def run(self, a, b):
        return {"n": a.shape[1] + b.shape[1]}

class PassMel(Module):
    inputs = {"x": Port("float32", (None, "d"))}
    outputs = {"y": Port("float32", (None, "d"))}
    def run(self, x):
        return {"y": x}

class Fixed60(Module):
    inputs = {"feat": Port("float32", (None, 60))}
    outputs = {"n": Port("int")}
    def run(self, feat):
        return {"n": int(feat.shape[0])}

class Text(Module):
    inputs = {"text": Port("str")}
    outputs = {"n": Port("int")}
    def run(self, text):
        return {"n": len(text)}

class NeedsModel(Module):
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    def __init__(self, path: str):
        with open(path) as f:
            self.model = f.read()
    def run(self, x):
        return {"y": self.model}

class Refuse(Module):
    """Raises InputError naming `port` (empty: no port) when x is negative, else passes x on."""
    inputs = {"x": Port("any"), "other": Port("any")}
    outputs = {"y": Port("any")}
    def __init__(self, port: str = "x"):
        self.port = port or None
    def run(self, x, other=None):
        from modulespack import InputError
        if x < 0:
            raise InputError(f"x must not be negative, got {x}", port=self.port)
        return {"y": x}

class Pair(Module):
    inputs = {"a": Port("any"), "b": Port("any")}
    outputs = {"y": Port("any")}
    def run(self, a, b):
        return {"y": (a, b)}

class CancelRun(Module):
    """Cancels the run it is part of (its current token), then passes x on (or fails, as a module
    whose subprocess the cancel killed does)."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    def __init__(self, then_fail: bool = False):
        self.then_fail = then_fail
    def run(self, x):
        from modulespack.core import current_token
        current_token().cancel("enough")
        if self.then_fail:
            raise RuntimeError("flite died of signal 9")
        return {"y": x}

class Record(Module):
    """Passes x on, recording (node tag, current cancel token, thread) in the class's `calls`."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    calls = []
    def __init__(self, tag: str = ""):
        self.tag = tag
    def run(self, x):
        from modulespack.core import current_token
        type(self).calls.append((self.tag, current_token(), threading.get_ident()))
        return {"y": x}

class Gate(Module):
    """Waits (up to 10 s) at a barrier shared by `parties` nodes: only passes if they run at once."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    barriers = {}
    def __init__(self, parties: int = 2, key: str = "g"):
        self.barrier = type(self).barriers.setdefault((key, parties), threading.Barrier(parties, timeout=10))
    def run(self, x):
        self.barrier.wait()
        return {"y": x}

class Doubler(Module):
    """Batchable: y = 2 * x for a whole batch in one numpy call; records its batch sizes."""
    inputs = {"x": Port("float32", (None,))}
    outputs = {"y": Port("float32", (None,))}
    batchable = True
    resources = {"num_gpus": 0.5, "memory_mb": 100}
    sizes = []
    def run_batch(self, items):
        type(self).sizes.append(len(items))
        ys = 2 * np.stack([x["x"] for x in items])
        return [{"y": y} for y in ys]

class Greedy(Module):
    """Declares a resource key that does not exist."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    resources = {"cpus": 4}
    def run(self, x):
        return {"y": x}

@module(outputs={"y": Port("int")})
def AddK(x: int, k: int = 0, *, bias: int = 0):
    """x + k + bias; k is an optional input, bias a parameter."""
    return x + k + bias
'''


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    """A folder of test modules, as a graph's module_paths would name it."""
    d = tmp_path / "lib"
    d.mkdir()
    (d / "testmods.py").write_text(MODULES)
    return d


@pytest.fixture
def write(tmp_path: Path, lib: Path):
    """write(name, yaml_text) -> path; the text may use {lib} for the module folder."""
    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(textwrap.dedent(text).replace("{lib}", str(lib)))
        return p
    return _write


@pytest.fixture
def problems_of():
    """problems_of(path) -> the Problems that building the graph raises (fails if it builds)."""
    def _problems(path, **kw) -> list[mp.Problem]:
        with pytest.raises(mp.GraphError) as ei:
            mp.build_graph(path, **kw)
        return ei.value.problems
    return _problems
