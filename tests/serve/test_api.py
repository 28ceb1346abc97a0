"""The web app through Starlette's TestClient: every route and every error answer."""
from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
import textwrap
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modulespack.serve import GraphLoadError, create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


# --------------------------------------------------------------------------- listing, spec, diagram


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


# --------------------------------------------------------------------------- running


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


# --------------------------------------------------------------------------- limits


def test_413_by_content_length_and_while_reading(graph_dir):
    app = create_app(graph_dir / "gain.yaml", max_upload_mb=0.05)
    c = TestClient(app)
    big = b"x" * 60_000
    r = c.post("/graphs/gain/run", content=big, headers={"Content-Type": "audio/wav"})
    assert r.status_code == 413 and "limit" in r.json()["error"]

    def chunks():  # no Content-Length: the limit is found while reading
        for _ in range(20):
            yield b"y" * 4096
    r = c.post("/graphs/gain/run", content=chunks(), headers={"Content-Type": "audio/wav"})
    assert r.status_code == 413


def test_413_audio_too_long(graph_dir, sine_wav):
    app = create_app(graph_dir / "gain.yaml", max_audio_seconds=1)
    wav, _ = sine_wav(seconds=2.0, sr=8000)
    r = TestClient(app).post("/graphs/gain/run", files={"wav": ("long.wav", wav, "audio/wav")})
    assert r.status_code == 413
    assert "limit is 1 s" in r.json()["error"] and r.json()["port"] == "wav"


def test_415_undecodable_wav(client):
    r = client.post("/graphs/gain/run", files={"wav": ("noise.wav", b"RIFF....not a wav at all", "audio/wav")})
    assert r.status_code == 415
    body = r.json()
    assert body["port"] == "wav" and "noise.wav" in body["error"] and "WAV" in body["error"]
    r = client.post("/graphs/gain/run", json={"inputs": {"wav": {"wav_base64": "!!!"}}})
    assert r.status_code == 422 and "base64" in r.json()["error"]


def test_tempdir_empty_after_burst_of_uploads(graph_dir, tmp_path, monkeypatch, sine_wav):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    app = create_app(graph_dir / "gain.yaml", max_upload_mb=1)
    big, _ = sine_wav(seconds=20.0, sr=16000)           # 640 kB: would spool to disk in a naive server
    small, _ = sine_wav(seconds=0.2)
    uploads = [big, small, b"garbage", big + big, small, b""] * 3

    with TestClient(app) as c:
        def post(data):
            return c.post("/graphs/gain/run", files={"wav": ("u.wav", data, "audio/wav")}).status_code
        with ThreadPoolExecutor(6) as ex:
            codes = list(ex.map(post, uploads))
    assert set(codes) == {200, 413, 415}
    assert os.listdir(tmp) == []


# --------------------------------------------------------------------------- audio


def test_audio_round_trip_json_multipart_and_wav(client, sine_wav, read_wav):
    wav, x = sine_wav(seconds=0.25, sr=16000)
    r = client.post("/graphs/gain/run", files={"wav": ("sine.wav", wav, "audio/wav")})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert list(out) == ["wav"]
    assert out["wav"]["sr"] == 16000 and abs(out["wav"]["seconds"] - 0.25) < 1e-6
    y, sr = read_wav(base64.b64decode(out["wav"]["wav_base64"]))
    assert sr == 16000 and np.allclose(y, 0.5 * x, atol=2e-4)

    # JSON with base64 audio, WAV answer
    r = client.post("/graphs/gain/run", json={"inputs": {"wav": {"wav_base64": base64.b64encode(wav).decode()}}},
                    headers={"Accept": "audio/wav"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert set(json.loads(r.headers["x-timings"])) == {"gain"}
    assert r.headers["x-sample-rate"] == "16000"
    y, sr = read_wav(r.content)
    assert np.allclose(y, 0.5 * x, atol=2e-4)

    # a bare audio/wav body, 32-bit float answer
    r = client.post("/graphs/gain/run?wav_format=float", content=wav,
                    headers={"Content-Type": "audio/wav", "Accept": "audio/wav"})
    y, _ = read_wav(r.content)
    assert np.allclose(y, 0.5 * x, atol=1e-4)

    # samples as a list: then sr must be given
    r = client.post("/graphs/gain/run", json={"inputs": {"wav": [0.5, -0.5], "sr": 8000}})
    assert r.status_code == 200 and r.json()["outputs"]["wav"]["sr"] == 8000
    r = client.post("/graphs/gain/run", json={"inputs": {"wav": [0.5, -0.5]}})
    assert r.status_code == 422 and r.json()["port"] == "sr"

    # a conflicting explicit sr is refused, naming it
    r = client.post("/graphs/gain/run", files={"wav": ("sine.wav", wav, "audio/wav"), "sr": (None, "8000")})
    assert r.status_code == 422 and r.json()["port"] == "sr"


def test_accept_wav_without_an_audio_output(client):
    r = client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}}, headers={"Accept": "audio/wav"})
    assert r.status_code == 406
    r = client.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}},
                    headers={"Accept": "audio/wav, application/json;q=0.5"})
    assert r.status_code == 200 and r.json()["outputs"]["result"] == 1.0


