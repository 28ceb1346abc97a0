"""End to end through `modulespack serve`: a speech graph (WAV -> log-mel -> remote melnet -> frame
classes) whose middle node calls two real MLServer instances, against the same graph with the model
in-process (the twin); a server killed during a burst of 100 requests; both down (503 with
Retry-After, naming the node) and back (no restart); and one `modulespack serve` calling a graph
on another through a remote node. Session-level behaviour is in test_remote_v2.py."""
from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import yaml

httpx = pytest.importorskip("httpx")
pytest.importorskip("tritonclient.http")
pytest.importorskip("tritonclient.grpc")
pytest.importorskip("fastapi", reason="the serve extra is not installed")

import mlserver_procs as mlserver
from serve_proc import modulespack_serve

HERE = Path(__file__).resolve().parent
WAV = HERE.parents[1] / "examples" / "graphs" / "audio" / "rms_hello.wav"   # flite, 16 kHz
MEL = {"n_fft": 512, "win_length": 400, "hop_length": 80, "n_mels": 80, "power": 1.0, "log": True}
TENSORS = {"inputs": {"mel": {"dtype": "float32", "shape": [-1, 80]}},
           "outputs": {"ppg": {"dtype": "float32", "shape": [-1, 25]}}}


def speech_graph(name: str, net: dict, outputs=("ppg", "classes")) -> dict:
    """wav, sr -> logmel -> net (the twin or remote) -> classes."""
    return {"name": name, "module_paths": [str(HERE / "modules")],
            "inputs": {"wav": {"dtype": "float32", "shape": [None]}, "sr": "int"},
            "nodes": [{"name": "logmel", "module": "mel", "params": MEL, "inputs": {"wav": "$wav", "sr": "$sr"}},
                      {"name": "net", **net, "inputs": {"mel": "logmel/mel"}},
                      {"name": "classes", "module": "FrameClasses", "inputs": {"ppg": "net/ppg"}}],
            "outputs": {"ppg": "net/ppg", "classes": "classes/classes"}}


def remote(protocol: str, endpoints: list[str], model: str = "melnet", **params) -> dict:
    return {"module": "remote", "params": {"protocol": protocol, "endpoints": endpoints, "model": model,
                                           "timeout": 10.0, **TENSORS, **params}}


