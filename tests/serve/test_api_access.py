"""Who reaches the web app and where: API keys, CORS, mounting under a prefix."""
from __future__ import annotations

from fastapi.testclient import TestClient

from modulespack.serve import create_app


def test_api_keys(graph_dir):
    app = create_app(graph_dir / "arith.yaml", api_keys=["k1", "k2"])
    c = TestClient(app)
    run = {"inputs": {"a": 1, "b": 2}}
    r = c.post("/graphs/arith/run", json=run)
    assert r.status_code == 401 and "API key" in r.json()["error"]
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert c.post("/graphs/arith/run", json=run, headers={"X-API-Key": "wrong"}).status_code == 401
    assert c.post("/graphs/arith/run", json=run, headers={"X-API-Key": "k2"}).status_code == 200
    assert c.post("/graphs/arith/run", json=run, headers={"Authorization": "Bearer k1"}).status_code == 200
    assert c.post("/graphs/nope/run", json=run).status_code == 401       # no graph names without a key
    for path in ("/graphs", "/graphs/arith", "/graphs/arith/diagram", "/metrics", "/readyz"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers={"X-API-Key": "k1"}).status_code in (200, 503), path
    assert c.get("/healthz").status_code == 200
    assert c.get("/").status_code == 200
    assert c.get("/openapi.json").status_code == 401                  # the docs list every port: keyed too
    s = c.get("/openapi.json", headers={"X-API-Key": "k1"}).json()
    assert "apiKey" in s["components"]["securitySchemes"]


def test_cors_off_unless_configured(graph_dir):
    hdr = {"Origin": "https://example.org"}
    c = TestClient(create_app(graph_dir / "arith.yaml"))
    assert "access-control-allow-origin" not in c.get("/graphs", headers=hdr).headers
    c = TestClient(create_app(graph_dir / "arith.yaml", cors_origins=["https://example.org"]))
    r = c.get("/graphs", headers=hdr)
    assert r.headers["access-control-allow-origin"] == "https://example.org"
    r = c.options("/graphs/arith/run", headers={**hdr, "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "x-api-key"})
    assert r.status_code == 200


def test_mounted_under_a_prefix(graph_dir):
    from fastapi import FastAPI
    parent = FastAPI()

    @parent.get("/hello")
    def hello():
        return {"hi": 1}

    parent.mount("/speech", create_app(graph_dir / "arith.yaml"))
    c = TestClient(parent)
    assert c.get("/hello").json() == {"hi": 1}
    assert c.get("/speech/graphs").json()[0]["name"] == "arith"
    r = c.post("/speech/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
    assert r.json()["outputs"]["result"] == 1.0
    assert c.get("/speech/").status_code == 200
    assert c.get("/speech/healthz").json() == {"status": "ok"}
    assert "'/speech/openapi.json'" in c.get("/speech/docs").text
