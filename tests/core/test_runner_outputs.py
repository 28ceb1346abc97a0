"""A module whose `runner` returns only the outputs a graph uses keeps its run-time output checks:
they cover those outputs (a plain `run` must still return exactly the declared ones)."""
from __future__ import annotations

import pytest

import modulespack as mp
from modulespack import Module, Port
from modulespack.core.registry import Registry
from modulespack.core.spec import parse_graph


class Split(Module):
    """half and double of x; its runner computes only the outputs asked for"""
    inputs = {"x": Port("float")}
    outputs = {"half": Port("float"), "double": Port("float")}

    def __init__(self, bad: str = ""):
        self.bad = bad

    def run(self, x):
        return {"half": x / 2, "double": x * 2}

    def runner(self, outputs):
        def run_some(x):
            out = {p: v for p, v in self.run(x).items() if p in outputs}
            if self.bad == "dtype":
                out[outputs[0]] = "text"
            elif self.bad == "extra":
                out["z"] = 1
            elif self.bad == "missing":
                del out[outputs[0]]
            elif self.bad == "all":  # every declared output, more than asked: fine
                out = self.run(x)
            elif self.bad == "list":
                out = [1]
            return out
        return run_some


class Plain(Split):
    """The same outputs from `run` itself: exactly the declared outputs are required."""

    def runner(self, outputs):
        return self.run

    def run(self, x):
        return {"half": x / 2}


REG = Registry(use_entry_points=False)
REG.register(Split, "split")
REG.register(Plain, "plain")


def session(module: str, outputs: dict, bad: str = "", check: bool = True) -> mp.Session:
    spec = {"inputs": {"x": "float"},
            "nodes": [{"name": "s", "module": module, "params": {"bad": bad}, "inputs": {"x": "$x"}}],
            "outputs": outputs}
    return mp.Session(mp.build_graph(parse_graph(spec), registry=REG), check=check)


def test_a_runner_may_return_only_the_outputs_asked_for():
    with session("split", {"y": "s/half"}) as s:
        assert s.run({"x": 4.0}).outputs == {"y": 2.0}
    with session("split", {"h": "s/half", "d": "s/double"}) as s:
        assert s.run({"x": 4.0}).outputs == {"h": 2.0, "d": 8.0}
    with session("split", {"d": "s/double"}, bad="all") as s:
        assert s.run({"x": 4.0}).outputs == {"d": 8.0}


@pytest.mark.parametrize("bad, message", [
    ("dtype", "output 'half': expected float"),
    ("extra", "undeclared output(s) ['z']"),
    ("missing", "no value for output(s) ['half']"),
    ("list", "must return a dict"),
])
def test_the_outputs_a_runner_returns_are_still_checked(bad, message):
    with session("split", {"y": "s/half"}, bad=bad) as s, pytest.raises(mp.NodeError) as ei:
        s.run({"x": 4.0})
    assert ei.value.node == "s" and message in str(ei.value), str(ei.value)


def test_plain_run_must_return_every_declared_output():
    lacks_double = r"no value for declared output\(s\) \['double'\]"
    with session("plain", {"y": "s/half"}) as s, pytest.raises(mp.NodeError, match=lacks_double):
        s.run({"x": 4.0})
    with session("plain", {"y": "s/half"}, check=False) as s:
        assert s.run({"x": 4.0}).outputs == {"y": 2.0}
