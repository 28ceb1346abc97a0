"""The Open Inference Protocol (V2) over gRPC (`--grpc-port`), with tritonclient.grpc against a real
`modulespack serve`, and the gRPC server's life with the app's."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import numpy as np
import pytest

grpcclient = pytest.importorskip("tritonclient.grpc")
import grpc
from servers import free_port
from tritonclient.grpc import service_pb2 as pb
from tritonclient.grpc import service_pb2_grpc as pb_grpc
from tritonclient.utils import InferenceServerException
from v2_server import KEY, serve, vc_reference

MD = {"authorization": f"Bearer {KEY}"}  # gRPC metadata keys are lowercase


@pytest.fixture(scope="module")
def server(graph_dir, tmp_path_factory):
    yield from serve(graph_dir, tmp_path_factory.mktemp("v2-grpc"))


@pytest.fixture(scope="module")
def client(server):
    c = grpcclient.InferenceServerClient(server.grpc)
    yield c
    c.close()


@pytest.fixture(scope="module")
def stub(server):
    """The generated stub itself, for what tritonclient does not send (typed contents)."""
    with grpc.insecure_channel(server.grpc) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


def tensor(name: str, value: np.ndarray, datatype: str):
    t = grpcclient.InferInput(name, list(value.shape), datatype)
    t.set_data_from_numpy(value)
    return t


def infer(client, model: str, inputs: list, outputs: list[str] | None = None, **kw):
    outs = [grpcclient.InferRequestedOutput(n) for n in outputs] if outputs else None
    return client.infer(model, inputs, outputs=outs, headers=dict(MD), **kw)


def arith_inputs(a: float = 1.0, b: float = 2.0) -> list:
    return [tensor("a", np.array([a]), "FP64"), tensor("b", np.array([b]), "FP64")]


def test_server_and_models_are_live_and_ready(client):
    assert client.is_server_live() and client.is_server_ready()  # no key needed, as over HTTP
    assert client.is_model_ready("arith", headers=dict(MD)) and client.is_model_ready("vc", "1", headers=dict(MD))
    assert list(client.get_server_metadata(headers=dict(MD)).extensions) == ["binary_tensor_data"]


def test_metadata_is_the_same_as_over_http(server, client):
    import httpx
    for model in ("arith", "vc", "kinds"):
        m = client.get_model_metadata(model, headers=dict(MD), as_json=True)
        http = httpx.get(f"{server.base}/v2/models/{model}", headers=MD).json()
        for key in ("inputs", "outputs"):
            assert [(t["name"], t["datatype"], [int(d) for d in t["shape"]]) for t in m[key]] == \
                   [(t["name"], t["datatype"], t["shape"]) for t in http[key]]
    vc = client.get_model_metadata("vc", headers=dict(MD))
    assert [(t.name, t.datatype, list(t.shape)) for t in vc.inputs] == \
        [("wav", "FP32", [-1]), ("sr", "INT64", [1])]


def test_arith(client):
    r = infer(client, "arith", arith_inputs(1.5, -4.0))
    assert r.as_numpy("result").tolist() == [(1.5 - 4.0) * 3 - 8]
    assert r.as_numpy("doubled").tolist() == [(1.5 - 4.0) * 2]
    only = infer(client, "arith", arith_inputs(), ["doubled"])
    assert [o.name for o in only.get_response().outputs] == ["doubled"]


def test_audio_graph_gives_what_a_session_gives(client):
    wav, sr, want = vc_reference()
    r = infer(client, "vc", [tensor("wav", wav, "FP32"), tensor("sr", np.array([sr], dtype=np.int64), "INT64")])
    for k in ("wav", "f0"):
        got = r.as_numpy(k)
        assert got.dtype == np.float32 and got.shape == want[k].shape
        np.testing.assert_allclose(got, want[k], rtol=1e-5, atol=1e-6)


def test_bytes_bool_and_integer_tensors(client):
    m = np.arange(6, dtype=np.float32).reshape(2, 3)
    r = infer(client, "kinds", [tensor("text", np.array(["héllo".encode()], dtype=object), "BYTES"),
                                tensor("n", np.array([21], dtype=np.int64), "INT64"),
                                tensor("flag", np.array([False]), "BOOL"), tensor("m", m, "FP32"),
                                tensor("v", np.array([5], dtype=np.int16), "INT16"),
                                tensor("anything", np.array([b"x"], dtype=object), "BYTES")])
    assert r.as_numpy("text").tolist() == ["HÉLLO".encode()]
    assert r.as_numpy("n").tolist() == [42] and r.as_numpy("flag").tolist() == [True]
    np.testing.assert_array_equal(r.as_numpy("m"), m * 2)
    assert r.as_numpy("v").dtype == np.int16


def test_typed_contents_as_well_as_raw(stub):
    """ModelInfer's `contents` (what clients other than tritonclient may send)."""
    def t(name, value):
        return pb.ModelInferRequest.InferInputTensor(name=name, datatype="FP64", shape=[1],
                                                     contents=pb.InferTensorContents(fp64_contents=[value]))
    resp = stub.ModelInfer(pb.ModelInferRequest(model_name="arith", inputs=[t("a", 2.0), t("b", 1.0)]),
                           metadata=tuple(MD.items()))
    got = {o.name: np.frombuffer(raw, "<f8").tolist() for o, raw in zip(resp.outputs, resp.raw_output_contents)}
    assert got == {"result": [1.0], "doubled": [6.0]}
    short = pb.ModelInferRequest.InferInputTensor(name="a", datatype="FP64", shape=[2],
                                                  contents=pb.InferTensorContents(fp64_contents=[1.0]))
    with pytest.raises(grpc.RpcError) as exc:
        stub.ModelInfer(pb.ModelInferRequest(model_name="arith", inputs=[short, t("b", 1.0)]),
                        metadata=tuple(MD.items()))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "'a'" in exc.value.details()
    huge = pb.ModelInferRequest.InferInputTensor(name="a", datatype="FP64", shape=[2**32, 2**32])  # numpy: 0 elements
    with pytest.raises(grpc.RpcError) as exc:
        stub.ModelInfer(pb.ModelInferRequest(model_name="arith", inputs=[huge, t("b", 1.0)]), metadata=tuple(MD.items()))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "too large" in exc.value.details()


