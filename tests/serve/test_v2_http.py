"""The Open Inference Protocol (V2) over HTTP, with tritonclient.http against a real `modulespack serve`."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

httpclient = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException
from v2_server import HEADERS, KEY, serve, vc_reference


@pytest.fixture(scope="module")
def server(graph_dir, tmp_path_factory):
    yield from serve(graph_dir, tmp_path_factory.mktemp("v2-http"))


@pytest.fixture(scope="module")
def client(server):
    c = httpclient.InferenceServerClient(server.http, network_timeout=60.0)
    yield c
    c.close()


def tensor(name: str, value: np.ndarray, datatype: str, binary: bool = True):
    t = httpclient.InferInput(name, list(value.shape), datatype)
    t.set_data_from_numpy(value, binary_data=binary)
    return t


def infer(client, model: str, inputs: list, outputs: list[str] | None = None, binary: bool = True, **kw):
    outs = [httpclient.InferRequestedOutput(n, binary_data=binary) for n in outputs] if outputs else None
    # a copy: tritonclient adds its own headers to the dict it is given
    return client.infer(model, inputs, outputs=outs, headers=dict(HEADERS), **kw)


def post(server, model: str, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{server.base}/v2/models/{model}/infer", json=body, headers=headers or HEADERS, timeout=30)


def fp64(name: str, *values: float) -> dict:
    return {"name": name, "datatype": "FP64", "shape": [len(values)], "data": list(values)}


def test_server_and_models_are_live_and_ready(server, client):
    assert client.is_server_live() and client.is_server_ready()  # no key needed, as /healthz
    assert client.is_model_ready("arith", headers=dict(HEADERS))
    assert client.is_model_ready("vc", "1", headers=dict(HEADERS))
    assert httpx.get(server.base + "/v2/health/live").json() == {"live": True}
    assert httpx.get(server.base + "/v2/health/ready").json() == {"ready": True}
    r = httpx.get(server.base + "/v2/models/arith/ready", headers=dict(HEADERS))
    assert (r.status_code, r.json()) == (200, {"name": "arith", "ready": True})
    assert client.get_server_metadata(headers=dict(HEADERS))["extensions"] == ["binary_tensor_data"]


def test_metadata_comes_from_the_graph_ports(client):
    def tensors(meta: dict, key: str) -> dict:
        return {t["name"]: (t["datatype"], t["shape"]) for t in meta[key]}
    arith = client.get_model_metadata("arith", headers=dict(HEADERS))
    assert (arith["name"], arith["versions"], arith["platform"]) == ("arith", ["1"], "modulespack")
    assert tensors(arith, "inputs") == {"a": ("FP64", [1]), "b": ("FP64", [1])}
    assert tensors(arith, "outputs") == {"result": ("FP64", [1]), "doubled": ("FP64", [1])}
    vc = client.get_model_metadata("vc", headers=dict(HEADERS))
    assert tensors(vc, "inputs") == {"wav": ("FP32", [-1]), "sr": ("INT64", [1])}  # two tensors, as two ports
    assert tensors(vc, "outputs") == {"wav": ("FP32", [-1]), "f0": ("FP32", [-1])}
    kinds = client.get_model_metadata("kinds", headers=dict(HEADERS))
    assert tensors(kinds, "inputs") == {"text": ("BYTES", [1]), "n": ("INT64", [1]), "flag": ("BOOL", [1]),
                                        "m": ("FP32", [-1, 3]), "v": ("INT16", [-1]), "anything": ("BYTES", [-1]),
                                        "scale": ("FP32", [1])}


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_arith(client, binary):
    a, b = np.array([1.5]), np.array([-4.0])
    r = infer(client, "arith", [tensor("a", a, "FP64", binary), tensor("b", b, "FP64", binary)],
              ["result", "doubled"], binary)
    assert r.as_numpy("result").tolist() == [(1.5 - 4.0) * 3 - 8]
    assert r.as_numpy("doubled").tolist() == [(1.5 - 4.0) * 2]
    assert r.get_response()["model_name"] == "arith"


def test_a_float_input_takes_other_number_datatypes(client):
    r = infer(client, "arith", [tensor("a", np.array([2], dtype=np.int32), "INT32"),
                                tensor("b", np.array([0.5], dtype=np.float32), "FP32")])
    assert r.as_numpy("result").tolist() == [(2 + 0.5) * 3 - 8]


def test_the_wire_format_of_binary_and_json_answers(server):
    """JSON in, binary out when asked (header and binary_data_size), JSON out otherwise."""
    body = {"id": "r1", "inputs": [fp64("a", 1), fp64("b", 2)],
            "outputs": [{"name": "result", "parameters": {"binary_data": True}}, {"name": "doubled"}]}
    r = post(server, "arith", body)
    n = int(r.headers["Inference-Header-Content-Length"])
    head = json.loads(r.content[:n])
    assert head["id"] == "r1"
    assert head["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert np.frombuffer(r.content[n:], "<f8").tolist() == [1.0]
    assert head["outputs"][1]["data"] == [6.0]
    r = post(server, "arith", {"inputs": [fp64("a", 1), fp64("b", 2)]})
    assert "Inference-Header-Content-Length" not in r.headers
    assert [o["data"] for o in r.json()["outputs"]] == [[1.0], [6.0]]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_audio_graph_gives_what_a_session_gives(client, binary):
    wav, sr, want = vc_reference()
    r = infer(client, "vc", [tensor("wav", wav, "FP32", binary),
                             tensor("sr", np.array([sr], dtype=np.int64), "INT64", binary)], ["wav", "f0"], binary)
    for k in ("wav", "f0"):
        got = r.as_numpy(k)
        assert got.dtype == np.float32 and got.shape == want[k].shape
        np.testing.assert_allclose(got, want[k], rtol=1e-5, atol=1e-6)
    assert (r.as_numpy("f0") > 0).any()  # voiced frames: real speech


def texts(arr: np.ndarray) -> list[str]:
    """BYTES elements as text: tritonclient gives bytes from binary data, str from JSON."""
    return [x.decode() if isinstance(x, bytes) else x for x in arr.tolist()]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_bytes_bool_and_integer_tensors(client, binary):
    m = np.arange(6, dtype=np.float32).reshape(2, 3)
    inputs = [tensor("text", np.array(["héllo wörld".encode()], dtype=object), "BYTES", binary),
              tensor("n", np.array([21], dtype=np.int64), "INT64", binary),
              tensor("flag", np.array([True]), "BOOL", binary), tensor("m", m, "FP32", binary),
              tensor("v", np.array([-3, 7], dtype=np.int16), "INT16", binary),
              tensor("anything", np.array([b"as is"], dtype=object), "BYTES", binary)]
    r = infer(client, "kinds", inputs, ["text", "n", "flag", "m", "v", "anything"], binary)
    assert texts(r.as_numpy("text")) == ["HÉLLO WÖRLD"]
    assert r.as_numpy("n").tolist() == [42] and r.as_numpy("n").dtype == np.int64
    assert r.as_numpy("flag").tolist() == [False]
    np.testing.assert_array_equal(r.as_numpy("m"), m * 2)  # scale's default, 2
    assert r.as_numpy("v").dtype == np.int16 and r.as_numpy("v").tolist() == [-3, 7]
    assert texts(r.as_numpy("anything")) == ["as is"]


def test_a_compressed_request(client):
    r = client.infer("arith", [tensor("a", np.array([1.0]), "FP64"), tensor("b", np.array([1.0]), "FP64")],
                     headers=dict(HEADERS), request_compression_algorithm="gzip")
    assert r.as_numpy("doubled").tolist() == [4.0]


@pytest.mark.parametrize("body, status, words", [
    ({"inputs": [{**fp64("a", 1), "datatype": "BYTES", "data": ["1"]}, fp64("b", 2)]}, 400, ["'a'", "BYTES", "FP64"]),
    ({"inputs": [{**fp64("a", 1), "shape": [2]}, fp64("b", 2)]}, 400, ["'a'", "[2]", "2 elements", "1 element"]),
    ({"inputs": [fp64("a", 1), fp64("c", 2)]}, 400, ["unknown input 'c'", "a, b"]),
    ({"inputs": [fp64("a", 1)]}, 400, ["missing input 'b'"]),
    ({"inputs": [{**fp64("a", 1), "datatype": "FP99"}]}, 400, ["'a'", "FP99"]),
    ({"inputs": [fp64("a", 1), fp64("b", 2)], "outputs": [{"name": "nope"}]}, 400, ["unknown output 'nope'", "result"]),
    ({"inputs": [{**fp64("a"), "shape": [0, 2**62, 2**62]}, fp64("b", 2)]}, 400, ["'a'", "too large"]),
    ({"inputs": [{**fp64("a", 1), "shape": [1] * 65}, fp64("b", 2)]}, 400, ["'a'", "at most 32 dimensions"]),
], ids=["datatype", "shape-vs-data", "unknown-input", "missing-input", "unknown-datatype", "unknown-output",
        "numpy-cannot-shape", "rank"])
def test_bad_requests_are_400_naming_what_is_wrong(server, body, status, words):
    r = post(server, "arith", body)
    assert r.status_code == status
    assert list(r.json()) == ["error"]  # the protocol's error shape
    for w in words:
        assert w in r.json()["error"]


def test_a_graph_input_error_is_400(server, client):
    """What the native route answers 422 (the port's own check: rank) is the protocol's 400."""
    wav = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(InferenceServerException) as exc:
        infer(client, "vc", [tensor("wav", wav, "FP32"), tensor("sr", np.array([16000]), "INT64")])
    assert exc.value.status() == "400" and "'wav'" in exc.value.message() and "rank" in exc.value.message()


def test_binary_data_that_does_not_fit_its_shape(server):
    raw = np.array([1.0, 2.0], dtype="<f8").tobytes()
    head = json.dumps({"inputs": [{"name": "a", "datatype": "FP64", "shape": [1],
                                   "parameters": {"binary_data_size": len(raw)}}, fp64("b", 1)]}).encode()
    r = httpx.post(f"{server.base}/v2/models/arith/infer", content=head + raw, timeout=30,
                   headers={**HEADERS, "Inference-Header-Content-Length": str(len(head))})
    assert r.status_code == 400 and "'a'" in r.json()["error"] and "16 bytes" in r.json()["error"]


def test_unknown_model_or_version_is_404(server, client):
    with pytest.raises(InferenceServerException) as exc:
        infer(client, "nope", [tensor("a", np.array([1.0]), "FP64")])
    assert exc.value.status() == "404" and "nope" in exc.value.message() and "arith" in exc.value.message()
    r = httpx.get(server.base + "/v2/models/arith/versions/2", headers=dict(HEADERS))
    assert r.status_code == 404 and "version '2'" in r.json()["error"]


def test_a_failing_node_is_500_naming_it(client):
    with pytest.raises(InferenceServerException) as exc:
        infer(client, "boom", [tensor("x", np.array([1.0]), "FP64")])
    assert exc.value.status() == "500" and "kaboom" in exc.value.message()


def test_api_keys_as_on_the_native_routes(server):
    c = httpclient.InferenceServerClient(server.http)
    try:
        assert c.is_server_ready()  # health needs no key
        with pytest.raises(InferenceServerException) as exc:
            c.get_model_metadata("arith")
        assert exc.value.status() == "401"
        with pytest.raises(InferenceServerException):
            c.infer("arith", [tensor("a", np.array([1.0]), "FP64")], headers={"Authorization": "Bearer wrong"})
        ok = c.infer("arith", [tensor("a", np.array([1.0]), "FP64"), tensor("b", np.array([1.0]), "FP64")],
                     headers={"X-API-Key": KEY})
        assert ok.as_numpy("doubled").tolist() == [4.0]
    finally:
        c.close()


def test_runs_are_counted_in_the_metrics(server, client):
    def count() -> float:
        text = httpx.get(server.base + "/metrics", headers=dict(HEADERS)).text
        line = [x for x in text.splitlines() if x.startswith('modulespack_requests_total{graph="arith",status="200"}')]
        return float(line[0].split()[-1]) if line else 0.0
    before = count()
    infer(client, "arith", [tensor("a", np.array([1.0]), "FP64"), tensor("b", np.array([1.0]), "FP64")])
    assert count() == before + 1


def test_not_ready_is_503_until_warm(graph_dir):
    """An app whose engines have not started (mounted, no lifespan yet): the first readiness call
    starts them and says 503 {"ready": false}."""
    from fastapi.testclient import TestClient

    from modulespack.serve import create_app

    app = create_app(graph_dir / "arith.yaml")
    try:
        r = TestClient(app).get("/v2/health/ready")
        assert (r.status_code, r.json()) == (503, {"ready": False})
    finally:
        app.state.modulespack.shutdown()
