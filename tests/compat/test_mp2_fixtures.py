"""The modulespack2 fixture files load unchanged, through core and through the mp2 API."""
from __future__ import annotations

import json

import pytest

import modulespack as mp
from modulespack.compat import LegacyModule, ModuleGraph, mp2_toposort
from modulespack.core.spec import Const, Edge, GraphInput

from mp2_helpers import FIXTURES, LOCAL_GRAPHS, SHARED_GRAPHS


@pytest.mark.parametrize("name", FIXTURES)
def test_copies_are_identical_to_the_shared_fixtures(name, mp2_graphs):
    assert (LOCAL_GRAPHS / name).read_bytes() == (mp2_graphs / name).read_bytes()


def test_every_shared_fixture_has_a_copy(mp2_graphs):
    assert sorted(p.name for p in mp2_graphs.iterdir()) == sorted(FIXTURES)
    assert sorted(p.name for p in LOCAL_GRAPHS.iterdir()) == sorted(FIXTURES)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_loads_and_builds_through_core(name, any_graphs, registry):
    path = any_graphs / name
    raw = json.loads(path.read_text())
    spec = mp.load_graph(path)
    assert spec.format == "modulespack2"
    assert spec.path == path
    assert [n.name for n in spec.nodes] == [n["name"] for n in raw["node"]]
    assert [n.module for n in spec.nodes] == [n["module"] for n in raw["node"]]
    assert raw["version"]["nodeNum"] == len(spec.nodes)
    # every node gets its line in the file, so problems point into it
    lines = path.read_text().splitlines()
    for n in spec.nodes:
        assert f'"{n.name}"' in lines[n.line - 1]
    built = mp.build_graph(path, registry=registry)
    assert set(built.order) == {n["name"] for n in raw["node"]}
    for n in built.nodes.values():
        assert issubclass(n.cls, LegacyModule) and n.cls.__name__ == spec.node(n.name).module
    # the graph's outputs are the last node's (mp2 returned those), named as in its "output"
    last = raw["node"][-1]
    assert spec.outputs == {k: Edge(last["name"], k) for k in last["output"]}
    # start-node inputs become graph inputs <node>.<port>
    starts = [n for n in raw["node"] if "startNode" in n]
    assert set(spec.inputs) == {f"{n['name']}.{p}" for n in starts for p in n["input"]}
    assert set(built.inputs) == set(spec.inputs)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_loads_as_module_graph(name, any_graphs):
    path = any_graphs / name
    raw = json.loads(path.read_text())
    g = ModuleGraph(JsonFile=str(path))
    assert list(g.nodes) == [n["name"] for n in raw["node"]]
    for n in raw["node"]:
        assert g.nodes[n["name"]]["attr"] == n      # the file's node entry, as networkx held it in mp2
        assert g.node[n["name"]]["attr"]["module"] == n["module"]
    assert g.spec.to_dict() == mp.load_graph(path).to_dict()
    assert g.start_nodes == [n["name"] for n in raw["node"] if "startNode" in n]
    # the edges mp2's ModuleGraph added: one per "node/port" input of a non-start node
    want = []
    for n in raw["node"]:
        if "startNode" in n:
            continue
        for v in n["input"].values():
            if isinstance(v, str) and (v.split("/")[0], n["name"]) not in want:
                want.append((v.split("/")[0], n["name"]))
    assert g.edges == want


def test_rmse_graph_structure(graphs):
    spec = mp.load_graph(graphs / "RMSE_graph.json")
    assert spec.inputs == {"firstadd.x1": None, "firstadd.x2": None}
    assert spec.node("firstadd").inputs == {"x1": GraphInput("firstadd.x1"), "x2": GraphInput("firstadd.x2")}
    assert spec.node("secondadd").inputs == {"x1": Edge("firstadd", "y"), "x2": Edge("firstadd", "y")}
    assert spec.node("multiply").inputs == {"x1": Edge("firstadd", "y"), "x2": Edge("secondadd", "y")}
    # {"x2": {"x2": 8}}: the one-key dict is a constant for the outer port
    assert spec.node("minus").inputs == {"x1": Edge("multiply", "y"), "x2": Const(8)}
    assert spec.outputs == {"y": Edge("minus", "y")}
    assert "THU" in spec.description


def test_django_constants_and_outputs(graphs):
    asr = mp.load_graph(graphs / "django-ASR.json")
    assert asr.node("response_handler").inputs["return_type"] == Const("text")
    assert asr.outputs == {"RetDataDict": Edge("response_handler", "RetDataDict")}
    vc = mp.load_graph(graphs / "django-VC.json")
    assert vc.node("response_handler").inputs["return_type"] == Const("audio")
    _asr = mp.load_graph(graphs / "django-_ASR.json")
    assert _asr.inputs == {"audio2mfcc.wav_file": None}        # "" is a placeholder, like "None"
    assert _asr.outputs == {"HanZi": Edge("LanguageModel", "HanZi")}
    _vc = mp.load_graph(graphs / "django-_VC.json")
    assert _vc.outputs == {"audio_stream": Edge("vocoder", "audio_stream")}
    assert _vc.node("voice_conversion").inputs == {p: Edge("mfcc_spec_mel", p) for p in ("mfcc", "spec", "mel")}


def test_toposort_is_networkx_2_order():
    # networkx 2.x topological_sort: Kahn's algorithm with a stack of ready nodes
    assert mp2_toposort(["firstadd", "secondadd", "multiply", "minus"],
                        [("firstadd", "secondadd"), ("firstadd", "multiply"), ("secondadd", "multiply"),
                         ("multiply", "minus")]) == ["firstadd", "secondadd", "multiply", "minus"]
    # two sources: the later one in file order is popped first
    assert mp2_toposort(["a", "b", "c"], [("a", "c"), ("b", "c")]) == ["b", "a", "c"]
    # two sinks: the graph's outputs are those of the one popped last
    assert mp2_toposort(["s", "x", "y"], [("s", "x"), ("s", "y")]) == ["s", "y", "x"]
    with pytest.raises(ValueError, match="cycle"):
        mp2_toposort(["a", "b"], [("a", "b"), ("b", "a")])


def test_last_node_decides_outputs_with_two_sinks(tmp_path):
    p = tmp_path / "two_sinks.json"
    p.write_text(json.dumps({"version": {"nodeNum": 3}, "node": [
        {"startNode": "True", "name": "s", "module": "add", "input": {"x1": "None", "x2": "None"},
         "output": {"y": 0}},
        {"name": "x", "module": "add", "input": {"x1": "s/y", "x2": {"x2": 1}}, "output": {"y": 0}},
        {"name": "y", "module": "divide", "input": {"x1": "s/y", "x2": {"x2": 2}}, "output": {"y": 0, "z": 0}},
    ]}))
    spec = mp.load_graph(p)
    # mp2's order was s, y, x: x ran last, so its outputs were the result
    assert ModuleGraph(JsonFile=p).toposort() == ["s", "y", "x"]
    assert spec.outputs == {"y": Edge("x", "y")}


def test_shared_fixture_folder_location():
    # the repository sits beside shared/: <parent>/<repo>/tests/compat -> <parent>/shared/...
    assert SHARED_GRAPHS.parts[-3:] == ("shared", "fixtures", "mp2-graphs")
    assert SHARED_GRAPHS.parent.parent.parent == LOCAL_GRAPHS.parents[3]
