"""The web app's limits on uploads: 413 by size and audio length, 415 for undecodable WAV,
no temporary files left behind by a burst of uploads."""
from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from modulespack.serve import create_app


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