def test_resynth_style_output_takes_the_input_rate(graph_dir, tmp_path, sine_wav, read_wav):
    (tmp_path / "modules").symlink_to(graph_dir / "modules")
    (tmp_path / "passthrough.yaml").write_text(textwrap.dedent("""
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: g, module: Gain, params: {gain: 1.0}, inputs: {wav: $wav, sr: $sr}}
        outputs: {wav: g/wav}
    """))
    app = create_app(tmp_path / "passthrough.yaml")
    c = TestClient(app)
    assert c.get("/graphs").json()[0]["outputs"]["wav"]["kind"] == "audio"
    wav, x = sine_wav(0.1, sr=22050)
    r = c.post("/graphs/passthrough/run", files={"wav": ("a.wav", wav)}, headers={"Accept": "audio/wav"})
    y, sr = read_wav(r.content)
    assert sr == 22050 and np.allclose(y, x, atol=2e-4)


def test_output_rate_comes_from_upstream_when_the_graph_resamples(graph_dir, tmp_path, sine_wav, read_wav):
    (tmp_path / "modules").symlink_to(graph_dir / "modules")
    (tmp_path / "halve.yaml").write_text(textwrap.dedent("""
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: decimate, module: Decimate, inputs: {wav: $wav, sr: $sr}}
          - {name: invert, module: Invert, inputs: {wav: decimate/wav}}
        outputs: {wav: invert/wav}
    """))
    c = TestClient(create_app(tmp_path / "halve.yaml"))
    assert c.get("/graphs").json()[0]["outputs"]["wav"]["sample_rate_from"] == "decimate/sr"
    wav, x = sine_wav(0.1, sr=16000, freq=200)
    r = c.post("/graphs/halve/run", files={"wav": ("a.wav", wav)})
    out = r.json()["outputs"]
    assert list(out) == ["wav"] and out["wav"]["sr"] == 8000
    y, sr = read_wav(base64.b64decode(out["wav"]["wav_base64"]))
    assert sr == 8000 and np.allclose(y, -x[::2], atol=2e-4)


def test_concurrent_requests_get_their_own_answers(client):
    def call(i):
        r = client.post("/graphs/arith/run", json={"inputs": {"a": i, "b": 0.5}})
        return i, r.json()["outputs"]

    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(call, range(32)))
    for i, out in results:
        assert out == {"result": (i + 0.5) * 3 - 8, "doubled": (i + 0.5) * 2}


def test_example_tts_returns_wav(read_wav):
    tts = EXAMPLES / "tts.yaml"
    if not tts.exists():
        pytest.skip("examples/graphs/tts.yaml is not there yet")
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    app = create_app(tts)
    c = TestClient(app)
    g = c.get("/graphs").json()[0]
    text_inputs = [k for k, v in g["inputs"].items() if v["kind"] == "text"]
    assert text_inputs, g["inputs"]
    r = c.post("/graphs/tts/run", json={"inputs": {text_inputs[0]: "hello world"}}, headers={"Accept": "audio/wav"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "audio/wav" and r.content[:4] == b"RIFF"
    y, sr = read_wav(r.content)
    assert len(y) > sr * 0.3


# --------------------------------------------------------------------------- auth, CORS, mounting, start-up


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
    s = c.get("/openapi.json").json()
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
