"""Building the web app: bad graphs stop start-up with the report, which graphs are served,
and `modulespack serve --check`."""
from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modulespack.serve import GraphLoadError, create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


def test_bad_graph_stops_startup_with_the_report(tmp_path, graph_dir):
    (tmp_path / "good.yaml").write_text((graph_dir / "arith.yaml").read_text())
    (tmp_path / "bad.yaml").write_text("nodes:\n  - {name: a, module: NoSuchModule}\n  - {name: a, module: Add}\n")
    with pytest.raises(GraphLoadError) as ei:
        create_app(tmp_path)
    msg = str(ei.value)
    assert "bad.yaml" in msg and "NoSuchModule" in msg
    assert {p.kind for p in ei.value.problems} >= {"unknown-module", "duplicate"}
    (tmp_path / "bad.yaml").unlink()
    (tmp_path / "good.json").write_text("{}")
    with pytest.raises(GraphLoadError, match="two graphs would be served as 'good'"):
        create_app(tmp_path)
    with pytest.raises(GraphLoadError, match="no such file"):
        create_app(tmp_path / "missing")


def test_the_start_up_report_is_a_graph_error_built_as_one():
    import pickle

    from modulespack.core import GraphError, Problem
    e = GraphLoadError([Problem("no such file or folder", file="a.yaml", kind="file"),
                        Problem("bad", file="b.yaml", node="n")])
    assert isinstance(e, GraphError) and e.kinds() == {"file", "invalid"}
    assert str(e).startswith("cannot serve: 2 problems in 2 graph files:\n  - a.yaml: no such file")
    again = pickle.loads(pickle.dumps(e))                  # as it crosses a process boundary
    assert type(again) is GraphLoadError and str(again) == str(e) and again.problems == e.problems
    assert str(GraphError([Problem("x")], "cannot do it")).startswith("cannot do it:\n  - <graph>: x")


def test_subgraph_parts_are_not_top_level(graph_dir):
    app = create_app(EXAMPLES / "nested_demo.yaml")
    assert [g["name"] for g in TestClient(app).get("/graphs").json()] == ["nested_demo"]


def test_examples_folder_loads_every_graph():
    files = sorted(p.stem for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    try:
        app = create_app(EXAMPLES)
    except GraphLoadError as e:
        pytest.fail(f"examples/graphs does not load:\n{e}")
    assert sorted(app.state.modulespack.graphs) == files


def test_cli_serve_parser_and_check(graph_dir, tmp_path, capsys):
    from modulespack.cli import main
    assert main(["serve", "--check", str(graph_dir / "arith.yaml")]) == 0
    assert "arith" in capsys.readouterr().out
    (tmp_path / "bad.yaml").write_text("nodes: [{name: a, module: Nope}]\n")
    assert main(["serve", "--check", str(tmp_path / "bad.yaml")]) == 1
    assert "Nope" in capsys.readouterr().err


BAD_SETUP = """
from modulespack import Module, Port

class Bad(Module):
    outputs = {"y": Port("float")}

    def setup(self):
        raise OSError("no model file at /nowhere/model.bin")

    def run(self):
        return {"y": 1.0}
"""


def _serve_cli(*args: str) -> "subprocess.CompletedProcess":
    import subprocess
    import sys
    # bounded: before the fix `serve` listened forever (the time-out kills it and fails the test)
    return subprocess.run([sys.executable, "-m", "modulespack.cli", "serve", *args, "--log-level", "warning"],
                          capture_output=True, text=True, timeout=120)


def _bad_graph(tmp_path, graph_dir) -> Path:
    (tmp_path / "bad_mod.py").write_text(BAD_SETUP)
    (tmp_path / "broken.yaml").write_text("module_paths: [.]\nnodes: [{name: m, module: Bad}]\noutputs: {y: m/y}\n")
    (tmp_path / "arith.yaml").write_text((graph_dir / "arith.yaml").read_text())
    return tmp_path


def test_check_sets_every_module_up_and_names_the_graph_that_cannot_run(tmp_path, graph_dir):
    d = _bad_graph(tmp_path, graph_dir)
    r = _serve_cli("--check", str(d))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "graph 'broken'" in r.stderr and "no model file" in r.stderr and "arith" not in r.stderr
    r = _serve_cli("--check", str(d / "arith.yaml"))
    assert r.returncode == 0 and r.stdout.startswith("ok: 1 graph(s): arith"), r.stdout + r.stderr


def test_serve_stops_start_up_when_a_module_cannot_be_set_up(tmp_path, graph_dir):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    d = _bad_graph(tmp_path, graph_dir)
    r = _serve_cli(str(d), "--port", str(port), "--engine", "local", "--engine-workers", "1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "graph 'broken'" in r.stderr and "no model file" in r.stderr and "serving" not in r.stderr


def test_engines_started_before_the_server_are_not_built_again(graph_dir):
    app = create_app(graph_dir / "arith.yaml")
    state = app.state.modulespack
    assert state.start_engines(60) == ({}, {})
    session = state.graphs["arith"].engine.session
    with TestClient(app) as c:  # the lifespan finds it started
        assert c.post("/graphs/arith/run", json={"a": 1, "b": 2}).json()["outputs"]["doubled"] == 6.0
        assert state.graphs["arith"].engine.session is session