def _raw_request(inputs: list[tuple[str, str, list[int], bytes]]) -> pb.ModelInferRequest:
    req = pb.ModelInferRequest(model_name="arith")
    for name, datatype, shape, raw in inputs:
        req.inputs.add(name=name, datatype=datatype, shape=shape)
        req.raw_input_contents.append(raw)
    return req


@pytest.mark.parametrize("inputs, words", [
    ([("a", "BYTES", [1], b"\x01\0\0\0x"), ("b", "FP64", [1], b"\0" * 8)], ["'a'", "BYTES", "FP64"]),
    ([("a", "FP64", [2], b"\0" * 8), ("b", "FP64", [1], b"\0" * 8)], ["'a'", "[2]", "8 bytes"]),
    ([("a", "FP64", [1], b"\0" * 8), ("c", "FP64", [1], b"\0" * 8)], ["unknown input 'c'"]),
    ([("a", "FP64", [1], b"\0" * 8)], ["missing input 'b'"]),
    ([("a", "FP64", [0, 2**62, 2**62], b""), ("b", "FP64", [1], b"\0" * 8)], ["'a'", "too large"]),
    ([("a", "FP64", [1] * 65, b"\0" * 8), ("b", "FP64", [1], b"\0" * 8)], ["'a'", "at most 32 dimensions"]),
], ids=["datatype", "shape-vs-data", "unknown-input", "missing-input", "numpy-cannot-shape", "rank"])
def test_bad_requests_are_invalid_argument(stub, inputs, words):
    with pytest.raises(grpc.RpcError) as exc:
        stub.ModelInfer(_raw_request(inputs), metadata=tuple(MD.items()))
    assert exc.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    for w in words:
        assert w in exc.value.details()


def test_unknown_model_is_not_found(client):
    with pytest.raises(InferenceServerException) as exc:
        infer(client, "nope", arith_inputs())
    assert exc.value.status() == "StatusCode.NOT_FOUND" and "nope" in exc.value.message()
    with pytest.raises(InferenceServerException) as exc:
        client.get_model_metadata("nope", headers=dict(MD))
    assert exc.value.status() == "StatusCode.NOT_FOUND"


def test_a_failing_node_is_internal(client):
    with pytest.raises(InferenceServerException) as exc:
        infer(client, "boom", [tensor("x", np.array([1.0]), "FP64")])
    assert exc.value.status() == "StatusCode.INTERNAL" and "kaboom" in exc.value.message()


def test_a_client_deadline_cancels_the_run_and_the_server_goes_on(server, client):
    import httpx

    def cancelled() -> float:  # runs whose caller went away, as /metrics counts them
        text = httpx.get(server.base + "/metrics", headers=MD).text
        line = [x for x in text.splitlines() if x.startswith('modulespack_requests_total{graph="slow",status="499"}')]
        return float(line[0].split()[-1]) if line else 0.0
    before = cancelled()
    with pytest.raises(InferenceServerException) as exc:
        infer(client, "slow", [tensor("x", np.array([1.0]), "FP64")], client_timeout=0.3)
    assert exc.value.status() == "StatusCode.DEADLINE_EXCEEDED"
    assert infer(client, "arith", arith_inputs()).as_numpy("doubled").tolist() == [6.0]
    deadline = time.monotonic() + 10
    while cancelled() != before + 1:
        assert time.monotonic() < deadline, "the server did not see the call end"
        time.sleep(0.05)


def test_api_keys_from_the_metadata(server):
    c = grpcclient.InferenceServerClient(server.grpc)
    try:
        assert c.is_server_ready()
        for headers in ({}, {"authorization": "Bearer wrong"}):
            with pytest.raises(InferenceServerException) as exc:
                c.infer("arith", arith_inputs(), headers=headers)
            assert exc.value.status() == "StatusCode.UNAUTHENTICATED"
        r = c.infer("arith", arith_inputs(), headers={"x-api-key": KEY})
        assert r.as_numpy("doubled").tolist() == [6.0]
    finally:
        c.close()


def test_the_grpc_server_starts_and_stops_with_the_app(graph_dir):
    from fastapi.testclient import TestClient

    from modulespack.serve import create_app

    port = free_port()
    app = create_app(graph_dir / "arith.yaml", grpc_address=f"127.0.0.1:{port}")
    with TestClient(app):
        c = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
        try:
            assert c.infer("arith", arith_inputs()).as_numpy("doubled").tolist() == [6.0]  # no keys: open
        finally:
            c.close()
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))


def test_a_taken_grpc_port_stops_start_up(graph_dir):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        p = subprocess.run([sys.executable, "-m", "modulespack.cli", "serve", str(graph_dir / "arith.yaml"),
                            "--port", str(free_port()), "--grpc-port", str(taken)],
                           capture_output=True, text=True, timeout=60, check=False)
    assert p.returncode == 1 and f"127.0.0.1:{taken}" in p.stderr and "--grpc-port" in p.stderr
