"""The server holds an engine per graph: /readyz asks the engines' health, the listing names each
graph's engine, and a graph whose engine cannot start is 503 (the others are served)."""
from __future__ import annotations

import time

from fastapi.testclient import TestClient

from modulespack.serve import create_app

BAD_MODULE = """
from modulespack import Module, Port

class NeedsModel(Module):
    outputs = {"y": Port("float")}

    def setup(self):
        raise OSError("no model file at /nowhere/model.bin")

    def run(self):
        return {"y": 1.0}
"""


def test_a_graph_whose_engine_cannot_start_is_503_and_named_by_readyz(tmp_path, graph_dir):
    (tmp_path / "needs.py").write_text(BAD_MODULE)
    (tmp_path / "broken.yaml").write_text("module_paths: [.]\nnodes: [{name: m, module: NeedsModel}]\n"
                                          "outputs: {y: m/y}\n")
    (tmp_path / "arith.yaml").write_text((graph_dir / "arith.yaml").read_text())
    app = create_app([tmp_path / "broken.yaml", tmp_path / "arith.yaml"], api_keys=["k"])
    with TestClient(app) as c:
        key = {"X-API-Key": "k"}
        deadline = time.monotonic() + 30
        while not ((body := c.get("/readyz", headers=key).json()).get("errors") and body["graphs"]["arith"]):
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert body["status"] == "starting" and body["graphs"] == {"broken": False, "arith": True}
        assert "no model file" in body["errors"]["broken"]
        r = c.post("/graphs/broken/run", json={}, headers=key)
        assert r.status_code == 503 and r.json()["kind"] == "unavailable" and r.headers["retry-after"], r.text
        assert "no model file" in r.json()["error"]
        r = c.post("/graphs/arith/run", json={"a": 1, "b": 2}, headers=key)
        assert r.status_code == 200 and r.json()["outputs"]["doubled"] == 6.0
        engines = {g["name"]: g["engine"] for g in c.get("/graphs", headers=key).json()}
        assert engines == {"broken": "thread", "arith": "thread"}


def test_the_engines_start_again_after_a_shutdown(graph_dir):
    app = create_app(graph_dir / "arith.yaml", engine="local", engine_workers=1, timeout_s=60)
    engine = app.state.modulespack.graphs["arith"].engine
    for _ in range(2):  # two lifespans of the same app: the engine is closed, then started afresh
        with TestClient(app) as c:
            r = c.post("/graphs/arith/run", json={"a": 1, "b": 2})
            assert r.status_code == 200 and r.json()["outputs"]["doubled"] == 6.0
            assert len(engine.worker_pids()) == 1
        assert engine.worker_pids() == []


def test_the_default_wait_ready_starts_and_stops_at_an_error(graph_dir):
    """An engine without its own wait_ready (as a third-party one) still serves the CLI's start-up."""
    from modulespack.core import build_graph
    from modulespack.engines.base import Engine

    class Polled(Engine):
        kind = "polled"
        error = None
        polls = 0

        def start(self):
            self.started = True

        def ready(self):
            self.polls += 1
            return self.error is None and self.polls > 2

        def health(self):
            return {"ready": self.ready(), "error": self.error, "kind": self.kind}

        def submit(self, feeds, fetches=None, *, token=None):
            raise NotImplementedError

        def close(self):
            pass

    eng = Polled(build_graph(graph_dir / "arith.yaml"))
    assert eng.wait_ready(30) and eng.started
    eng.error = "model missing"
    assert not eng.wait_ready(30)
