"""Build-time validation: one test per kind of problem, and all problems reported at once."""
from __future__ import annotations

import pytest

import modulespack as mp


def only(problems, kind):
    found = [p for p in problems if p.kind == kind]
    assert found, f"no {kind} problem in {[str(p) for p in problems]}"
    return found


def test_unknown_module_names_node_file_and_line(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - name: a
            module: Inc
            inputs: {x: $x}
          - name: b
            module: Incc
            inputs: {x: a/y}
        """)
    (pr,) = only(problems_of(p), "unknown-module")
    assert pr.node == "b" and pr.file == str(p) and pr.line == 8
    assert "Incc" in pr.message and "did you mean Inc" in pr.message
    assert str(p) + ":8" in str(pr)


def test_unknown_input_port_and_unknown_output_port(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x, w: $x}}
          - {name: b, module: Inc, inputs: {x: a/z}}
        """)
    probs = only(problems_of(p), "unknown-port")
    assert {(q.node, q.port) for q in probs} == {("a", "w"), ("b", "x")}
    assert any("has no output 'z'" in q.message for q in probs)


def test_cycle_is_printed(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        nodes:
          - {name: a, module: Inc, inputs: {x: c/y}}
          - {name: b, module: Inc, inputs: {x: a/y}}
          - {name: c, module: Inc, inputs: {x: b/y}}
        """)
    (pr,) = only(problems_of(p), "cycle")
    path = pr.message.split("cycle: ")[1].split(" -> ")
    assert path[0] == path[-1] and set(path) == {"a", "b", "c"}
    # each step of the printed cycle is a real edge in data-flow order
    edges = {("c", "a"), ("a", "b"), ("b", "c")}
    assert all((u, v) in edges for u, v in zip(path, path[1:]))


def test_unconnected_required_input_but_optional_may_stay_open(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc}
          - {name: b, module: AddK, inputs: {x: $x}}
        """)
    (pr,) = only(problems_of(p), "unconnected")
    assert (pr.node, pr.port) == ("a", "x")


def test_dangling_edge_and_output(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: ghost/y}}
        outputs: {out: nowhere/y}
        """)
    probs = only(problems_of(p), "dangling")
    assert {q.node for q in probs} == {"a", None}
    assert any("ghost" in q.message for q in probs) and any("nowhere" in q.message for q in probs)


def test_dtype_mismatch(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}}
          - {name: t, module: Text, inputs: {text: a/y}}
        """)
    (pr,) = only(problems_of(p), "dtype")
    assert (pr.node, pr.port) == ("t", "text") and "int flows into str" in pr.message


def test_rank_mismatch(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {wav: {dtype: float32, shape: [null]}}
        nodes:
          - {name: m, module: Mel, inputs: {wav: $wav}}
          - {name: l, module: Liar, inputs: {x: m/mel}}
          - {name: again, module: Mel, inputs: {wav: m/mel}}
        """)
    (pr,) = only(problems_of(p), "rank")
    assert (pr.node, pr.port) == ("again", "wav")


def test_fixed_and_named_size_mismatch(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {wav: {dtype: float32, shape: [null]}}
        nodes:
          - {name: m80, module: Mel, inputs: {wav: $wav}}
          - {name: u60, module: MelUser, params: {n_mels: 60}, inputs: {mel: m80/mel}}
          - {name: u80, module: MelUser, inputs: {mel: m80/mel}}
          - {name: f, module: Fixed60, inputs: {feat: m80/mel}}
        """)
    probs = only(problems_of(p), "size")
    assert {q.node for q in probs} == {"u60", "f"}
    assert all("80 flows into 60" in q.message for q in probs)


def test_duplicate_node_names(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}}
          - {name: a, module: Inc, inputs: {x: $x}}
        """)
    (pr,) = only(problems_of(p), "duplicate")
    assert pr.node == "a" and pr.line == 6


def test_bad_parameters(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: s, module: Sleep, params: {seconds: fast, colour: red}, inputs: {x: $x}}
          - {name: n, module: NeedsModel, inputs: {x: $x}}
          - {name: k, module: AddK, params: {bias: 1.5}, inputs: {x: {value: 1}}}
        """)
    probs = only(problems_of(p), "parameter")
    msgs = {(q.node, q.message.split(":")[0]) for q in probs}
    assert ("s", "parameter 'seconds'") in msgs and ("s", "parameter 'colour'") in msgs
    assert ("n", "parameter 'path'") in msgs and ("k", "parameter 'bias'") in msgs
    assert any("expected float, got str 'fast'" in q.message for q in probs)
    assert any("unknown parameter" in q.message and "seconds" in q.message for q in probs)


