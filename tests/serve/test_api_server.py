"""A real server: `modulespack serve` (uvicorn) in a subprocess on a free port, called with httpx."""
from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from servers import free_port, http_ok, process

STARTUP_S = 30


def _serve(args: list[str], env: dict[str, str], log):
    """`modulespack serve ARGS` on a free port; yields its base URL, then stops it."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "modulespack.cli", "serve", *args, "--port", port, "--log-level", "warning"],
                 log=log, env=env, ready=lambda: http_ok(base + "/healthz"), timeout_s=STARTUP_S):
        yield base


@pytest.fixture(scope="module")
def server(graph_dir, tmp_path_factory):
    env = {**os.environ, "MODULESPACK_API_KEY": "live-key"}
    yield from _serve([str(graph_dir), "--timeout", "0.5", "--concurrency", "8"], env,
                      tmp_path_factory.mktemp("server") / "server.log")


@pytest.fixture(scope="module")
def open_server(graph_dir, tmp_path_factory):
    """Without an API key (the default), on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k != "MODULESPACK_API_KEY"}
    yield from _serve([str(graph_dir / "arith.yaml")], env, tmp_path_factory.mktemp("open") / "server.log")


KEY = {"X-API-Key": "live-key"}


def test_every_route_over_http(server, sine_wav, read_wav):
    with httpx.Client(base_url=server, timeout=10.0) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/graphs").status_code == 401                       # key from $MODULESPACK_API_KEY
        assert c.get("/graphs", headers={"Authorization": "Bearer live-key"}).status_code == 200
        assert c.get("/readyz", headers=KEY).json()["status"] == "ready"
        names = {g["name"] for g in c.get("/graphs", headers=KEY).json()}
        assert names == {"arith", "boom", "gain", "kinds", "slow"}
        assert c.get("/graphs/arith", headers=KEY).json()["name"] == "arith"
        assert c.get("/graphs/arith/diagram", headers=KEY, params={"format": "dot"}).text.startswith("digraph")
        assert c.get("/").status_code == 200
        assert c.get("/openapi.json").status_code == 401
        assert c.get("/openapi.json", headers=KEY).json()["paths"]["/graphs/arith/run"]

        r = c.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}}, headers=KEY)
        assert r.json()["outputs"] == {"result": 1.0, "doubled": 6.0}
        assert c.post("/graphs/nope/run", json={}, headers=KEY).status_code == 404
        r = c.post("/graphs/arith/run", json={"inputs": {"a": "x", "b": 1}}, headers=KEY)
        assert r.status_code == 422 and r.json()["port"] == "a"
        r = c.post("/graphs/boom/run", json={"inputs": {"x": 1}}, headers=KEY)
        assert r.status_code == 500 and r.json()["node"] == "kaboom"
        r = c.post("/graphs/slow/run", json={"inputs": {"x": 1}}, headers=KEY)
        assert r.status_code == 504 and r.json()["node"] == "slow"
        r = c.post("/graphs/gain/run", files={"wav": ("x.wav", b"not a wav")}, headers=KEY)
        assert r.status_code == 415

        wav, x = sine_wav(0.2, sr=16000)
        r = c.post("/graphs/gain/run", files={"wav": ("x.wav", wav, "audio/wav")},
                   headers={**KEY, "Accept": "audio/wav"})
        assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
        assert "gain" in r.headers["x-timings"] and "dur=" in r.headers["server-timing"]
        y, sr = read_wav(r.content)
        assert sr == 16000 and abs(float(abs(y).max()) - 0.25) < 1e-3

        big = b"\0" * (21 * 1024 * 1024)
        r = c.post("/graphs/gain/run", content=big, headers={**KEY, "Content-Type": "audio/wav"})
        assert r.status_code == 413

        metrics = c.get("/metrics", headers=KEY).text
        assert 'modulespack_requests_total{graph="slow",status="504"} 1.0' in metrics


def test_concurrent_clients_get_their_own_answers(server):
    def call(i):
        with httpx.Client(base_url=server, timeout=10.0) as c:
            r = c.post("/graphs/arith/run", json={"inputs": {"a": i, "b": 0.25}}, headers=KEY)
            return i, r.status_code, r.json()["outputs"]

    with ThreadPoolExecutor(16) as ex:
        results = list(ex.map(call, range(32)))
    for i, status, out in results:
        assert status == 200
        assert out == {"result": (i + 0.25) * 3 - 8, "doubled": (i + 0.25) * 2}


def test_other_sites_cannot_use_a_keyless_server(open_server):
    """A page elsewhere (or a DNS name rebound to 127.0.0.1) cannot make a visitor's browser run graphs."""
    evil = {"Origin": "https://evil.example"}
    port = open_server.rsplit(":", 1)[1]
    with httpx.Client(base_url=open_server, timeout=10.0) as c:
        form = c.post("/graphs/arith/run", data={"a": "1", "b": "2"}, headers=evil)   # an HTML <form> POST
        assert form.status_code == 403 and form.json()["kind"] == "origin"
        assert "evil.example" in form.json()["error"] and "--cors" in form.json()["error"]
        multipart = c.post("/graphs/arith/run", files={"a": (None, "1"), "b": (None, "2")}, headers=evil)
        assert multipart.status_code == 403
        assert c.get("/graphs", headers=evil).status_code == 403
        assert c.post("/graphs/arith/run", data={"a": "1", "b": "2"}, headers={"Origin": "null"}).status_code == 403

        # the page's own requests (same origin), and clients that send no Origin (curl), run
        same = c.post("/graphs/arith/run", data={"a": "1", "b": "2"}, headers={"Origin": open_server})
        assert same.status_code == 200 and same.json()["outputs"]["result"] == 1.0
        assert c.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}}).status_code == 200

        # Host: the loopback names only (127.0.0.1 is what --host binds by default)
        for ok in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert c.get("/graphs", headers={"Host": ok}).status_code == 200, ok
        rebound = c.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}},
                         headers={"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"})
        assert rebound.status_code == 400 and "--allowed-host" in rebound.json()["error"]

        page = c.get("/")
        assert page.status_code == 200
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        deadline = time.monotonic() + STARTUP_S      # ready once arith's first example has run
        while (ready := c.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.05)
        assert ready.json() == {"status": "ready", "graphs": {"arith": True}}   # no key set: all see all
