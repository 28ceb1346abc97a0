"""Small graphs for the thread and local engine tests: a sleeper (cancellable between nodes, and
reporting which node runs), a failing module and a module refusing its input."""
from __future__ import annotations

import textwrap
from pathlib import Path

MODULES = '''
import os
import time
from modulespack import InputError, Module, Port


class Nap(Module):
    """Sleeps `seconds` (in small steps, writing its pid to `mark` first), then y = x."""
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, seconds: float = 0.0, mark: str = ""):
        self.seconds, self.mark = seconds, mark

    def run(self, x):
        if self.mark:
            with open(self.mark, "a") as f:
                f.write(f"{os.getpid()}\\n")
        end = time.monotonic() + self.seconds
        while time.monotonic() < end:
            time.sleep(0.01)
        return {"y": x}


class Boom(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, x):
        raise ZeroDivisionError(f"cannot handle {x}")


class Positive(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def run(self, x):
        if x <= 0:
            raise InputError(f"{x} is not positive", port="x")
        return {"y": x}
'''


def write(folder: Path, seconds: float = 0.0, mark: str = "") -> dict[str, Path]:
    """Graph files in `folder`: nap (first -> nap -> last), boom, positive."""
    (folder / "engmods.py").write_text(MODULES)
    graphs = {
        "nap": f"""
            module_paths: [.]
            inputs: {{x: float}}
            nodes:
              - {{name: first, module: Nap, inputs: {{x: $x}}}}
              - {{name: nap, module: Nap, params: {{seconds: {seconds}, mark: "{mark}"}}, inputs: {{x: first/y}}}}
              - {{name: last, module: Nap, inputs: {{x: nap/y}}}}
            outputs: {{y: last/y}}
            """,
        "boom": """
            module_paths: [.]
            inputs: {x: float}
            nodes:
              - {name: bang, module: Boom, inputs: {x: $x}}
            outputs: {y: bang/y}
            """,
        "positive": """
            module_paths: [.]
            inputs: {x: float}
            nodes:
              - {name: check, module: Positive, inputs: {x: $x}}
            outputs: {y: check/y}
            """,
    }
    out = {}
    for name, text in graphs.items():
        out[name] = folder / f"{name}.yaml"
        out[name].write_text(textwrap.dedent(text))
    return out


def wait_for(fn, seconds: float = 30.0, what: str = "condition"):
    import time
    deadline = time.monotonic() + seconds
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
