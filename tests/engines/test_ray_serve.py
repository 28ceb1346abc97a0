"""`modulespack serve --engine ray`: the same HTTP API as the local server, `deploy:` nodes in their
own deployments, dynamic batching with `@serve.batch`. One Serve app for the whole module (Serve
takes seconds to start), stopped at the end; Ray itself is the session fixture's."""
from __future__ import annotations

import json
import os
import shutil
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("ray.serve", reason="the ray extra is not installed")
httpx = pytest.importorskip("httpx")
if shutil.which("flite") is None:
    pytest.skip("flite is not installed (the tts graph)", allow_module_level=True)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"

GAIN = '''
import os

import numpy as np

from modulespack import InputError, Module, Port


class Gain(Module):
    """y = 2 x (x >= 0), for a whole batch at once; tells how big the batch was and which process ran it"""
    batchable = True
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float"), "batch": Port("int"), "pid": Port("int")}

    def run_batch(self, items):
        ys = np.asarray([it["x"] for it in items], dtype=np.float64) * 2.0
        return [InputError(f"x must be >= 0, got {it['x']}", port="x") if it["x"] < 0
                else {"y": float(y), "batch": len(items), "pid": os.getpid()} for it, y in zip(items, ys)]
'''

# `gain` in a deployment of its own (batching up to 16 within 0.2 s); `plus` in the ingress replica
BATCHED = '''
name: batched
module_paths: [mods, {examples}/../modules]
inputs: {{x: float}}
nodes:
  - name: gain
    module: Gain
    deploy: {{replicas: 1, num_cpus: 0.25, max_batch_size: 16, batch_wait_s: 0.2}}
    inputs: {{x: $x}}
  - name: plus
    module: Scale
    params: {{factor: 10}}
    inputs: {{x: gain/y}}
outputs:
  y: plus/y
  batch: gain/batch
  pid: gain/pid
'''


@pytest.fixture(scope="module")
def options(tmp_path_factory) -> dict:
    from modulespack.serve.access import default_allowed_hosts

    folder = tmp_path_factory.mktemp("ray_serve")
    (folder / "mods").mkdir()
    (folder / "mods" / "gain.py").write_text(GAIN)
    (folder / "batched.yaml").write_text(BATCHED.format(examples=EXAMPLES))
    paths = [str(EXAMPLES / "arith.yaml"), str(EXAMPLES / "tts.yaml"), str(folder / "batched.yaml")]
    return {"paths": paths, "allowed_hosts": default_allowed_hosts("127.0.0.1"), "concurrency": 16}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(ray_session, options):
    """The Ray Serve app (an httpx client on it)."""
    from modulespack.serve import ray_serve

    port = _free_port()
    ray_serve.start(options, host="127.0.0.1", port=port, num_cpus=0.5)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            deadline = time.monotonic() + 120
            while client.get("/readyz").status_code != 200:
                assert time.monotonic() < deadline, "the Ray Serve app did not get ready"
                time.sleep(0.5)
            yield client
    finally:
        ray_serve.stop()


@pytest.fixture(scope="module")
def local(options):
    """The local server on the same graphs (the thread engine; `deploy:` is ignored there)."""
    from fastapi.testclient import TestClient

    from modulespack.serve.app import create_app

    opts = dict(options)
    with TestClient(create_app(opts.pop("paths"), **opts), base_url="http://127.0.0.1") as client:
        yield client


def _both(served, local, method: str, url: str, **kw):
    return served.request(method, url, **kw), local.request(method, url, **kw)


