"""Small graphs and modules for the Ray tests, written into a folder (actors load them from there)."""
from __future__ import annotations

import textwrap
from pathlib import Path

MODULES = '''
import os
import time
import numpy as np
from modulespack import Module, Port
from modulespack.core import current_token


class Nap(Module):
    """Waits x seconds (stopping at once when its run is cancelled), then y = x."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, x):
        token = current_token()
        if token is not None:
            token.wait(x)
            token.raise_if_set()
        else:
            time.sleep(x)
        return {"y": x}


class Deaf(Module):
    """Sleeps `seconds` and ignores cancels (a hung native call)."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, seconds: float = 60.0):
        self.seconds = seconds

    def run(self, x):
        time.sleep(self.seconds)
        return {"y": x}


class Broken(Module):
    """Cannot be set up (a model file that is missing on the worker)."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def setup(self):
        raise FileNotFoundError("model.bin is missing")

    def run(self, x):
        return {"y": x}


class Peak(Module):
    """The peak of a signal and its length in seconds; `crash` "always" kills the process, "once:PATH"
    kills it the first time only (PATH marks that it happened)."""
    inputs = {"wav": Port("float32", (None,)), "sr": Port("int"), "crash": Port("str")}
    outputs = {"peak": Port("float"), "seconds": Port("float")}

    def run(self, wav, sr, crash=""):
        if crash == "always":
            os._exit(3)
        if crash.startswith("once:") and not os.path.exists(crash[5:]):
            open(crash[5:], "w").close()
            os._exit(3)
        return {"peak": float(np.abs(wav).max()), "seconds": len(wav) / sr}
'''

NAP = '''
name: nap
module_paths: [mods]
inputs: {x: float}
nodes:
  - {name: nap, module: Nap, inputs: {x: $x}}
outputs: {y: nap/y}
'''

DEAF = '''
name: deaf
module_paths: [mods]
inputs: {x: float}
nodes:
  - {name: deaf, module: Deaf, inputs: {x: $x}}
outputs: {y: deaf/y}
'''

BROKEN = '''
name: broken
module_paths: [mods]
inputs: {x: float}
nodes:
  - {name: broken, module: Broken, inputs: {x: $x}}
outputs: {y: broken/y}
'''

PEAK = '''
name: peak
module_paths: [mods]
inputs:
  wav: {dtype: float32, shape: [null]}
  sr: int
  crash: {dtype: str, default: ""}
nodes:
  - {name: peak, module: Peak, inputs: {wav: $wav, sr: $sr, crash: $crash}}
outputs: {peak: peak/peak, seconds: peak/seconds}
'''


def write_graphs(folder: Path) -> dict[str, Path]:
    (folder / "mods").mkdir(parents=True, exist_ok=True)
    (folder / "mods" / "raytest_mods.py").write_text(textwrap.dedent(MODULES))
    out = {}
    for name, text in (("nap", NAP), ("deaf", DEAF), ("peak", PEAK), ("broken", BROKEN)):
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(text)
    return out
