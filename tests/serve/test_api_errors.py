"""The web app's error answers: 422 naming the port, 404 for unknown graphs, 415 for unknown
bodies, 500 naming the node (traceback only in debug), 504 naming the running node."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from modulespack.serve import create_app


@pytest.mark.parametrize("inputs, port, words", [
    ({"a": "x", "b": 2}, "a", "expected a number"),
    ({"a": 1}, "b", "missing"),
    ({"a": 1, "b": 2, "c": 3}, "c", "unknown input"),
    ({"a": True, "b": 2}, "a", "expected a number"),
])
def test_422_names_the_port(client, inputs, port, words):
    r = client.post("/graphs/arith/run", json={"inputs": inputs})
    assert r.status_code == 422
    body = r.json()
    assert body["port"] == port and words in body["error"] and body["graph"] == "arith"


@pytest.mark.parametrize("inputs, port", [
    ({"m": [[1, 2]]}, "m"),                       # wrong size in dim 1
    ({"m": [1, 2, 3]}, "m"),                      # wrong rank
    ({"m": [[1, 2, 3], [1, 2]]}, "m"),            # ragged
    ({"v": [1.5]}, "v"),                          # not an integer
    ({"v": [70000]}, "v"),                        # out of int16 range
    ({"n": 1.5}, "n"),
    ({"flag": "yes"}, "flag"),
    ({"text": 3}, "text"),
])
def test_422_array_and_scalar_types(client, inputs, port):
    base = {"text": "x", "n": 1, "flag": True, "m": [[1, 2, 3]], "v": [1], "anything": None}
    r = client.post("/graphs/kinds/run", json={"inputs": {**base, **inputs}})
    assert r.status_code == 422, r.text
    assert r.json()["port"] == port


def test_422_bad_json_and_fetch(client):
    r = client.post("/graphs/arith/run", content=b'{"inputs": {"a": 1,', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "invalid JSON" in r.json()["error"]
    r = client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}, "fetch": ["nope/y"]})
    assert r.status_code == 422 and r.json()["port"] == "nope/y"
    r = client.post("/graphs/arith/run", content=b"a=1", headers={"Content-Type": "text/plain"})
    assert r.status_code == 415


def test_404_unknown_graph(client):
    r = client.post("/graphs/nope/run", json={"inputs": {}})
    assert r.status_code == 404 and "nope" in r.json()["error"]
    assert client.post("/graphs/..%2F..%2Fetc%2Fpasswd/run", json={}).status_code == 404


def test_500_names_the_node_and_server_keeps_serving(client):
    r = client.post("/graphs/boom/run", json={"inputs": {"x": 1}})
    assert r.status_code == 500
    body = r.json()
    assert body["node"] == "kaboom" and body["module"] == "Boom" and body["graph"] == "boom"
    assert "ZeroDivisionError: cannot handle 1.0" in body["error"]
    assert "traceback" not in body
    assert client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}}).status_code == 200


def test_500_traceback_in_debug(graph_dir):
    app = create_app(graph_dir / "boom.yaml", debug=True)
    body = TestClient(app).post("/graphs/boom/run", json={"inputs": {"x": 1}}).json()
    assert "explode" in body["traceback"]


def test_504_names_the_running_node_then_serves(graph_dir):
    app = create_app([graph_dir / "slow.yaml", graph_dir / "arith.yaml"], timeout_s=0.3, concurrency=2)
    with TestClient(app) as c:
        r = c.post("/graphs/slow/run", json={"inputs": {"x": 1}})
        assert r.status_code == 504, r.text
        body = r.json()
        assert body["graph"] == "slow" and body["node"] == "slow" and "0.3 s" in body["error"]
        assert c.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}}).json()["outputs"]["result"] == 1.0
        # the slow run still holds one of the two slots; the other one is free
        r = c.post("/graphs/slow/run", json={"inputs": {"x": 1}})
        assert r.status_code == 504
        r = c.post("/graphs/slow/run", json={"inputs": {"x": 1}})
        assert r.status_code == 504 and "no free slot" in r.json()["error"]
