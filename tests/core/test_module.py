"""The module contract: class ports, the function decorator, parameter checks."""
from __future__ import annotations

from typing import Literal, Optional

import numpy as np
import pytest

import modulespack as mp
from modulespack import Module, Port, module
from modulespack.core.ports import edge_problem, value_checker


def test_function_decorator_reads_ports_and_params():
    @module(outputs={"y": Port("int")})
    def add(x: int, k: int = 5, *, bias: int = 0):
        return x + k + bias

    assert issubclass(add, Module)
    assert add.inputs == {"x": Port("int"), "k": Port("int")}
    assert add.optional_inputs({}) == {"k"}
    assert add(bias=1).run(x=1) == {"y": 7}
    assert add.param_problems({"bias": "a"}) == [("bias", "expected int, got str 'a'")]
    assert add.param_problems({"nope": 1})[0][0] == "nope"


def test_function_with_several_outputs_returns_a_tuple():
    @module(outputs=["lo", "hi"])
    def split(x: np.ndarray):
        return x.min(), x.max()

    assert split.inputs["x"].dtype == "ndarray"
    assert split().run(x=np.array([3, 1, 2])) == {"lo": 1, "hi": 3}


def test_param_checks_follow_type_hints():
    class M(Module):
        def __init__(self, order: int, alpha: float = 0.42, mode: Literal["a", "b"] = "a",
                     path: Optional[str] = None):
            pass

    assert M.param_problems({"order": 24}) == []
    assert M.param_problems({"order": 24, "alpha": 1}) == []          # an int is a fine float
    probs = dict(M.param_problems({"alpha": "x", "mode": "c", "path": 3}))
    assert set(probs) == {"order", "alpha", "mode", "path"}
    assert probs["order"] == "required parameter missing"


def test_port_normalisation_and_edges():
    assert Port(np.float32, (None, 60)) == Port("float32", [None, 60])
    assert Port(str).shape == ()
    with pytest.raises(ValueError, match="unknown dtype"):
        Port("floaty")
    assert edge_problem(Port("int"), Port("float")) is None
    assert "dtype mismatch" in edge_problem(Port("float"), Port("int"))
    assert edge_problem(Port("float32", (None, 80)), Port("ndarray")) is None
    assert "rank" in edge_problem(Port("float32", (None,)), Port("float32", (None, 3)))
    assert Port("float32", (None, "n")).resolve({"n": 80}) == Port("float32", (None, 80))


def test_value_checkers():
    c = value_checker(Port("float32", (None, 3)))
    assert c(np.zeros((5, 3), np.float32)) is None
    assert "size 3 in dim 1" in c(np.zeros((5, 4), np.float32))
    assert "numpy array" in c([1, 2, 3])
    assert value_checker(Port("int"))(True) is not None      # a bool is not an int here
    assert value_checker(Port("float"))(3) is None
    assert value_checker(Port("float32", ()))(np.float32(1)) is None
    assert value_checker(Port("any")) is None
