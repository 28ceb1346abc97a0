"""Multipart forms (Starlette's parser fed the size-limited body) and sample-rate filling."""
from __future__ import annotations

import base64
import json
import os
import tempfile

import numpy as np
from fastapi.testclient import TestClient

from modulespack.serve import create_app

MULTIPART_B = {"Content-Type": "multipart/form-data; boundary=B"}


def _part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disp = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return f"--B\r\nContent-Disposition: {disp}\r\n\r\n".encode() + value + b"\r\n"


def test_multipart_fields_files_inputs_json_and_fetch(client, sine_wav):
    r = client.post("/graphs/arith/run", files={"inputs": (None, json.dumps({"a": 1})), "b": (None, "2"),
                                                "fetch": (None, "result")})
    assert r.status_code == 200, r.text
    assert r.json()["outputs"] == {"result": 1.0}
    r = client.post("/graphs/kinds/run", files={"text": ("t.txt", b"hi"), "n": (None, "3"), "flag": (None, "1"),
                                                "m": (None, "[[1,2,3]]"), "v": (None, "[1, 2]"),
                                                "anything": (None, '{"k": 1}')})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out["text"] == "HI" and out["n"] == 6 and out["v"] == [1, 2] and out["anything"] == {"k": 1}


def test_multipart_errors(client):
    r = client.post("/graphs/arith/run", content=b"--B\r\n", headers={"Content-Type": "multipart/form-data"})
    assert r.status_code == 400 and "boundary" in r.json()["error"]
    r = client.post("/graphs/arith/run", content=b"garbage", headers=MULTIPART_B)
    assert r.status_code == 400 and "multipart" in r.json()["error"]
    nameless = b'--B\r\nContent-Disposition: form-data\r\n\r\nv\r\n--B--\r\n'
    assert client.post("/graphs/arith/run", content=nameless, headers=MULTIPART_B).status_code == 400
    many = b"".join(_part(f"f{i}", b"1") for i in range(300)) + b"--B--\r\n"
    r = client.post("/graphs/arith/run", content=many, headers=MULTIPART_B)
    assert r.status_code == 400 and "256" in r.json()["error"]
    r = client.post("/graphs/arith/run", files={"a": (None, "1"), "b": (None, "2"), "nope": (None, "3")})
    assert r.status_code == 422 and r.json()["port"] == "nope"


def test_multipart_size_limit_while_reading_and_no_temp_files(graph_dir, tmp_path, monkeypatch):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    c = TestClient(create_app(graph_dir / "gain.yaml", max_upload_mb=0.05))

    def chunks():  # no Content-Length: the limit is found while the form is parsed
        yield b'--B\r\nContent-Disposition: form-data; name="wav"; filename="a.wav"\r\n\r\n'
        for _ in range(30):
            yield b"y" * 4096
    r = c.post("/graphs/gain/run", content=chunks(), headers=MULTIPART_B)
    assert r.status_code == 413 and r.json()["kind"] == "too-large"
    assert os.listdir(tmp) == []


def test_rate_input_with_a_default_takes_the_wav_rate(graph_client, sine_wav, read_wav):
    c = graph_client("gain16k", """
        module_paths: [modules]
        inputs:
          wav: {dtype: float32, shape: [null]}
          sr: {dtype: int, default: 16000}
        nodes:
          - {name: g, module: Gain, params: {gain: 1.0}, inputs: {wav: $wav, sr: $sr}}
        outputs: {wav: g/wav, sr: g/sr}
    """)
    wav, x = sine_wav(0.1, sr=8000)
    r = c.post("/graphs/gain16k/run", files={"wav": ("a.wav", wav)})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]["wav"]
    y, sr = read_wav(base64.b64decode(out["wav_base64"]))
    assert out["sr"] == sr == 8000 and np.allclose(y, x, atol=2e-4)
    r = c.post("/graphs/gain16k/run", files={"wav": ("a.wav", wav), "sr": (None, "16000")})
    assert r.status_code == 422 and r.json()["port"] == "sr"          # a rate sent that the WAV contradicts
