"""The MLServer fixture itself: real servers answer as the in-process twin does, and instances can
be killed and brought back on the same ports; nothing is left behind."""
from __future__ import annotations

import os

import mlserver_procs as fixture
import numpy as np
import pytest
from modules.melnet_twin import MelNetTwin

httpclient = pytest.importorskip("tritonclient.http")
grpcclient = pytest.importorskip("tritonclient.grpc")


@pytest.fixture(scope="module")
def mel():
    return np.random.default_rng(3).standard_normal((23, 80)).astype(np.float32)


def _infer_http(address, mel):
    client = httpclient.InferenceServerClient(address)
    try:
        x = httpclient.InferInput("mel", list(mel.shape), "FP32")
        x.set_data_from_numpy(mel, binary_data=False)  # MLServer 1.7.1 reads JSON tensors only
        out = httpclient.InferRequestedOutput("ppg", binary_data=False)
        return client.infer(fixture.MODEL, [x], outputs=[out]).as_numpy("ppg")
    finally:
        client.close()


def _infer_grpc(address, mel):
    client = grpcclient.InferenceServerClient(address)
    try:
        x = grpcclient.InferInput("mel", list(mel.shape), "FP32")
        x.set_data_from_numpy(mel)
        return client.infer(fixture.MODEL, [x]).as_numpy("ppg")
    finally:
        client.close()


def test_both_instances_answer_like_the_twin_over_http_and_grpc(mlservers, mel):
    expected = MelNetTwin().run(mel=mel)["ppg"]
    for server in mlservers:
        np.testing.assert_allclose(_infer_http(server.http, mel), expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(_infer_grpc(server.grpc, mel), expected, rtol=1e-5, atol=1e-6)


def test_metadata_declares_the_tensors(mlservers):
    meta = httpclient.InferenceServerClient(mlservers[0].http).get_model_metadata(fixture.MODEL)
    assert meta["inputs"] == [{"name": "mel", "datatype": "FP32", "shape": [-1, 80]}]
    assert meta["outputs"] == [{"name": "ppg", "datatype": "FP32", "shape": [-1, 25]}]


def test_an_instance_killed_refuses_then_comes_back_on_the_same_ports(mlservers, mel):
    server = mlservers[1]
    ports = (server.http_port, server.grpc_port)
    pid = server.proc.pid
    server.kill()
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not fixture.MLServerInstance._accepts(server.http_port)
    with pytest.raises(ConnectionRefusedError):
        _infer_http(server.http, mel)
    assert _infer_http(mlservers[0].http, mel).shape == (23, 25)  # the other one is untouched
    server.start()
    assert (server.http_port, server.grpc_port) == ports
    assert _infer_grpc(server.grpc, mel).shape == (23, 25)


def test_the_block_leaves_no_process_or_folder():
    if not fixture.available():
        pytest.skip(f"MLServer is not installed at {fixture.MLSERVER_BIN}")
    with fixture.mlservers(1, extra={"seed": 5}) as group:
        pid, folder = group[0].proc.pid, group[0].folder
        assert group[0]._http_ok(f"/v2/models/{fixture.MODEL}/ready")
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not folder.parent.exists()


def test_a_server_that_cannot_start_is_an_error_showing_its_log():
    if not fixture.available():
        pytest.skip(f"MLServer is not installed at {fixture.MLSERVER_BIN}")
    with pytest.raises(RuntimeError, match=r"exited .*while starting") as e, \
            fixture.mlservers(1, model_settings={"implementation": "melnet_runtime.NoSuchClass"}):
        pass
    assert "NoSuchClass" in str(e.value)
