"""Broken modulespack2 graph files: a GraphError that names the file and the node, never a crash."""
from __future__ import annotations

import copy
import json

import pytest

import modulespack as mp
from modulespack.compat import ModuleGraph, Session

from mp2_helpers import LOCAL_GRAPHS

RMSE = json.loads((LOCAL_GRAPHS / "RMSE_graph.json").read_text())


def write(tmp_path, data, name="bad.json"):
    p = tmp_path / name
    p.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data)
    return p


def rmse_with(change):
    data = copy.deepcopy(RMSE)
    change(data)
    return data


def load_problems(path):
    with pytest.raises(mp.GraphError) as e:
        mp.load_graph(path)
    return e.value


def build_problems(path, registry):
    with pytest.raises(mp.GraphError) as e:
        mp.build_graph(path, registry=registry)
    return e.value


def line_of(path, text):
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if text in ln)


def test_node_num_mismatch(tmp_path, mp2_modules):
    p = write(tmp_path, rmse_with(lambda d: d["version"].update(nodeNum=5)))
    err = load_problems(p)
    [prob] = err.problems
    assert prob.file == str(p) and prob.kind == "count"
    assert "nodeNum" in prob.message and "5" in prob.message and "4" in prob.message
    assert str(p) in str(err)
    # the same error through the mp2 API
    with pytest.raises(mp.GraphError, match="nodeNum"):
        ModuleGraph(JsonFile=p)
    with pytest.raises(mp.GraphError, match="nodeNum"):
        Session(ModuleLibPath=mp2_modules).build_graph(str(p))


def test_node_num_missing_or_not_a_number(tmp_path):
    p = write(tmp_path, rmse_with(lambda d: d["version"].pop("nodeNum")))
    assert "nodeNum" in load_problems(p).problems[0].message
    p = write(tmp_path, rmse_with(lambda d: d["version"].update(nodeNum="4")))
    assert "whole number" in load_problems(p).problems[0].message


def test_unknown_module(tmp_path, registry, mp2_modules):
    p = write(tmp_path, rmse_with(lambda d: d["node"][1].update(module="addd")))
    err = build_problems(p, registry)
    [prob] = err.problems
    assert (prob.file, prob.node, prob.kind) == (str(p), "secondadd", "unknown-module")
    assert "'addd'" in prob.message and str(mp2_modules) in prob.message
    assert prob.line == line_of(p, '"name": "secondadd"')
    assert f"{p}:{prob.line}: node 'secondadd'" in str(err)
    with pytest.raises(mp.GraphError, match="secondadd"):
        Session(ModuleLibPath=mp2_modules).build_graph(ModuleGraph(JsonFile=p))


def test_edge_to_a_missing_node(tmp_path, registry):
    p = write(tmp_path, rmse_with(lambda d: d["node"][2]["input"].update(x2="ghost/y")))
    err = build_problems(p, registry)
    [prob] = err.problems
    assert (prob.file, prob.node, prob.port, prob.kind) == (str(p), "multiply", "x2", "dangling")
    assert "ghost" in prob.message
    assert prob.line == line_of(p, '"name": "multiply"')


def test_edge_to_a_missing_port(tmp_path, registry):
    p = write(tmp_path, rmse_with(lambda d: d["node"][3]["input"].update(x1="multiply/z")))
    [prob] = build_problems(p, registry).problems
    assert (prob.node, prob.port, prob.kind) == ("minus", "x1", "unknown-port")


def test_missing_name_and_module(tmp_path):
    def change(d):
        del d["node"][1]["name"]
        del d["node"][2]["module"]
    p = write(tmp_path, rmse_with(change))
    err = load_problems(p)
    msgs = {(pr.node, pr.message) for pr in err.problems}
    assert all(pr.file == str(p) for pr in err.problems)
    assert any(node is None and "node #2" in m and "'add'" in m and "name" in m for node, m in msgs)
    assert any(node == "multiply" and "'module'" in m for node, m in msgs)
    assert len(err.problems) == 2          # every problem at once


def test_duplicate_node_name(tmp_path):
    p = write(tmp_path, rmse_with(lambda d: d["node"][2].update(name="secondadd")))
    [prob] = load_problems(p).problems
    assert (prob.node, prob.kind) == ("secondadd", "duplicate")


@pytest.mark.parametrize("value, words", [
    ("None", "only a node with 'startNode'"),
    ("", "only a node with 'startNode'"),
    (None, "only a node with 'startNode'"),
    ("multiply", "is not \"node/port\""),
    ("a/b/c", "more than one '/'"),
    ({"x2": 8, "x3": 9}, "one-key mapping"),
])
def test_bad_input_values(tmp_path, value, words):
    p = write(tmp_path, rmse_with(lambda d: d["node"][3]["input"].update(x2=value)))
    [prob] = load_problems(p).problems
    assert (prob.file, prob.node, prob.port, prob.kind) == (str(p), "minus", "x2", "reference")
    assert words in prob.message
    assert prob.line == line_of(p, '"name": "minus"')


def test_edge_in_a_start_node_is_reported(tmp_path):
    # mp2 gave a start node only what feed_dict held, so this edge would have been ignored
    p = write(tmp_path, rmse_with(lambda d: d["node"][0]["input"].update(x2="minus/y")))
    [prob] = load_problems(p).problems
    assert (prob.node, prob.port) == ("firstadd", "x2") and "feed_dict" in prob.message


def test_cycle(tmp_path, registry):
    p = write(tmp_path, rmse_with(lambda d: d["node"][1]["input"].update(x2="minus/y")))
    err = build_problems(p, registry)
    assert err.kinds() == {"cycle"}
    assert any(pr.file == str(p) and pr.node in {"secondadd", "multiply", "minus"} for pr in err.problems)


def test_not_a_node_list(tmp_path):
    p = write(tmp_path, {"version": {"nodeNum": 1}, "node": {"name": "a"}})
    assert "'node' must be a list" in load_problems(p).problems[0].message


def test_invalid_json_names_file_and_line(tmp_path):
    p = write(tmp_path, '{"version": {"nodeNum": 1},\n "node": [\n  {"name": "a",, }\n]}')
    [prob] = load_problems(p).problems
    assert prob.file == str(p) and prob.line == 3 and prob.kind == "syntax"


def test_several_problems_at_once(tmp_path, registry):
    def change(d):
        d["node"][1]["module"] = "nope"
        d["node"][2]["input"]["x2"] = "ghost/y"
    p = write(tmp_path, rmse_with(change))
    err = build_problems(p, registry)
    assert {(pr.node, pr.kind) for pr in err.problems} == {("secondadd", "unknown-module"), ("multiply", "dangling")}


def test_start_node_constant_becomes_a_default(tmp_path, registry):
    # an extension: mp2 ignored constants in a start node; here they are defaults for the graph input
    p = write(tmp_path, rmse_with(lambda d: d["node"][0]["input"].update(x2={"x2": 10})))
    spec = mp.load_graph(p)
    assert spec.inputs["firstadd.x2"] == {"default": 10}
    sess = mp.Session(p, registry=registry)
    assert sess.run({"firstadd.x1": 1}).outputs == {"y": 11 * 22 - 8}
    assert sess.run({"firstadd.x1": 1, "firstadd.x2": 2}).outputs == {"y": 10}
