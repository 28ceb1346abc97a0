"""The web app's error answers: 422 naming the port (decoding, a module refusing its input,
non-finite JSON numbers, missing inputs, unknown keys), 404 for unknown graphs, 415 for unknown
bodies, 500 naming the node (traceback only in debug), 504 naming the running node."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

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


@pytest.mark.parametrize("inputs, port", [
    ({"m": [[1e300, 0, 0]]}, "m"),                # a finite number beyond float32: it would become inf
    ({"m": [[0, -1e39, 0]]}, "m"),
    ({"scale": 1e300}, "scale"),                  # a float32 scalar
])
def test_422_numbers_out_of_a_float_dtypes_range(client, inputs, port):
    base = {"text": "x", "n": 1, "flag": True, "m": [[1, 2, 3]], "v": [1], "anything": None}
    r = client.post("/graphs/kinds/run", json={"inputs": {**base, **inputs}})
    assert r.status_code == 422 and r.json()["port"] == port, r.text
    assert f"input '{port}': value out of range for float32 (-3.402823e+38 .. 3.402823e+38)" in r.json()["error"]
    assert "NaN" not in r.json()["error"]
    r = client.post("/graphs/kinds/run", json={"inputs": {**base, "m": [[3e38, -3e38, 0]], "scale": 1}})
    assert r.status_code == 200, r.text


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


# ---------------------------------------------------------------------------- the client's mistakes


TTS = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "tts.yaml"


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
def test_a_module_refusing_its_input_is_422_naming_the_graph_input(graph_dir):
    c = TestClient(create_app([TTS, graph_dir / "boom.yaml"]))
    r = c.post("/graphs/tts/run", json={"text": "   "})
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["kind"] == "input" and body["port"] == "text" and body["inputs"] == ["text"]
    assert body["node"] == "flite" and body["node_port"] == "text" and "empty text" in body["error"]
    r = c.post("/graphs/tts/run", json={"text": "hello", "voice": "nobody"})
    assert r.status_code == 422 and r.json()["port"] == "voice" and "nobody" in r.json()["error"], r.text
    assert c.post("/graphs/boom/run", json={"x": 1}).status_code == 500       # a module's own fault
    metrics = c.get("/metrics").text                                         # alerts can tell them apart
    assert 'modulespack_errors_total{graph="tts",kind="input",status="422"} 2.0' in metrics
    assert 'modulespack_errors_total{graph="boom",kind="node",status="500"} 1.0' in metrics


@pytest.mark.parametrize("body, port", [
    ('{"inputs": {"a": NaN, "b": 1}}', "a"),
    ('{"inputs": {"a": 1, "b": Infinity}}', "b"),
    ('{"a": -Infinity, "b": 1}', "a"),
    ('{"a": 1, "b": 1e999}', "b"),                         # overflows to inf
    ('{"a": 1, "b": -2E+400}', "b"),
])
def test_non_finite_json_numbers_are_422_naming_the_input(client, body, port):
    r = client.post("/graphs/arith/run", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["port"] == port and "not a finite number" in r.json()["error"]


def test_non_finite_numbers_anywhere_are_422(client):
    base = {"text": "x", "n": 1, "flag": True, "m": [[1, 2, 3]], "v": [1], "anything": 0}
    for key, value in (("m", "[[1, NaN, 3]]"), ("anything", '{"deep": [1, Infinity]}')):
        body = json.dumps({k: v for k, v in base.items() if k != key})[:-1] + f', "{key}": {value}}}'
        r = client.post("/graphs/kinds/run", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["port"] == key, r.text
    for query in ("a=nan&b=1", "a=1&b=-inf", "a=1e999&b=1"):                  # form fields and the query
        r = client.post("/graphs/arith/run?" + query)
        assert r.status_code == 422 and "finite" in r.json()["error"], r.text
    r = client.post("/graphs/arith/run", files={"inputs": (None, '{"a": NaN, "b": 1}')})
    assert r.status_code == 422 and r.json()["port"] == "a", r.text
    assert client.post("/graphs/arith/run", json={"a": 1e300, "b": -1e-300}).status_code == 200


def test_a_missing_audio_input_asks_for_a_wav(client):
    for kw in ({"json": {}}, {"files": {"fetch": (None, "wav")}}, {"data": {}}):
        r = client.post("/graphs/gain/run", **kw)
        assert r.status_code == 422, r.text
        assert r.json()["error"] == "upload a WAV for 'wav'" and r.json()["port"] == "wav"  # never the hidden 'sr'
    r = client.post("/graphs/gain/run", json={"wav": [0.1, 0.2]})                            # samples, no rate
    assert r.status_code == 422 and r.json()["port"] == "sr", r.text
    assert "missing input 'sr' (the sample rate of 'wav')" in r.json()["error"]
    r = client.post("/graphs/arith/run", json={"a": 1, "fetch": ["sum/y"]})                   # only what is fetched
    assert r.status_code == 422 and r.json()["error"] == "missing input 'b'", r.text
    r = client.post("/graphs/boom/run", json={"fetch": []})
    assert r.status_code == 422 and r.json()["port"] == "x"


def test_an_unknown_top_level_key_is_named_with_what_is_allowed(client):
    r = client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}, "params": {}})
    assert r.status_code == 422 and r.json()["port"] == "params", r.text
    assert "unknown top-level key 'params'" in r.json()["error"] and "'inputs' and 'fetch'" in r.json()["error"]
    r = client.post("/graphs/arith/run", json={"input": {"a": 1, "b": 2}})                    # a flat body, a typo
    assert r.status_code == 422 and r.json()["port"] == "input", r.text
    assert "unknown top-level key 'input'" in r.json()["error"] and "inputs 'a', 'b' and 'fetch'" in r.json()["error"]
    r = client.post("/graphs/arith/run", json={"inputs": [1, 2]})
    assert r.status_code == 422 and r.json()["port"] == "inputs", r.text
