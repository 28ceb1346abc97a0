"""The run Tracker names the running node (nested ones as `outer > inner`) through the core's node
hooks, with no wrapping of modules."""
from __future__ import annotations

import threading
import textwrap

import modulespack as mp
from modulespack.core.hooks import HOOKS as TRACKER
from modulespack.engines.tracking import Tracker, run_tracked

MODULES = '''
import threading
from modulespack import Module, Port

class Stuck(Module):
    """Waits until the test lets it go."""
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    entered = threading.Event()
    release = threading.Event()
    def run(self, x):
        type(self).entered.set()
        type(self).release.wait(10)
        return {"y": x}

class Pass(Module):
    inputs = {"x": Port("any")}
    outputs = {"y": Port("any")}
    def run(self, x):
        return {"y": x}
'''


def write_graphs(tmp_path):
    (tmp_path / "mods.py").write_text(MODULES)
    (tmp_path / "inner.yaml").write_text(textwrap.dedent(f"""
        module_paths: ["{tmp_path}"]
        inputs: {{x: any}}
        nodes:
          - {{name: first, module: Pass, inputs: {{x: $x}}}}
          - {{name: stuck, module: Stuck, inputs: {{x: first/y}}}}
        outputs: {{y: stuck/y}}
        """))
    outer = tmp_path / "outer.yaml"
    outer.write_text(textwrap.dedent(f"""
        module_paths: ["{tmp_path}"]
        inputs: {{x: any}}
        nodes:
          - {{name: sub, graph: inner.yaml, inputs: {{x: $x}}}}
          - {{name: side, module: Pass, inputs: {{x: $x}}}}
        outputs: {{y: sub/y, side: side/y}}
        """))
    return outer


def test_the_tracker_names_the_innermost_running_node(tmp_path):
    s = mp.Session(write_graphs(tmp_path), parallel=True)
    stuck = type(s.modules["sub"].session.modules["stuck"])
    tracker = Tracker()
    token = mp.CancelToken()
    out = {}
    t = threading.Thread(target=lambda: out.update(run_tracked(s, {"x": 1}, ("y", "side"), tracker,
                                                               cancel=token).outputs))
    t.start()
    try:
        assert stuck.entered.wait(10)
        assert tracker.running() == "sub > stuck"
    finally:
        stuck.release.set()
        t.join(10)
    assert out == {"y": 1, "side": 1} and tracker.running() is None
    assert TRACKER.get() is None


def test_a_tracker_installed_by_hand_sees_the_nodes(tmp_path):
    """As the engines do: the core's HOOKS set to the tracker around session.run."""
    s = mp.Session(write_graphs(tmp_path), parallel=False)
    type(s.modules["sub"].session.modules["stuck"]).release.set()
    seen = []

    class Log(Tracker):
        __slots__ = ()

        def node_started(self, path):
            key = super().node_started(path)
            seen.append(self.running())
            return key

        def node_ended(self, path, key, seconds, error):
            super().node_ended(path, key, seconds, error)
            seen.append(self.running())

    reset = TRACKER.set(Log())
    try:
        s.run({"x": 1})
    finally:
        TRACKER.reset(reset)
    assert {"sub > first", "sub > stuck", "side"} <= set(seen) and seen[-1] is None