def test_same_answers_as_the_local_server(served, local):
    r, lo = _both(served, local, "POST", "/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
    assert r.status_code == lo.status_code == 200
    assert r.json()["outputs"] == lo.json()["outputs"] == {"result": 1.0, "doubled": 6.0}

    r, lo = _both(served, local, "POST", "/graphs/tts/run", data={"text": "hello world"},
                 headers={"Accept": "audio/wav"})
    assert r.status_code == lo.status_code == 200
    assert r.headers["content-type"] == lo.headers["content-type"]
    assert r.content[:4] == b"RIFF" and r.content == lo.content  # flite is deterministic

    r, lo = _both(served, local, "GET", "/graphs")
    assert r.status_code == 200
    on_ray, on_local = r.json(), lo.json()
    assert {g.pop("engine") for g in on_ray} == {"ray-serve"}  # the one difference: where graphs run
    assert on_ray == [{k: v for k, v in g.items() if k != "engine"} for g in on_local]
    r, lo = _both(served, local, "GET", "/")
    assert r.status_code == 200 and r.text == lo.text  # the demo page


@pytest.mark.parametrize("url,kw", [
    ("/graphs/arith/run", {"content": b"{not json", "headers": {"Content-Type": "application/json"}}),
    ("/graphs/arith/run", {"json": {"inputs": {"a": "one", "b": 2}}}),
    ("/graphs/tts/run", {"files": {"text": ("t.txt", b"\xff\xfe\x00bad", "text/plain")}}),
    ("/graphs/tts/run", {"data": {"text": ""}}),
    ("/graphs/nope/run", {"json": {"inputs": {}}}),
    ("/graphs/batched/run", {"json": {"inputs": {"x": -1}}}),  # refused in the deployment: 422 all the same
])
def test_same_errors_as_the_local_server(served, local, url, kw):
    r, lo = _both(served, local, "POST", url, **kw)
    assert 400 <= r.status_code < 500
    assert (r.status_code, r.headers["content-type"]) == (lo.status_code, lo.headers["content-type"])
    assert r.json() == lo.json()
    if url.endswith("/nope/run"):
        assert r.status_code == 404


def _deployment_pid(ray_session) -> int:
    from ray import serve

    from modulespack.engines.ray_serve import DEFAULT_APP
    return serve.get_deployment_handle("batched.gain", DEFAULT_APP).pid.remote().result()


def test_a_deploy_node_runs_in_its_deployment(served, ray_session):
    r = served.post("/graphs/batched/run", json={"inputs": {"x": 1.5}})
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert out["y"] == 30.0  # 2 x in the deployment, then x 10 in the ingress
    assert out["pid"] == _deployment_pid(ray_session) != os.getpid()


def test_concurrent_requests_are_batched_without_cross_talk(served):
    def call(i: int) -> dict:
        r = served.post("/graphs/batched/run", json={"inputs": {"x": float(i)}})
        assert r.status_code == 200, r.text
        return r.json()["outputs"]

    with ThreadPoolExecutor(16) as pool:
        outs = list(pool.map(call, range(16)))
    assert [o["y"] for o in outs] == [20.0 * i for i in range(16)]
    assert max(o["batch"] for o in outs) > 1, json.dumps(outs)


class _FailingHandle:
    """A DeploymentHandle whose calls fail as Serve's do when no replica can take them."""

    def __init__(self, exc: BaseException):
        self.exc = exc

    def remote(self, inputs):
        exc = self.exc

        class Response:
            def result(self):
                raise exc

            def cancel(self):
                pass
        return Response()


@pytest.mark.parametrize("make", [lambda: __import__("ray.serve.exceptions").serve.exceptions.BackPressureError(16, 16),
                                  lambda: __import__("ray.exceptions").exceptions.ActorDiedError()])
def test_an_unavailable_node_deployment_is_503_retry_later(make):
    """A back-pressured or dead node deployment is the server's passing trouble, not a module's fault."""
    from modulespack.core import NodeError, Session, build_graph
    from modulespack.engines.base import WorkerDied
    from modulespack.engines.ray_serve import proxied_graph
    from modulespack.serve.catalog import load_graphs
    from modulespack.serve.dispatch import Dispatcher

    graph = build_graph(EXAMPLES / "arith.yaml")
    with Session(proxied_graph(graph, {"sum": _FailingHandle(make())})) as session:
        with pytest.raises(NodeError) as err:
            session.run({"a": 1, "b": 2})
    assert isinstance(err.value.cause, WorkerDied) and err.value.node == "sum"
    entry = load_graphs([EXAMPLES / "arith.yaml"])["arith"]
    answer = Dispatcher().error(entry, err.value)
    assert answer.status == 503 and answer.headers["Retry-After"], answer


def test_a_bad_example_stops_the_command_before_anything_is_deployed(tmp_path, capsys):
    """Examples are checked as the local server checks them, not found broken in every replica."""
    from modulespack.serve.ray_serve import serve_forever

    text = (EXAMPLES / "arith.yaml").read_text().replace("../modules", str(EXAMPLES.parent / "modules"))
    (tmp_path / "arith.yaml").write_text(text + "  broken: {a: not-a-number, b: 2}\n")
    assert serve_forever({"paths": [str(tmp_path)]}, port=_free_port()) == 1
    err = capsys.readouterr().err
    assert "example 'broken'" in err and "arith.yaml" in err
