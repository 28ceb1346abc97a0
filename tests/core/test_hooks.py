"""Node hooks (start and end of every node, nested ones named `outer > inner`) and the module
capabilities that make a nested graph an ordinary module."""
from __future__ import annotations

import ast
import threading
from pathlib import Path

import pytest

import modulespack as mp
from modulespack.core.hooks import HOOKS, NodeHooks

CORE = Path(mp.__file__).resolve().parent / "core"


class Log(NodeHooks):
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def node_started(self, path):
        with self.lock:
            self.events.append(("start", path, threading.get_ident()))
        return path.upper()

    def node_ended(self, path, key, seconds, error):
        assert key == path.upper() and seconds >= 0
        with self.lock:
            self.events.append(("end", path, type(error).__name__ if error else None))


@pytest.fixture
def outer(write):
    write("inner.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: i1, module: Record, inputs: {x: $x}}
          - {name: bad, module: Boom, inputs: {x: i1/y}}
        outputs: {y: i1/y, boom: bad/y}
        """)
    write("middle.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: m1, graph: inner.yaml, inputs: {x: $x}}
        outputs: {y: m1/y, boom: m1/boom}
        """)
    return write("outer.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: o1, graph: middle.yaml, inputs: {x: $x}}
          - {name: side, module: Sleep, params: {seconds: 0.01}, inputs: {x: $x}}
        outputs: {y: o1/y, boom: o1/boom, side: side/y}
        """)


def run_with(hooks, fn):
    token = HOOKS.set(hooks)
    try:
        return fn()
    finally:
        HOOKS.reset(token)


@pytest.mark.parametrize("parallel", [False, True, "auto"])
def test_hooks_see_every_node_with_its_nested_path(outer, parallel):
    s = mp.Session(outer, parallel=parallel)
    log = Log()
    run_with(log, lambda: s.run({"x": 1}, fetches=["y", "side"]))
    started = sorted(p for kind, p, _ in log.events if kind == "start")
    assert started == ["o1", "o1 > m1", "o1 > m1 > i1", "side"]
    ends = [(p, err) for kind, p, err in log.events if kind == "end"]
    assert sorted(ends) == [("o1", None), ("o1 > m1", None), ("o1 > m1 > i1", None), ("side", None)]
    # an inner node ends before the node that holds it
    assert ends.index(("o1 > m1 > i1", None)) < ends.index(("o1 > m1", None)) < ends.index(("o1", None))
    if parallel is True:
        assert len({t for kind, _, t in log.events if kind == "start"}) >= 2  # pool threads report too


def test_hooks_see_failures_and_nothing_without_hooks(outer):
    s = mp.Session(outer, parallel=False)
    log = Log()
    with pytest.raises(mp.NodeError) as ei:
        run_with(log, lambda: s.run({"x": 1}, fetches=["boom"]))
    assert ei.value.node == "o1 > m1 > bad"
    ends = [(p, err) for kind, p, err in log.events if kind == "end"]
    assert ends[-3:] == [("o1 > m1 > bad", "ZeroDivisionError"), ("o1 > m1", "NodeError"), ("o1", "NodeError")]
    n = len(log.events)
    s.run({"x": 1}, fetches=["y"])
    assert len(log.events) == n


def test_a_module_gets_the_outputs_the_graph_uses(write, lib):
    (lib / "fetching.py").write_text('''
from modulespack import Module, Port

class Two(Module):
    """Computes only the outputs a graph uses, as a nested graph does."""
    inputs = {"x": Port("int")}
    outputs = {"a": Port("int"), "b": Port("int")}
    asked = []
    check_outputs = False
    def run(self, x):
        return {"a": x, "b": -x}
    def runner(self, outputs):
        type(self).asked.append(outputs)
        return lambda x: {o: self.run(x)[o] for o in outputs}
''')
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: t, module: Two, inputs: {x: $x}}
        """)
    s = mp.Session(p)
    assert s.run({"x": 3}, fetches=["t/b"]).outputs == {"t/b": -3}
    assert s.run({"x": 3}, fetches=["t/b"]).outputs == {"t/b": -3}   # the plan is reused
    assert s.run({"x": 3}).outputs == {"t/a": 3, "t/b": -3}
    assert type(s.modules["t"]).asked == [("b",), ("a", "b")]


def test_plan_and_session_know_no_module_kind():
    for name in ("plan.py", "session.py"):
        text = (CORE / name).read_text()
        assert "GraphModule" not in text and "nested" not in _imports(CORE / name), name


def _imports(path: Path) -> set[str]:
    """The core modules a file imports, at its top or inside functions (not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in skip and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found |= {a.name for a in node.names}
    return found


def test_core_modules_import_each_other_without_a_circle():
    import graphlib
    names = {p.stem for p in CORE.glob("*.py")} - {"__init__"}
    graph = {m: _imports(CORE / f"{m}.py") & names for m in names}
    assert "nested" not in graph["build"] | graph["session"] or "session" not in graph["nested"]
    list(graphlib.TopologicalSorter(graph).static_order())  # raises CycleError on a circle
