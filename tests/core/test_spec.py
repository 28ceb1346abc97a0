"""Graph files: JSON and YAML, node mappings, saving and loading back."""
from __future__ import annotations

import json

import modulespack as mp
from modulespack.core.spec import Const, Edge, GraphInput


def test_yaml_and_json_round_trip(write, tmp_path, lib):
    src = write("g.yaml", """
        name: demo
        description: a demo
        module_paths: ["{lib}"]
        inputs: {x: int, t: {dtype: str, doc: some text}}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}}
          - {name: k, module: AddK, params: {bias: 2}, inputs: {x: a/y, k: {value: 3}}}
          - {name: n, module: Text, inputs: {text: t}}
        outputs: {y: k/y, n: n/n}
        """)
    spec = mp.load_graph(src)
    assert spec.node("k").inputs == {"x": Edge("a", "y"), "k": Const(3)}
    assert spec.node("n").inputs == {"text": GraphInput("t")}
    expected = mp.Session(spec).run({"x": 1, "t": "hello"}).outputs
    for suffix in (".json", ".yaml"):
        out = mp.save_graph(spec, tmp_path / f"saved{suffix}")
        again = mp.load_graph(out)
        assert again.to_dict() == spec.to_dict()
        assert mp.Session(again).run({"x": 1, "t": "hello"}).outputs == expected == {"y": 7, "n": 5}
    assert json.loads((tmp_path / "saved.json").read_text())["nodes"][1]["params"] == {"bias": 2}
    assert not list(tmp_path.glob(".*.tmp"))


def test_nodes_as_mapping_and_inputs_as_list(write):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes:
          a: {module: Inc, inputs: {x: x}}
        outputs: [a/y]
        """)
    g = mp.build_graph(p)
    assert g.inputs["x"] == mp.Port("int")            # inferred from the consumer
    assert mp.Session(g).run({"x": 1}).outputs == {"y": 2}


def test_example_graph_runs():
    from pathlib import Path
    ex = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "arith.yaml"
    s = mp.Session(ex)
    assert s.run({"a": 1, "b": 2}).outputs == {"result": 1.0, "doubled": 6.0}


def test_yaml_is_read_in_one_pass_by_libyaml_keeping_lines_and_duplicate_keys(write, monkeypatch, problems_of):
    import yaml

    from modulespack.core import graph_text
    assert yaml.__with_libyaml__  # PyYAML's wheels bundle it; without it a 1,000-node file takes ~0.5 s
    assert issubclass(graph_text.YAML_LOADER, yaml.CSafeLoader)

    def second_pass(*a, **kw):
        raise AssertionError("the file was parsed twice, or by the pure-Python loader")
    monkeypatch.setattr(yaml, "compose", second_pass)
    monkeypatch.setattr(yaml, "load", second_pass)
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          # a comment
          - {name: a, module: Inc, inputs: {x: $x}}

          - name: b
            module: Inc
            inputs: {x: a/y}
        """)
    assert [n.line for n in mp.load_graph(p).nodes] == [6, 8]  # the text starts with a newline
    dup = write("dup.yaml", """
        nodes:
          - name: a
            module: Inc
            module: Dec
        """)
    (pr,) = problems_of(dup)
    assert pr.kind == "syntax" and pr.line == 5 and "duplicate key 'module' (first on line 4)" in pr.message
