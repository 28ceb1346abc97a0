"""`modulespack check`: OK lines, every problem on its own line, no tracebacks."""
from __future__ import annotations

from cli_helpers import ARITH, EXAMPLES, NESTED, run, write_graph


def test_check_ok(capsys):
    code, out, err = run(capsys, "check", ARITH, NESTED)
    assert code == 0
    assert f"OK {ARITH} (4 nodes)" in out
    assert f"OK {NESTED} (3 nodes" in out


def test_check_folder(capsys):
    code, out, _ = run(capsys, "check", EXAMPLES / "graphs")
    assert code == 0 and "arith.yaml" in out and "nested_demo.yaml" in out


def test_check_reports_every_problem_without_traceback(capsys, tmp_path):
    unknown = write_graph(tmp_path / "unknown.yaml", """\
        module_paths: [{modules}]
        inputs: {a: float}
        nodes:
          - name: first
            module: NoSuchModule
            inputs: {x: $a}
        """)
    cycle = write_graph(tmp_path / "cycle.yaml", """\
        module_paths: [{modules}]
        nodes:
          - name: s1
            module: Scale
            inputs: {x: s2/y}
          - name: s2
            module: Scale
            inputs: {x: s1/y}
        """)
    unconnected = write_graph(tmp_path / "unconnected.yaml", """\
        module_paths: [{modules}]
        inputs: {a: float}
        nodes:
          - name: adder
            module: Add
            inputs: {a: $a}
        """)
    code, out, err = run(capsys, "check", unknown, cycle, unconnected, ARITH)
    assert code == 1
    text = out + err
    assert "Traceback" not in text
    assert "node 'first'" in out and "unknown module 'NoSuchModule'" in out
    assert "cycle: s1 -> s2 -> s1" in out or "cycle: s2 -> s1 -> s2" in out
    assert "node 'adder': port 'b'" in out and "not connected" in out
    assert f"OK {ARITH}" in out
    # one problem per line, each naming its file
    problem_lines = [line for line in out.splitlines() if not line.startswith("OK ")]
    assert len(problem_lines) == 3
    assert all(str(tmp_path) in line for line in problem_lines)

    code, out, _ = run(capsys, "check", unconnected)
    assert code == 1


def test_check_yaml_syntax_error_names_the_line(capsys, tmp_path):
    bad = tmp_path / "syntax.yaml"
    bad.write_text("name: x\nnodes:\n  - name: a\n    module: Add\n   inputs: {a: 1\n  - name: b\n")
    code, out, err = run(capsys, "check", bad)
    assert code == 1
    assert "Traceback" not in out + err
    assert "invalid YAML" in out
    assert f"{bad}:5:" in out


def test_check_missing_file(capsys, tmp_path):
    code, out, err = run(capsys, "check", tmp_path / "nope.yaml")
    assert code == 1 and "nope.yaml" in out and "Traceback" not in out + err