def test_constant_of_wrong_type(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        nodes:
          - {name: t, module: Text, inputs: {text: {value: 12}}}
        """)
    (pr,) = only(problems_of(p), "dtype")
    assert pr.port == "text" and "expected str" in pr.message


def test_nested_graph_including_itself(write, problems_of):
    write("b.yaml", """
        inputs: {x: int}
        nodes:
          - {name: inner, graph: a.yaml, inputs: {x: $x}}
        """)
    a = write("a.yaml", """
        inputs: {x: int}
        nodes:
          - {name: outer, graph: b.yaml, inputs: {x: $x}}
        """)
    probs = problems_of(a)
    assert any(q.kind == "recursion" and "a.yaml -> b.yaml -> a.yaml" in q.message for q in probs), probs


def test_reference_errors_and_syntax(write, problems_of):
    p = write("g.yaml", """
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: notaninput}}
          - {name: b/c, module: Inc}
        """)
    probs = problems_of(p)
    assert {q.kind for q in probs} == {"reference", "syntax"}
    assert any("write {value: 'notaninput'}" in q.message for q in probs)


def test_yaml_syntax_error_and_duplicate_keys_name_the_line(write, problems_of):
    p = write("g.yaml", "nodes:\n  - name: a\n    module: [unclosed\n")
    (pr,) = problems_of(p)
    assert pr.kind == "syntax" and pr.line is not None and pr.file == str(p)
    p2 = write("h.yaml", "inputs: {x: int}\nnodes: []\ninputs: {y: int}\n")
    (pr2,) = problems_of(p2)
    assert pr2.line == 3 and "duplicate key 'inputs'" in pr2.message


def test_json_syntax_error_and_missing_file(tmp_path, problems_of):
    bad = tmp_path / "g.json"
    bad.write_text('{"nodes": [\n  {"name": "a",}\n]}')
    (pr,) = problems_of(bad)
    assert pr.line == 2 and "invalid JSON" in pr.message
    (pr,) = problems_of(tmp_path / "missing.yaml")
    assert pr.kind == "file" and "missing.yaml" in str(pr)


def test_all_problems_at_once(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Nope, inputs: {x: $x}}
          - {name: b, module: Inc}
          - {name: c, module: Text, inputs: {text: {value: 3}}}
          - {name: c, module: Inc, inputs: {x: $x}}
        """)
    kinds = {q.kind for q in problems_of(p)}
    assert {"unknown-module", "unconnected", "dtype", "duplicate"} <= kinds


def test_error_message_carries_no_traceback(write, problems_of):
    p = write("g.yaml", "nodes: 3\n")
    with pytest.raises(mp.GraphError) as ei:
        mp.build_graph(p)
    assert "Traceback" not in str(ei.value) and str(p) in str(ei.value)


def test_module_failing_in_setup_is_a_graph_error(write, tmp_path, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: m, module: NeedsModel, params: {path: does-not-exist.bin}, inputs: {x: $x}}
        """)
    with pytest.raises(mp.GraphError) as ei:
        mp.Session(p)
    (pr,) = ei.value.problems
    assert pr.kind == "setup" and pr.node == "m" and "does-not-exist.bin" in pr.message


def test_named_sizes_are_followed_through_nodes_and_across_ports(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {wav: {dtype: float32, shape: [null]}}
        nodes:
          - {name: m80, module: Mel, inputs: {wav: $wav}}
          - {name: m60, module: Mel, params: {n_mels: 60}, inputs: {wav: $wav}}
          - {name: two, module: TwoMels, inputs: {a: m80/mel, b: m60/mel}}
          - {name: through, module: PassMel, inputs: {x: m80/mel}}
          - {name: f, module: Fixed60, inputs: {feat: through/y}}
        """)
    probs = [q for q in problems_of(p) if q.kind == "size"]
    assert {(q.node, q.port) for q in probs} == {("two", "b"), ("f", "feat")}, probs
    assert any("named size 'd' is 80 from m80/mel but 60 from m60/mel" in q.message for q in probs)


def test_every_cycle_is_reported(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        nodes:
          - {name: p, module: Inc, inputs: {x: q/y}}
          - {name: q, module: Inc, inputs: {x: p/y}}
          - {name: r, module: Inc, inputs: {x: r/y}}
        """)
    cycles = sorted(q.message for q in problems_of(p) if q.kind == "cycle")
    assert len(cycles) == 2 and "r -> r" in cycles[1]


def test_lines_of_nodes_with_comments_and_a_shared_graph_name(write, tmp_path, problems_of):
    p = write("g.yaml", """
        name: first
        module_paths: ["{lib}"]
        nodes:
          - name: first   # same name as the graph
            module: Nope
        """)
    (pr,) = problems_of(p)
    assert pr.line == 5
    j = tmp_path / "g.json"
    j.write_text("{\"name\": \"a\",\n \"nodes\": [\n  {\"name\": \"a\", \"module\": \"Nope\"}\n ]}")
    (pr,) = problems_of(j)
    assert pr.line == 3


def test_json_duplicate_keys_and_duplicate_list_outputs(tmp_path, write, problems_of):
    j = tmp_path / "g.json"
    j.write_text('{"nodes": [], "nodes": []}')
    (pr,) = problems_of(j)
    assert pr.kind == "syntax" and "duplicate key 'nodes'" in pr.message
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: p, module: Inc, inputs: {x: $x}}
          - {name: q, module: Inc, inputs: {x: $x}}
        outputs: [p/y, q/y]
        """)
    (pr,) = problems_of(p)
    assert pr.kind == "duplicate" and pr.port == "y"