def write(folder: Path, graph: dict) -> Path:
    path = folder / f"{graph['name']}.yaml"
    path.write_text(yaml.safe_dump(graph, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def mlserver_group():
    """The two MLServers sleep 20 ms per request, so a server killed mid-burst surely has requests
    in flight (those are the ones that must be sent again)."""
    if not mlserver.available():
        why = f"MLServer is not installed at {mlserver.MLSERVER_BIN} (see scripts/setup.sh)"
        if os.environ.get("MODULESPACK_REQUIRE_MLSERVER"):  # scripts/test.sh installed it: missing is a failure
            pytest.fail(why)
        pytest.skip(why)
    with mlserver.mlservers(2, extra={"delay": 0.02}) as group:
        yield group


@pytest.fixture(scope="module")
def serve_a(mlserver_group, tmp_path_factory):
    """One server with the speech graph three ways: the twin in-process, remote over v2-http and v2-grpc
    (both MLServers, idempotent, so a request a dying server had is sent again), and the bare twin
    (mel -> ppg, classes) that serve_b calls; V2 over gRPC too."""
    folder = tmp_path_factory.mktemp("serve_a")
    write(folder, speech_graph("speech_local", {"module": "MelNetTwin"}))
    for proto, eps in (("http", mlserver_group.http), ("grpc", mlserver_group.grpc)):
        write(folder, speech_graph(f"speech_{proto}", remote(f"v2-{proto}", eps, idempotent=True,
                                                              balance="least_outstanding")))
    write(folder, {"name": "melnet_local", "module_paths": [str(HERE / "modules")],
                   "inputs": {"mel": {"dtype": "float32", "shape": [None, 80]}},
                   "nodes": [{"name": "net", "module": "MelNetTwin", "inputs": {"mel": "$mel"}},
                             {"name": "classes", "module": "FrameClasses", "inputs": {"ppg": "net/ppg"}}],
                   "outputs": {"ppg": "net/ppg", "classes": "classes/classes"}})
    with modulespack_serve([folder], folder / "serve.log", grpc=True, args=("--concurrency", "8")) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(serve_a):
    with httpx.Client(base_url=serve_a.url, timeout=30.0) as c:
        yield c


@pytest.fixture(scope="module")
def wav_bytes():
    """The first 0.6 s of a flite sentence (~120 frames): real speech, cheap enough for bursts."""
    from modulespack.io import read_wav, wav_to_bytes
    wav, sr = read_wav(WAV)
    return wav_to_bytes(wav[: int(0.6 * sr)], sr)


def run(client, graph: str, wav: bytes) -> httpx.Response:
    return client.post(f"/graphs/{graph}/run", content=wav,
                       headers={"Content-Type": "audio/wav", "Accept": "application/json"})


@pytest.fixture(scope="module")
def expected(client, wav_bytes):
    r = run(client, "speech_local", wav_bytes)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert np.asarray(out["ppg"]).shape[1] == 25 and len(out["classes"]) > 100
    return out


def assert_same(out: dict, expected: dict) -> None:
    np.testing.assert_allclose(np.asarray(out["ppg"]), np.asarray(expected["ppg"]), rtol=1e-4, atol=1e-6)
    assert out["classes"] == expected["classes"]


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_the_remote_speech_graph_answers_as_the_in_process_one(mlservers, client, wav_bytes, expected, proto):
    r = run(client, f"speech_{proto}", wav_bytes)
    assert r.status_code == 200, r.text
    assert_same(r.json()["outputs"], expected)
    assert set(r.json()["timings_ms"]) == {"logmel", "net", "classes"}


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_a_server_killed_during_a_burst_of_100_loses_no_request(mlservers, client, wav_bytes, expected, proto):
    done, lock = [], threading.Lock()
    killer = threading.Thread(target=mlservers[0].kill)

    def one(_):
        r = run(client, f"speech_{proto}", wav_bytes)
        with lock:
            done.append(r.status_code)
            if len(done) == 25:  # mid-burst: the other requests are in flight or still to come
                killer.start()
        return r

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(100)))
    killer.join(timeout=30)
    assert not mlservers[0].running
    assert [r.status_code for r in answers] == [200] * 100, [r.text for r in answers if r.status_code != 200][:3]
    for r in answers:
        assert_same(r.json()["outputs"], expected)


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_both_servers_down_is_a_503_naming_the_node_then_the_graph_recovers(mlservers, client, wav_bytes,
                                                                             expected, proto):
    graph = f"speech_{proto}"
    assert run(client, graph, wav_bytes).status_code == 200
    for server in mlservers:
        server.kill()
    r = run(client, graph, wav_bytes)
    assert r.status_code == 503, r.text
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    assert body["node"] == "net" and body["graph"] == graph and body["kind"] == "unavailable", body
    for address in getattr(mlservers, proto):
        assert address in body["error"], body["error"]
    mlservers[1].start()
    deadline = time.monotonic() + 30  # the node probes a down endpoint again within its back-off (<= 4 s)
    while (r := run(client, graph, wav_bytes)).status_code != 200:
        assert r.status_code == 503 and time.monotonic() < deadline, r.text
        time.sleep(0.2)
    assert_same(r.json()["outputs"], expected)


@pytest.fixture(scope="module")
def serve_b(serve_a, tmp_path_factory):
    """A second server whose speech graphs compute the log-mel themselves and send it to serve_a's
    `melnet_local` graph through a remote node: over V2 HTTP (binary tensors) and V2 gRPC."""
    folder = tmp_path_factory.mktemp("serve_b")
    for proto, endpoint, extra in (("http", serve_a.http, {"binary_data": True}), ("grpc", serve_a.grpc, {})):
        net = remote(f"v2-{proto}", [endpoint], model="melnet_local", **extra)
        net["params"]["outputs"] = {**TENSORS["outputs"], "classes": {"dtype": "int64", "shape": [-1]}}
        graph = speech_graph(f"chain_{proto}", net)
        graph["outputs"]["remote_classes"] = "net/classes"
        write(folder, graph)
    with modulespack_serve([folder], folder / "serve.log") as srv:
        yield srv


@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_one_modulespack_serve_calls_a_graph_on_another(serve_b, wav_bytes, expected, proto):
    with httpx.Client(base_url=serve_b.url, timeout=30.0) as c:
        r = run(c, f"chain_{proto}", wav_bytes)
    assert r.status_code == 200, r.text
    out = r.json()["outputs"]
    assert_same(out, expected)
    assert out["remote_classes"] == expected["classes"]
