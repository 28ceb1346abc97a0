"""A graph whose middle node is `module: remote`, against two real MLServer instances (mlserver_procs.py):
the same result as the same model in-process over v2-http and v2-grpc, one server killed during a
burst of 100 requests loses none, both down is an error naming the node and the graph recovers
when one comes back, and tensors that disagree with the server's metadata stop the start."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("tritonclient.http")
pytest.importorskip("tritonclient.grpc")

from modulespack.core import GraphError, NodeError, Session, Unavailable
from modulespack.core.spec import load_graph

PROTOCOLS = ("v2-http", "v2-grpc")


def graph(middle: dict) -> dict:
    """mel -> (middle node) -> ppg -> classes: the middle node local (the twin) or remote."""
    return {"inputs": {"mel": {"dtype": "float32", "shape": [None, 80]}},
            "nodes": [{"name": "net", **middle, "inputs": {"mel": "mel"}},
                      {"name": "classes", "module": "modules.melnet_twin.FrameClasses", "inputs": {"ppg": "net/ppg"}}],
            "outputs": {"ppg": "net/ppg", "classes": "classes/classes"}}


def remote(protocol: str, servers, **params) -> dict:
    addresses = servers.http if protocol == "v2-http" else servers.grpc
    return {"module": "remote", "params": {
        "protocol": protocol, "endpoints": addresses, "model": "melnet", "timeout": 10.0,
        "inputs": {"mel": {"dtype": "float32", "shape": [-1, 80]}},
        "outputs": {"ppg": {"dtype": "float32", "shape": [-1, 25]}}, **params}}


@pytest.fixture(scope="module")
def local():
    s = Session(load_graph(graph({"module": "modules.melnet_twin.MelNetTwin"})))
    yield s
    s.close()


def mels(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal((10 + i % 13, 80)).astype(np.float32) for i in range(n)]


def until(fn, seconds=20.0):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except NodeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_remote_middle_node_gives_what_the_model_gives_in_process(mlservers, local, protocol):
    s = Session(load_graph(graph(remote(protocol, mlservers))))
    try:
        for mel in mels(4):
            want, got = local.run({"mel": mel}), s.run({"mel": mel})
            np.testing.assert_allclose(got["ppg"], want["ppg"], rtol=1e-5, atol=1e-6)
            np.testing.assert_array_equal(got["classes"], want["classes"])
    finally:
        s.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_one_server_killed_during_a_burst_of_100_loses_no_request(mlservers, local, protocol):
    s = Session(load_graph(graph(remote(protocol, mlservers, idempotent=True, balance="least_outstanding"))))
    done = []
    lock = threading.Lock()
    killer = threading.Thread(target=mlservers[0].kill)

    def one(mel):
        out = s.run({"mel": mel})["ppg"]
        with lock:
            done.append(1)
            if len(done) == 20:  # mid-burst, with requests in flight on both servers
                killer.start()
        return out
    try:
        batch = mels(100)
        with ThreadPoolExecutor(8) as pool:
            outs = list(pool.map(one, batch))
        killer.join(30)  # the burst may end before the kill does: wait for it, then look
        assert len(outs) == 100 and not mlservers[0].running
        for mel, out in zip(batch, outs):
            np.testing.assert_allclose(out, local.run({"mel": mel})["ppg"], rtol=1e-5, atol=1e-6)
    finally:
        s.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_both_down_names_the_node_and_it_recovers_without_a_restart(mlservers, local, protocol):
    s = Session(load_graph(graph(remote(protocol, mlservers))))
    mel = mels(1)[0]
    try:
        s.run({"mel": mel})
        for server in mlservers:
            server.kill()
        with pytest.raises(NodeError) as e:
            s.run({"mel": mel})
        assert isinstance(e.value.cause, Unavailable) and e.value.node == "net"
        for address in (mlservers.http if protocol == "v2-http" else mlservers.grpc):
            assert address in str(e.value)
        mlservers[1].start()
        got = until(lambda: s.run({"mel": mel}))
        np.testing.assert_allclose(got["ppg"], local.run({"mel": mel})["ppg"], rtol=1e-5, atol=1e-6)
    finally:
        s.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_tensor_unlike_the_servers_is_an_error_naming_node_tensor_and_shapes(mlservers, protocol):
    g = graph(remote(protocol, mlservers, outputs={"ppg": {"dtype": "float32", "shape": [-1, 40]}}))
    with pytest.raises(GraphError) as e:
        Session(load_graph(g))
    msg = str(e.value)
    assert "node 'net'" in msg and "tensor 'ppg'" in msg and "[-1, 40]" in msg and "[-1, 25]" in msg
