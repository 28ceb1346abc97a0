"""`protocol: tfserving-rest` against a stand-in that follows TF-Serving's documented REST API
(standin.py; https://www.tensorflow.org/tfx/serving/api_rest). TF-Serving itself is not
installable here: its server is a C++ binary (Docker or apt from Google's repository, neither
reachable) and its Python API package needs all of tensorflow."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("httpx")

from standin import _TFHandler, double_graph, tfserving_standin

from modulespack.core import GraphError, InputError, NodeError, Session, Unavailable
from modulespack.core.spec import load_graph
from modulespack.remote.node import RemoteModel

X = np.arange(6, dtype=np.float32)


@pytest.fixture
def servers():
    made = [tfserving_standin(), tfserving_standin()]
    yield made
    for s in made:
        s.stop()


def test_columnar_predict_gives_the_models_answer(servers):
    s = Session(load_graph(double_graph("tfserving-rest", [x.address for x in servers])))
    try:
        for _ in range(4):
            np.testing.assert_array_equal(s.run({"x": X})["y"], 2 * X + 1)
        assert [x.calls for x in servers] == [2, 2]
    finally:
        s.close()


def test_row_format_sends_instances_and_reads_predictions(servers, monkeypatch):
    seen = []
    body = _TFHandler.body
    monkeypatch.setattr(_TFHandler, "body", lambda self: seen.append(body(self)) or seen[-1])
    m = RemoteModel("tfserving-rest", [servers[0].address], "double",
                    {"x": {"dtype": "float32", "shape": [-1, 3]}}, {"y": {"dtype": "float32", "shape": [-1, 3]}},
                    request_format="row", signature="serving_default")
    try:
        x = X.reshape(2, 3)
        np.testing.assert_array_equal(m.run(x=x)["y"], 2 * x + 1)
        assert seen[-1] == {"signature_name": "serving_default", "instances": [{"x": [0, 1, 2]}, {"x": [3, 4, 5]}]}
    finally:
        m.close()


def test_every_endpoint_down_is_unavailable_and_one_back_recovers(servers):
    s = Session(load_graph(double_graph("tfserving-rest", [x.address for x in servers])))
    try:
        for x in servers:
            x.stop()
        with pytest.raises(NodeError) as e:
            s.run({"x": X})
        assert isinstance(e.value.cause, Unavailable) and all(x.address in str(e.value) for x in servers)
        servers[0].start()
        deadline = time.monotonic() + 10
        while True:
            try:
                np.testing.assert_array_equal(s.run({"x": X})["y"], 2 * X + 1)
                break
            except NodeError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        s.close()


def test_a_bad_request_answer_is_not_retried_and_says_what_the_server_said(servers):
    servers[0].fail_status = 400
    servers[1].fail_status = 400
    m = RemoteModel("tfserving-rest", [x.address for x in servers], "double",
                    {"x": {"dtype": "float32", "shape": [-1]}}, {"y": {"dtype": "float32", "shape": [-1]}},
                    idempotent=True)
    try:
        with pytest.raises(RuntimeError, match="HTTP 400: stand-in set to fail"):
            m.run(x=X)
        assert servers[0].calls + servers[1].calls == 1
    finally:
        m.close()


def test_a_timeout_names_the_endpoint_and_is_retried_when_idempotent(servers):
    servers[0].delay = 1.0
    params = dict(protocol="tfserving-rest", endpoints=[x.address for x in servers], model="double",
                  inputs={"x": {"dtype": "float32", "shape": [-1]}}, outputs={"y": {"dtype": "float32", "shape": [-1]}},
                  timeout=0.3)
    m = RemoteModel(**params)
    try:
        with pytest.raises(TimeoutError, match=servers[0].address):
            m.run(x=X)  # round robin starts with the slow one
    finally:
        m.close()
    m = RemoteModel(**params, idempotent=True)
    try:
        np.testing.assert_array_equal(m.run(x=X)["y"], 2 * X + 1)
    finally:
        m.close()
        servers[0].delay = 0


def test_the_signature_is_checked_at_start_and_inputs_before_sending(servers, monkeypatch):
    g = double_graph("tfserving-rest", [servers[0].address], inputs={"x": {"dtype": "int64", "shape": [-1]}})
    g["inputs"]["x"]["dtype"] = "int64"
    with pytest.raises(GraphError, match=r"node 'net'.*tensor 'x'.*INT64 in the graph file, FP32 on the server"):
        Session(load_graph(g))
    m = RemoteModel("tfserving-rest", [servers[0].address], "double", {"x": {"dtype": "float32", "shape": [3]}},
                    {"y": {"dtype": "float32", "shape": [3]}})
    try:
        with pytest.raises(InputError, match="size 3") as e:
            m.run(x=X)
        assert e.value.port == "x" and servers[0].calls == 0
    finally:
        m.close()
