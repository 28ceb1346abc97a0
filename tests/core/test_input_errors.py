"""A module refusing its input values: NodeInputError naming the graph inputs the value came from."""
from __future__ import annotations

import pickle

import pytest

import modulespack as mp

MODES = [False, True, "auto"]


@pytest.fixture
def graph(write):
    # refuse.x <- pass/y <- pair(a=$text, b=$voice); refuse.other <- $speed; `unused` feeds nobody
    return write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {text: any, voice: any, speed: any, unused: {dtype: any, default: 0}}
        nodes:
          - {name: pair, module: Pair, inputs: {a: $text, b: $voice}}
          - {name: pass, module: Record, inputs: {x: pair/y}}
          - {name: refuse, module: Refuse, params: {port: other}, inputs: {x: $speed, other: pass/y}}
        outputs: {y: refuse/y}
        """)


@pytest.mark.parametrize("parallel", MODES)
def test_the_port_is_traced_back_through_edges_to_graph_inputs(graph, parallel):
    s = mp.Session(graph, parallel=parallel)
    with pytest.raises(mp.NodeInputError) as ei:
        s.run({"text": "t", "voice": "v", "speed": -1})
    e = ei.value
    assert (e.node, e.module, e.port, e.inputs) == ("refuse", "Refuse", "other", ("text", "voice"))
    assert isinstance(e, mp.NodeError) and isinstance(e.cause, mp.InputError)
    assert str(e).startswith("graph inputs 'text', 'voice': x must not be negative, got -1 "
                             "(node 'refuse', port 'other')")


@pytest.mark.parametrize("port, inputs", [("x", ("speed",)), ("", ("text", "voice", "speed")),
                                          ("nonesuch", ("text", "voice", "speed"))])
def test_a_direct_input_and_no_port_or_an_unknown_one(write, port, inputs):
    p = write("g.yaml", f"""
        module_paths: ["{{lib}}"]
        inputs: {{text: any, voice: any, speed: any}}
        nodes:
          - {{name: pair, module: Pair, inputs: {{a: $text, b: $voice}}}}
          - {{name: refuse, module: Refuse, params: {{port: "{port}"}}, inputs: {{x: $speed, other: pair/y}}}}
        """)
    with pytest.raises(mp.NodeInputError) as ei:
        mp.Session(p).run({"text": "t", "voice": "v", "speed": -1})
    assert ei.value.inputs == inputs and ei.value.port == (port or None)


def test_a_constant_is_no_graph_input(write):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {text: any}
        nodes:
          - {name: refuse, module: Refuse, params: {port: x}, inputs: {x: {value: -5}, other: $text}}
        """)
    with pytest.raises(mp.NodeInputError) as ei:
        mp.Session(p).run({"text": "t"})
    assert ei.value.inputs == () and ei.value.port == "x"
    assert str(ei.value).startswith("node 'refuse' (Refuse): x must not be negative")


@pytest.mark.parametrize("parallel", MODES)
def test_nested_graph_inputs_are_traced_on_to_the_outer_graph(write, parallel):
    write("inner.yaml", """
        module_paths: ["{lib}"]
        inputs: {n: any, label: any}
        nodes:
          - {name: check, module: Refuse, params: {port: x}, inputs: {x: $n, other: $label}}
        outputs: {y: check/y}
        """)
    write("middle.yaml", """
        module_paths: ["{lib}"]
        inputs: {m: any, tag: any}
        nodes:
          - {name: deep, graph: inner.yaml, inputs: {n: $m, label: $tag}}
        outputs: {y: deep/y}
        """)
    p = write("outer.yaml", """
        module_paths: ["{lib}"]
        inputs: {count: any, name: any}
        nodes:
          - {name: inc, module: Record, inputs: {x: $count}}
          - {name: sub, graph: middle.yaml, inputs: {m: inc/y, tag: $name}}
        outputs: {y: sub/y}
        """)
    with pytest.raises(mp.NodeInputError) as ei:
        mp.Session(p, parallel=parallel).run({"count": -3, "name": "n"})
    e = ei.value
    assert e.path == ["sub", "deep", "check"] and e.port == "x" and e.inputs == ("count",)
    assert "graph input 'count': x must not be negative, got -3 (node 'sub > deep > check', port 'x')" == str(e)
    again = pickle.loads(pickle.dumps(e))
    assert (type(again), again.inputs, again.port, str(again)) == (mp.NodeInputError, ("count",), "x", str(e))


def test_other_exceptions_stay_node_errors(write):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: kaboom, module: Boom, inputs: {x: $x}}
        """)
    with pytest.raises(mp.NodeError) as ei:
        mp.Session(p).run({"x": 1})
    assert type(ei.value) is mp.NodeError
