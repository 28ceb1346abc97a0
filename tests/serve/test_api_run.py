"""Running graphs through the web app: JSON, flat JSON, query, urlencoded and multipart inputs,
fetches, every port kind decoded and encoded, concurrent requests."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor


def test_run_json(client):
    r = client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outputs"] == {"result": 1.0, "doubled": 6.0}
    assert set(body["timings_ms"]) == {"sum", "triple", "double", "minus"}
    assert body["seconds"] >= 0
    assert set(json.loads(r.headers["x-timings"])) == set(body["timings_ms"])
    assert "dur=" in r.headers["server-timing"]


def test_run_flat_json_fetch_and_forms(client):
    r = client.post("/graphs/arith/run?fetch=sum/y", json={"a": 1, "b": 2})
    assert r.json()["outputs"] == {"sum/y": 3.0}
    r = client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}, "fetch": ["doubled", "triple/y"]})
    assert r.json()["outputs"] == {"doubled": 6.0, "triple/y": 9.0}
    assert set(r.json()["timings_ms"]) == {"sum", "double", "triple"}
    r = client.post("/graphs/arith/run", data={"a": "1.5", "b": "2", "fetch": "result"})        # urlencoded
    assert r.json()["outputs"] == {"result": 2.5}
    r = client.post("/graphs/arith/run", files={"a": (None, "1"), "b": (None, "2")})             # multipart
    assert r.json()["outputs"]["result"] == 1.0
    r = client.post("/graphs/arith/run?a=2&b=3")                                                 # query only
    assert r.json()["outputs"]["doubled"] == 10.0


def test_run_kinds_decode_and_encode(client):
    r = client.post("/graphs/kinds/run", json={"inputs": {
        "text": "hi", "n": 3, "flag": True, "m": [[1, 2, 3], [4, 5, 6]], "v": [1, -2], "anything": {"k": [1]}}})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out == {"text": "HI", "n": 6, "flag": False, "m": [[2, 4, 6], [8, 10, 12]], "v": [1, -2],
                   "anything": {"k": [1]}}
    r = client.post("/graphs/kinds/run", files={"text": (None, "a b"), "n": (None, "4"), "flag": (None, "false"),
                                                "m": (None, "[[0, 0, 1]]"), "v": (None, "[7]"),
                                                "anything": (None, "plain words"), "scale": (None, "3")})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"]["m"] == [[0, 0, 3]] and r.json()["outputs"]["anything"] == "plain words"


def test_concurrent_requests_get_their_own_answers(client):
    def call(i):
        r = client.post("/graphs/arith/run", json={"inputs": {"a": i, "b": 0.5}})
        return i, r.json()["outputs"]

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(call, range(32)))
    for i, out in results:
        assert out == {"result": (i + 0.5) * 3 - 8, "doubled": (i + 0.5) * 2}
