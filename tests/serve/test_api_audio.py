"""Audio through the web app: WAV in as upload, base64 JSON or a bare body; WAV or JSON out,
at the rate the graph gives it."""
from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from modulespack.serve import create_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


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


def test_resynth_style_output_takes_the_input_rate(graph_client, sine_wav, read_wav):
    c = graph_client("passthrough", """
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: g, module: Gain, params: {gain: 1.0}, inputs: {wav: $wav, sr: $sr}}
        outputs: {wav: g/wav}
    """)
    assert c.get("/graphs").json()[0]["outputs"]["wav"]["kind"] == "audio"
    wav, x = sine_wav(0.1, sr=22050)
    r = c.post("/graphs/passthrough/run", files={"wav": ("a.wav", wav)}, headers={"Accept": "audio/wav"})
    y, sr = read_wav(r.content)
    assert sr == 22050 and np.allclose(y, x, atol=2e-4)


def test_output_rate_comes_from_upstream_when_the_graph_resamples(graph_client, sine_wav, read_wav):
    c = graph_client("halve", """
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: int
        nodes:
          - {name: decimate, module: Decimate, inputs: {wav: $wav, sr: $sr}}
          - {name: invert, module: Invert, inputs: {wav: decimate/wav}}
        outputs: {wav: invert/wav}
    """)
    assert c.get("/graphs").json()[0]["outputs"]["wav"]["sample_rate_from"] == "decimate/sr"
    wav, x = sine_wav(0.1, sr=16000, freq=200)
    r = c.post("/graphs/halve/run", files={"wav": ("a.wav", wav)})
    out = r.json()["outputs"]
    assert list(out) == ["wav"] and out["wav"]["sr"] == 8000
    y, sr = read_wav(base64.b64decode(out["wav"]["wav_base64"]))
    assert sr == 8000 and np.allclose(y, -x[::2], atol=2e-4)


def test_an_untyped_audio_named_output_holding_samples_is_audio(graph_client, read_wav):
    c = graph_client("untyped", """
        module_paths: [modules]
        inputs: {n: int, sr: int}
        nodes:
          - {name: u, module: Untyped, inputs: {n: $n, sr: $sr}}
        outputs: {wav: u/wav, sr: u/sr}
    """)
    assert c.get("/graphs").json()[0]["outputs"]["wav"]["kind"] == "audio"
    r = c.post("/graphs/untyped/run", json={"n": 800, "sr": 8000}, headers={"Accept": "audio/wav"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav", r.text
    y, sr = read_wav(r.content)
    assert sr == 8000 and r.headers["x-sample-rate"] == "8000"
    assert np.allclose(y, np.linspace(-0.5, 0.5, 800), atol=1e-4)
    out = c.post("/graphs/untyped/run", json={"n": 800, "sr": 8000}).json()["outputs"]
    assert list(out) == ["wav"] and out["wav"]["sr"] == 8000 and out["wav"]["seconds"] == 0.1
    # the same output holding no samples is what it holds
    r = c.post("/graphs/untyped/run", json={"n": 0, "sr": 8000})
    assert r.status_code == 200 and r.json()["outputs"] == {"wav": "no samples"}, r.text
    r = c.post("/graphs/untyped/run", json={"n": 0, "sr": 8000}, headers={"Accept": "audio/wav"})
    assert r.status_code == 406 and r.json()["kind"] == "not-acceptable", r.text
    r = c.post("/graphs/untyped/run", json={"n": 0, "sr": 8000},
               headers={"Accept": "audio/wav, application/json;q=0.5"})
    assert r.status_code == 200 and r.json()["outputs"]["wav"] == "no samples"


def test_example_tts_returns_wav(read_wav):
    tts = EXAMPLES / "tts.yaml"
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
