"""The web app's read-only routes through Starlette's TestClient: graph listing and spec, diagram,
health, readiness, metrics, the page and the OpenAPI schema."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modulespack.serve import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


def test_graphs_listing_has_kinds_and_folds_sample_rates(client):
    r = client.get("/graphs")
    assert r.status_code == 200
    graphs = {g["name"]: g for g in r.json()}
    assert set(graphs) == {"arith", "boom", "gain", "kinds", "slow"}
    gain = graphs["gain"]
    assert gain["description"].startswith("wav, sr -> gain")
    assert list(gain["inputs"]) == ["wav"]                      # sr is filled from the WAV
    assert gain["inputs"]["wav"]["kind"] == "audio"
    assert gain["inputs"]["wav"]["sample_rate_input"] == "sr"
    assert gain["inputs"]["wav"]["doc"] == "mono audio"
    assert list(gain["outputs"]) == ["wav"]
    assert gain["outputs"]["wav"]["kind"] == "audio"
    kinds = {k: v["kind"] for k, v in graphs["kinds"]["inputs"].items()}
    assert kinds == {"text": "text", "n": "integer", "flag": "boolean", "m": "array", "v": "array",
                     "anything": "any", "scale": "number"}
    assert graphs["kinds"]["inputs"]["m"]["shape"] == [None, 3]
    assert graphs["kinds"]["inputs"]["scale"]["required"] is False
    assert graphs["kinds"]["inputs"]["scale"]["default"] == 2.0
    assert graphs["arith"]["inputs"]["a"] == {"kind": "number", "dtype": "float", "shape": [], "doc": "",
                                              "required": True}


def test_graph_spec(client):
    r = client.get("/graphs/arith")
    assert r.status_code == 200
    spec = r.json()
    assert spec["name"] == "arith"
    assert [n["name"] for n in spec["nodes"]] == ["sum", "triple", "double", "minus"]
    assert client.get("/graphs/nope").status_code == 404


def test_diagram_svg_with_timings(client):
    if shutil.which("dot") is None:
        pytest.skip("graphviz 'dot' is not installed")
    r = client.get("/graphs/arith/diagram")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in r.content
    r = client.get("/graphs/arith/diagram", params={"timings": json.dumps({"sum": 12.5})})
    assert r.status_code == 200 and b"12.50 ms" in r.content
    r = client.get("/graphs/arith/diagram", params={"timings": "{not json"})
    assert r.status_code == 422 and r.json()["port"] == "timings"
    assert client.get("/graphs/arith/diagram", params={"format": "dot"}).text.startswith("digraph")
    assert client.get("/graphs/nope/diagram").status_code == 404


def test_health_ready_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
    client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
    client.post("/graphs/arith/run", json={"inputs": {"a": "x", "b": 2}})
    text = client.get("/metrics").text
    assert 'modulespack_requests_total{graph="arith",status="200"}' in text
    assert 'modulespack_requests_total{graph="arith",status="422"}' in text
    assert 'modulespack_errors_total{graph="arith",kind="input",status="422"}' in text
    assert 'modulespack_request_seconds_bucket{graph="arith"' in text
    assert 'modulespack_node_seconds_count{graph="arith",node="minus"}' in text


def test_metrics_registries_are_per_app(graph_dir):
    a = create_app(graph_dir / "arith.yaml")
    b = create_app(graph_dir / "arith.yaml")
    TestClient(a).post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 1}})
    assert 'status="200"} 1.0' in TestClient(a).get("/metrics").text
    assert 'status="200"}' not in TestClient(b).get("/metrics").text


def test_page_and_static(client):
    r = client.get("/")
    assert r.status_code == 200 and "html" in r.headers["content-type"]
    if (EXAMPLES.parents[1] / "modulespack" / "serve" / "static" / "app.js").exists():
        assert client.get("/static/app.js").status_code == 200


def test_openapi_has_a_form_per_graph(client):
    s = client.get("/openapi.json").json()
    op = s["paths"]["/graphs/gain/run"]["post"]
    content = op["requestBody"]["content"]
    assert list(content)[0] == "multipart/form-data"           # the file upload form first for audio graphs
    assert content["multipart/form-data"]["schema"]["properties"]["wav"]["format"] == "binary"
    assert content["application/json"]["schema"]["$ref"].endswith("/GainRunRequest")
    assert "audio/wav" in op["responses"]["200"]["content"]
    schemas = s["components"]["schemas"]
    assert set(schemas["ArithInputs"]["properties"]) == {"a", "b"}
    assert schemas["ArithInputs"]["properties"]["a"]["type"] == "number"
    assert schemas["KindsInputs"]["properties"]["m"]["type"] == "array"
    assert "/graphs/{name}/run" in s["paths"]
    assert client.get("/docs").status_code == 200
