"""A modulespack2 graph saved in this project's format loads back as the same graph and gives the same result."""
from __future__ import annotations

import pytest
import yaml

import modulespack as mp
from modulespack.core.spec import Const, Edge, GraphInput

from mp2_helpers import FIXTURES, tone_bursts, wav_bytes


def structure(spec):
    nodes = [(n.name, n.module, n.params, n.inputs) for n in spec.nodes]
    edges = sorted((src.node, n.name) for n in spec.nodes for src in n.inputs.values() if isinstance(src, Edge))
    return nodes, edges, spec.inputs, spec.outputs


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_saved_graph_has_the_same_nodes_and_edges(name, suffix, graphs, registry, tmp_path):
    spec = mp.load_graph(graphs / name)
    out = mp.save_graph(spec, tmp_path / f"g{suffix}")
    again = mp.load_graph(out)
    assert again.format == "modulespack"          # saved in this project's format
    assert structure(again) == structure(spec)
    assert again.to_dict() == spec.to_dict()
    mp.build_graph(again, registry=registry)      # and it still builds


def test_saved_yaml_reads_naturally(graphs, tmp_path):
    out = mp.save_graph(mp.load_graph(graphs / "RMSE_graph.json"), tmp_path / "g.yaml")
    data = yaml.safe_load(out.read_text())
    assert data["inputs"] == {"firstadd.x1": None, "firstadd.x2": None}
    minus = next(n for n in data["nodes"] if n["name"] == "minus")
    assert minus["inputs"] == {"x1": "multiply/y", "x2": {"value": 8}}
    first = next(n for n in data["nodes"] if n["name"] == "firstadd")
    assert first["inputs"] == {"x1": "$firstadd.x1", "x2": "$firstadd.x2"}
    assert data["outputs"] == {"y": "minus/y"}


@pytest.mark.parametrize("name, feeds, want", [
    ("RMSE_graph.json", {"firstadd.x1": 1, "firstadd.x2": 2}, {"y": 10}),
    ("RMSE_graph.json", {"firstadd.x1": 4, "firstadd.x2": -1}, {"y": 10}),
    ("test.json", {"RMSE.x1": 1, "RMSE.x2": 2}, {"y": 10}),
    ("test.json", {"RMSE.x1": 2, "RMSE.x2": 2}, {"y": 24}),
])
def test_saved_graph_gives_the_same_result(name, feeds, want, graphs, registry, tmp_path):
    spec = mp.load_graph(graphs / name)
    again = mp.load_graph(mp.save_graph(spec, tmp_path / "g.yaml"))
    assert mp.Session(spec, registry=registry).run(feeds).outputs == want
    assert mp.Session(again, registry=registry).run(feeds).outputs == want


def test_saved_asr_graph_gives_the_same_text(graphs, registry, tmp_path):
    wav = tmp_path / "in.wav"
    wav.write_bytes(wav_bytes(tone_bursts([300, 400, 500, 600])))
    spec = mp.load_graph(graphs / "django-_ASR.json")
    again = mp.load_graph(mp.save_graph(spec, tmp_path / "g.yaml"))
    feeds = {"audio2mfcc.wav_file": str(wav)}
    assert mp.Session(spec, registry=registry).run(feeds).outputs == {"HanZi": "你好世界"}
    assert mp.Session(again, registry=registry).run(feeds).outputs == {"HanZi": "你好世界"}


def test_start_node_default_survives_the_round_trip(tmp_path, registry):
    p = tmp_path / "g.json"
    p.write_text('''{"version": {"nodeNum": 2}, "node": [
      {"startNode": "True", "name": "a", "module": "add", "input": {"x1": "None", "x2": {"x2": 5}}, "output": {"y": 0}},
      {"name": "b", "module": "multiply", "input": {"x1": "a/y", "x2": {"x2": 3}}, "output": {"y": 0}}]}''')
    spec = mp.load_graph(p)
    assert spec.node("a").inputs == {"x1": GraphInput("a.x1"), "x2": GraphInput("a.x2")}
    assert spec.node("b").inputs["x2"] == Const(3)
    again = mp.load_graph(mp.save_graph(spec, tmp_path / "g.yaml"))
    assert again.inputs == {"a.x1": None, "a.x2": {"default": 5}}
    assert mp.Session(again, registry=registry).run({"a.x1": 1}).outputs == {"y": 18}
