"""Port attributes: declared on ports and in graph files, worked out along the graph, checked along edges."""
from __future__ import annotations

import pickle

import pytest

import modulespack as mp
from modulespack import Module, Port
from modulespack.core.build import build_graph
from modulespack.core.errors import GraphError
from modulespack.core.ports import Attrs
from modulespack.core.registry import Registry


class Source(Module):
    """Frames at a rate given by its parameters."""
    inputs = {"x": Port("float32", (None,))}
    outputs = {"frames": Port("float32", (None, None))}

    def __init__(self, period_ms: float = 5.0):
        self.period_ms = period_ms

    @classmethod
    def port_attrs(cls, params, in_attrs):
        out = {"period_ms": params["period_ms"]}
        if "sr" in in_attrs.get("x", {}):
            out["sr"] = in_attrs["x"]["sr"]
        return {"frames": out}

    def run(self, x):
        return {"frames": x[:, None]}


class Through(Module):
    """Passes frames on; their attributes go with them."""
    inputs = {"frames": Port("float32", (None, None))}
    outputs = {"frames": Port("float32", (None, None))}
    attrs_through = {"frames": "frames"}

    def run(self, frames):
        return {"frames": frames}


class Plain(Module):
    """Knows nothing of attributes: what arrives stops here."""
    inputs = {"frames": Port("float32", (None, None))}
    outputs = {"frames": Port("float32", (None, None))}

    def run(self, frames):
        return {"frames": frames}


class Sink(Module):
    """Expects 5 ms frames of 16 kHz audio."""
    inputs = {"frames": Port("float32", (None, None), attrs={"period_ms": 5.0, "sr": 16000})}
    outputs = {"n": Port("int")}

    def run(self, frames):
        return {"n": len(frames)}


REG = Registry(use_entry_points=False)
for _c in (Source, Through, Plain, Sink):
    REG.register(_c, _c.__name__.lower())


def graph(period_ms=5.0, middle="through", wav_attrs=None, sink=True):
    wav = {"dtype": "float32", "shape": [None]}
    if wav_attrs is not None:
        wav["attrs"] = wav_attrs
    nodes = [{"name": "analysis", "module": "source", "params": {"period_ms": period_ms}, "inputs": {"x": "$wav"}},
             {"name": "mid", "module": middle, "inputs": {"frames": "analysis/frames"}}]
    if sink:
        nodes.append({"name": "model", "module": "sink", "inputs": {"frames": "mid/frames"}})
    return {"inputs": {"wav": wav}, "nodes": nodes,
            "outputs": {"n": "model/n"} if sink else {"frames": "mid/frames"}}


def problems(spec):
    with pytest.raises(GraphError) as e:
        build_graph(spec, REG)
    return e.value.problems


def test_attrs_are_an_immutable_hashable_mapping_and_part_of_port_equality():
    a = Port("float32", (None,), attrs={"sr": 16000})
    same = Port("float32", (None,), attrs={"sr": 16000})
    assert a == same and hash(a) == hash(same)
    assert a != Port("float32", (None,)) and a.attrs == {"sr": 16000}
    assert Port("int") == Port("int") and not Port("int").attrs
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(TypeError):
        a.attrs["sr"] = 8000
    for bad in ({"sr": True}, {"sr": [1]}, {1: 2}):
        with pytest.raises(ValueError):
            Attrs(bad)


def test_graph_file_attrs_round_trip_through_port_spec():
    p = Port.from_spec({"dtype": "float32", "shape": [None], "attrs": {"sr": 16000}})
    assert p.attrs == {"sr": 16000} and Port.from_spec(p.to_dict()) == p
    with pytest.raises(ValueError, match="attrs"):
        Port.from_spec({"dtype": "float32", "attrs": [1]})


def test_attrs_flow_down_the_graph_from_params_and_graph_inputs():
    g = build_graph(graph(wav_attrs={"sr": 16000}, sink=False), REG)
    assert g.inputs["wav"].attrs == {"sr": 16000}
    assert g.nodes["analysis"].outputs["frames"].attrs == {"period_ms": 5.0, "sr": 16000}
    assert g.outputs["frames"].attrs == {"period_ms": 5.0, "sr": 16000}  # carried through `mid`


def test_mismatch_two_edges_away_names_both_nodes_ports_values_and_where_it_was_set():
    (p,) = problems(graph(period_ms=10.0))
    assert p.kind == "attrs" and (p.node, p.port) == ("model", "frames")
    assert "mid/frames" in p.message and "model/frames" in p.message
    assert "10.0" in p.message and "5.0" in p.message and "period_ms" in p.message
    assert "set at analysis/frames" in p.message


def test_mismatch_with_a_graph_input_declared_in_the_file(tmp_path):
    f = tmp_path / "g.yaml"
    f.write_text("""
inputs:
  wav: {dtype: float32, shape: [null], attrs: {sr: 22050}}
nodes:
  - {name: analysis, module: source, inputs: {x: $wav}}
  - {name: mid, module: through, inputs: {frames: analysis/frames}}
  - {name: model, module: sink, inputs: {frames: mid/frames}}
outputs: {n: model/n}
""")
    with pytest.raises(GraphError) as e:
        build_graph(f, REG)
    (p,) = e.value.problems
    assert p.kind == "attrs" and p.file == str(f) and p.line == 7
    assert "22050" in p.message and "16000" in p.message and "graph input 'wav'" in p.message


def test_what_a_module_does_not_carry_is_not_checked():
    # `plain` declares nothing: unknown attributes are no mismatch
    g = build_graph(graph(period_ms=10.0, middle="plain"), REG)
    assert not g.nodes["mid"].outputs["frames"].attrs


def test_no_attrs_means_no_change_in_ports_or_runs():
    spec = {"inputs": {"x": "int"}, "nodes": [{"name": "a", "module": "inc", "inputs": {"x": "$x"}},
                                              {"name": "b", "module": "inc", "inputs": {"x": "a/y"}}],
            "outputs": {"y": "b/y"}}

    class Inc(Module):
        inputs = {"x": Port("int")}
        outputs = {"y": Port("int")}

        def run(self, x):
            return {"y": x + 1}
    reg = Registry(use_entry_points=False)
    reg.register(Inc, "inc")
    g = build_graph(spec, reg)
    assert g.nodes["b"].outputs == {"y": Port("int")} and g.inputs == {"x": Port("int")}
    assert mp.Session(g).run({"x": 1})["y"] == 3


def test_a_failing_hook_is_a_build_problem_not_a_crash():
    class Broken(Source):
        @classmethod
        def port_attrs(cls, params, in_attrs):
            return {"nope": {"sr": 1}}
    reg = Registry(use_entry_points=False)
    reg.register(Broken, "source")
    reg.register(Through, "through")
    with pytest.raises(GraphError) as e:
        build_graph(graph(sink=False), reg)
    assert e.value.problems[0].kind == "attrs" and "names no output 'nope'" in e.value.problems[0].message
