"""Graphs nested inside graphs, two levels deep."""
from __future__ import annotations

import pytest

import modulespack as mp


@pytest.fixture
def outer(write):
    write("inner.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: i1, module: Inc, inputs: {x: $x}}
          - {name: bad, module: Boom, inputs: {x: i1/y}}
        outputs: {y: i1/y, boom: bad/y}
        """)
    write("parts/middle.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: m1, graph: ../inner.yaml, inputs: {x: $x}}
          - {name: m2, module: Inc, inputs: {x: m1/y}}
        outputs: {y: m2/y, boom: m1/boom}
        """)
    return write("outer.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: o1, graph: parts/middle.yaml, inputs: {x: $x}}
          - {name: o2, module: Inc, inputs: {x: o1/y}}
        outputs: {y: o2/y, boom: o1/boom}
        """)


@pytest.fixture(autouse=True)
def _parts_dir(tmp_path):
    (tmp_path / "parts").mkdir()


def test_two_levels_deep(outer):
    g = mp.build_graph(outer)
    assert g.nodes["o1"].subgraph.nodes["m1"].subgraph.name == "inner"
    assert set(g.nodes["o1"].inputs) == {"x"} and set(g.nodes["o1"].outputs) == {"y", "boom"}
    s = mp.Session(g)
    # inner +1, middle +1, outer +1; the failing inner branch is not needed for y
    assert s.run({"x": 1}, fetches=["y"]).outputs == {"y": 4}


def test_error_inside_nested_graph_names_the_path(outer):
    s = mp.Session(outer)
    with pytest.raises(mp.NodeError) as ei:
        s.run({"x": 1}, fetches=["boom"])
    assert ei.value.path == ["o1", "m1", "bad"]
    assert "node 'o1 > m1 > bad' (Boom)" in str(ei.value)


def test_problem_inside_nested_graph_is_reported_by_the_outer_build(write):
    write("broken.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: z, module: Missing, inputs: {x: $x}}
        outputs: {y: z/y}
        """)
    p = write("top.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: sub, graph: broken.yaml, inputs: {x: $x}}
        """)
    with pytest.raises(mp.GraphError) as ei:
        mp.build_graph(p)
    (pr,) = ei.value.problems
    assert pr.node == "sub" and "broken.yaml" in pr.message and "Missing" in pr.message


def test_nested_ports_are_checked_on_edges(write):
    write("texty.yaml", """
        module_paths: ["{lib}"]
        inputs: {text: str}
        nodes:
          - {name: t, module: Text, inputs: {text: $text}}
        outputs: {n: t/n}
        """)
    p = write("top.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}}
          - {name: sub, graph: texty.yaml, inputs: {text: a/y}}
        """)
    with pytest.raises(mp.GraphError) as ei:
        mp.build_graph(p)
    assert [(q.node, q.port, q.kind) for q in ei.value.problems] == [("sub", "text", "dtype")]
