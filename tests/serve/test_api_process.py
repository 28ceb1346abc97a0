"""executor="process": worker processes build their own Sessions from the graph files."""
from __future__ import annotations

import time

from fastapi.testclient import TestClient

from modulespack.serve import create_app


def test_process_executor(graph_dir):
    app = create_app([graph_dir / "arith.yaml", graph_dir / "boom.yaml", graph_dir / "slow.yaml"],
                     executor={"arith": "process", "boom": "process", "slow": "process"},
                     concurrency=2, timeout_s=0.8)
    with TestClient(app) as c:
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, c.get("/readyz").text
            time.sleep(0.1)
        r = c.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"] == {"result": 1.0, "doubled": 6.0}
        assert set(r.json()["timings_ms"]) == {"sum", "triple", "double", "minus"}

        r = c.post("/graphs/boom/run", json={"inputs": {"x": 1}})
        assert r.status_code == 500 and r.json()["node"] == "kaboom" and "ZeroDivisionError" in r.json()["error"]
        r = c.post("/graphs/arith/run", json={"inputs": {"a": 1}})
        assert r.status_code == 422 and r.json()["port"] == "b"

        r = c.post("/graphs/slow/run", json={"inputs": {"x": 1}})
        assert r.status_code == 504 and r.json()["node"] == "slow" and r.json()["node_state"] == "running"
        # the other worker still answers
        assert c.post("/graphs/arith/run", json={"inputs": {"a": 2, "b": 2}}).json()["outputs"]["doubled"] == 8.0


def test_executor_for_an_unknown_graph_is_a_startup_error(graph_dir):
    import pytest

    from modulespack.serve import GraphLoadError
    with pytest.raises(GraphLoadError, match="executor is set for graph 'nope'"):
        create_app(graph_dir / "arith.yaml", executor={"nope": "process"})


def test_cli_options(graph_dir, monkeypatch):
    import argparse

    from modulespack.serve.cli import add_parser, options_from_args
    sub = argparse.ArgumentParser().add_subparsers()
    p = add_parser(sub)
    monkeypatch.setenv("MODULESPACK_API_KEY", "a, b")
    opts = options_from_args(p.parse_args([str(graph_dir), "--process-graph", "slow", "--cors", "http://x",
                                           "--timeout", "5", "--max-upload-mb", "2"]))
    assert opts["executor"] == {"slow": "process"} and opts["api_keys"] == ["a", "b"]
    assert opts["cors_origins"] == ["http://x"] and opts["timeout_s"] == 5 and opts["max_upload_mb"] == 2
    assert p.get_default("func").__name__ == "cmd_serve"
