"""`module: remote` at build time: its parameters and tensor mapping checked like any node's (every
problem at once, naming the node), its ports from the mapping checked along edges, its resources,
and the `Unavailable` error it raises answered as 503 + Retry-After by the web layer."""
from __future__ import annotations

import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from modulespack.core import (
    GraphError,
    NodeError,
    Unavailable,
    build_graph,
    default_registry,
)
from modulespack.core.spec import load_graph
from modulespack.remote.node import RemoteModel, tensor_mismatch
from modulespack.remote.params import tensors

GOOD = {"protocol": "v2-http", "endpoints": ["127.0.0.1:9"], "model": "m",
        "inputs": {"mel": {"name": "input__0", "dtype": "FP32", "shape": [-1, 80]}},
        "outputs": {"ppg": {"dtype": "float32", "shape": [None, "n_ppg"]}}}


def built(params: dict, extra_nodes=(), inputs=None):
    g = {"inputs": inputs or {"mel": {"dtype": "float32", "shape": [None, 80]}},
         "nodes": [{"name": "am", "module": "remote", "params": params, "inputs": {"mel": "mel"}}, *extra_nodes]}
    return build_graph(load_graph(g))


def test_the_entry_point_names_the_class_and_ports_come_from_the_mapping():
    assert default_registry.resolve("remote") is RemoteModel
    node = built(GOOD).nodes["am"]
    assert (node.inputs["mel"].dtype, node.inputs["mel"].shape) == ("float32", (None, 80))
    assert (node.outputs["ppg"].dtype, node.outputs["ppg"].shape) == ("float32", (None, "n_ppg"))
    assert "input__0" in node.inputs["mel"].doc


def test_every_bad_parameter_is_reported_at_once_naming_the_node():
    bad = {**GOOD, "protocol": "v3", "endpoints": ["http://a:1/x", "b"], "balance": "fastest", "timeout": 0,
           "retries": -1, "model": "", "idempotent": "yes",
           "inputs": {"mel": {"dtype": "float33", "shape": [-1, 80]}}}
    with pytest.raises(GraphError) as e:
        built(bad)
    text = str(e.value)
    for what in ("protocol", "endpoints", "balance", "timeout", "retries", "model", "idempotent", "inputs"):
        assert f"node 'am': parameter '{what}'" in text, what
    assert "'http://a:1/x'" in text and "'b'" in text and "float33" in text


@pytest.mark.parametrize("mapping, why", [
    ({}, "must map port names"),
    ({"mel": {"dtype": "float32", "shape": [-2]}}, "bad size -2"),
    ({"mel": {"dtype": "float32", "shape": "80"}}, "list of sizes"),
    ({"mel": {"dtype": "float32", "shape": [1], "size": 3}}, "unknown key"),
    ({"mel": {"dtype": "float32", "shape": [1]}, "b": {"name": "mel", "dtype": "int8", "shape": [1]}},
     "more than one port"),
    ({"1x": {"dtype": "float32", "shape": [1]}}, "not an identifier"),
])
def test_a_bad_tensor_mapping_names_the_port(mapping, why):
    with pytest.raises(ValueError, match=why):
        tensors(mapping, "inputs")


def test_scalar_kinds_are_one_element_tensors_and_ports_of_their_kind():
    t = tensors({"n": {"dtype": "int"}, "text": {"name": "TEXT", "dtype": "str"}, "v": {"dtype": "BYTES", "shape": [-1]}},
                "inputs")
    assert (t["n"].datatype, t["n"].shape, t["n"].as_port().dtype) == ("INT64", (1,), "int")
    assert (t["text"].datatype, t["text"].as_port().dtype) == ("BYTES", "str")
    assert t["v"].datatype == "BYTES" and t["v"].v2_shape() == [-1]


def test_the_mapping_s_ports_are_checked_along_edges():
    downstream = {"name": "use", "module": "modulespack.speech.dsp:AmpToDb", "inputs": {"amp": "am/ppg"}}
    params = {**GOOD, "outputs": {"ppg": {"dtype": "int64", "shape": [-1]}}}
    with pytest.raises(GraphError, match=r"node 'use'.*dtype mismatch: int64 flows into float32"):
        built(params, [downstream])
    with pytest.raises(GraphError, match=r"node 'am': port 'mel'.*size mismatch in dim 1: 40 flows into 80"):
        built(GOOD, inputs={"mel": {"dtype": "float32", "shape": [None, 40]}})


def test_server_tensors_are_compared_by_datatype_rank_and_fixed_sizes():
    t = tensors({"mel": {"dtype": "float32", "shape": [-1, 80]}}, "inputs")["mel"]
    assert tensor_mismatch(t, ("FP32", [-1, 80]), True) is None
    assert tensor_mismatch(t, ("FP32", [-1, -1]), True) is None  # the server takes any size
    assert "shape [-1, 80] in the graph file, [-1, 40] on the server" in tensor_mismatch(t, ("FP32", [-1, 40]), True)
    assert "shape" in tensor_mismatch(t, ("FP32", [-1, 80, 1]), True)
    assert "datatype FP32 in the graph file, FP16 on the server" in tensor_mismatch(t, ("FP16", [-1, 80]), True)
    # an input of any length where the server fixes one would fail at run time; an output is checked then
    loose = tensors({"x": {"dtype": "float32", "shape": [-1]}}, "inputs")["x"]
    assert tensor_mismatch(loose, ("FP32", [16]), True) and tensor_mismatch(loose, ("FP32", [16]), False) is None


def test_it_declares_itself_cheap_in_cpu_and_thread_friendly():
    r = built(GOOD).nodes["am"].resources
    assert r["num_cpus"] < 0.5 and r["needs_processes"] is False and r["num_gpus"] == 0


def test_unavailable_crosses_processes_and_serve_answers_it_with_503_and_retry_after():
    pytest.importorskip("fastapi")
    from modulespack.serve.dispatch import Dispatcher
    e = pickle.loads(pickle.dumps(NodeError(["am"], "RemoteModel", Unavailable("all down: a:1, b:2", 2.4), "all down")))
    assert isinstance(e.cause, Unavailable) and e.cause.retry_after == 2.4
    answer = Dispatcher().error(SimpleNamespace(name="g"), e)
    assert answer.status == 503 and answer.headers == {"Retry-After": "3"}
    assert answer.context["node"] == "am" and answer.context["kind"] == "unavailable"


def test_scalar_ports_travel_as_one_element_tensors_and_come_back_as_python_values():
    m = RemoteModel("v2-http", ["127.0.0.1:9"], "m", {"text": {"dtype": "str"}, "n": {"dtype": "int"}},
                    {"out": {"dtype": "str"}, "k": {"dtype": "float"}})
    arr, datatype = m._tensor("text", m.ins["text"], "héllo")
    assert datatype == "BYTES" and arr.shape == (1,) and arr[0] == "héllo".encode()
    arr, datatype = m._tensor("n", m.ins["n"], 3)
    assert (datatype, arr.dtype.name, arr.tolist()) == ("INT64", "int64", [3])
    assert m._value("out", m.outs["out"], np.array([b"ok"], dtype=object)) == "ok"
    assert m._value("k", m.outs["k"], np.array([2.5])) == 2.5
    with pytest.raises(RuntimeError, match="scalar port 'k'"):
        m._value("k", m.outs["k"], np.array([1.0, 2.0]))
    m.close()
