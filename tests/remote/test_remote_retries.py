"""The remote node's endpoints against small V2 stand-ins (HTTP and gRPC, standin.py): balancing,
what is retried when, an endpoint taken out and brought back, every endpoint down, time-outs.
MLServer itself is in test_remote_v2.py; these need no subprocess and can make a server slow."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("tritonclient.http")
pytest.importorskip("tritonclient.grpc")

from standin import double_graph, grpc_standin, v2_standin

from modulespack.core import GraphError, InputError, NodeError, Session, Unavailable
from modulespack.core.spec import load_graph
from modulespack.remote.node import RemoteModel

X = np.arange(5, dtype=np.float32)
START = {"v2-http": v2_standin, "v2-grpc": grpc_standin}


@pytest.fixture(params=["v2-http", "v2-grpc"])
def servers(request):
    made = [START[request.param]() for _ in range(2)]
    yield request.param, made
    for s in made:
        s.stop()


def session(protocol, servers, **params):
    return Session(load_graph(double_graph(protocol, [s.address for s in servers], **params)))


def until(fn, seconds=10.0):
    """fn() once it stops raising, within a bounded number of tries."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_answers_like_the_model_and_round_robin_spreads_the_load(servers):
    protocol, (a, b) = servers
    s = session(protocol, (a, b))
    try:
        for _ in range(10):
            np.testing.assert_array_equal(s.run({"x": X})["y"], 2 * X + 1)
        assert (a.calls, b.calls) == (5, 5)
    finally:
        s.close()


def test_concurrent_runs_share_one_node(servers):
    protocol, (a, b) = servers
    s = session(protocol, (a, b), balance="least_outstanding")
    try:
        xs = [np.full(7, i, np.float32) for i in range(40)]
        with ThreadPoolExecutor(8) as pool:
            ys = list(pool.map(lambda x: s.run({"x": x})["y"], xs))
        for x, y in zip(xs, ys):
            np.testing.assert_array_equal(y, 2 * x + 1)
        assert a.calls + b.calls == 40 and a.calls and b.calls
    finally:
        s.close()


def test_an_endpoint_down_is_skipped_then_both_down_is_unavailable_then_it_recovers(servers):
    protocol, (a, b) = servers
    s = session(protocol, (a, b), balance="random")
    try:
        a.stop()
        for _ in range(6):  # not retried-then-failed: refused connections go to the other endpoint
            np.testing.assert_array_equal(s.run({"x": X})["y"], 2 * X + 1)
        b.stop()
        with pytest.raises(NodeError) as e:
            s.run({"x": X})
        assert isinstance(e.value.cause, Unavailable)
        assert "'net'" in str(e.value) and a.address in str(e.value) and b.address in str(e.value)
        assert 0 < e.value.cause.retry_after <= 5
        b.start()
        np.testing.assert_array_equal(until(lambda: s.run({"x": X})["y"]), 2 * X + 1)
    finally:
        s.close()


def test_a_request_lost_with_its_server_is_retried_only_when_idempotent():
    # HTTP: the stand-in cuts open connections when stopped, as a killed server would
    a, b = v2_standin(), v2_standin()
    try:
        for idempotent in (False, True):
            a.delay = 0.5
            s = Session(load_graph(double_graph("v2-http", [a.address, b.address], idempotent=idempotent)))
            try:
                calls_b = b.calls
                t = threading.Timer(0.2, a.stop)
                t.start()
                if idempotent:
                    np.testing.assert_array_equal(s.run({"x": X})["y"], 2 * X + 1)
                    assert b.calls == calls_b + 1
                else:
                    with pytest.raises(NodeError, match="not retried") as e:
                        s.run({"x": X})
                    assert a.address in str(e.value) and b.calls == calls_b
                t.join()
            finally:
                s.close()
            a.delay = 0
            a.start()
    finally:
        a.stop()
        b.stop()


def test_a_timeout_names_the_node_and_the_endpoint(servers):
    protocol, (a, b) = servers
    b.stop()
    a.delay = 1.0
    s = session(protocol, (a,), timeout=0.3)
    try:
        with pytest.raises(NodeError) as e:
            s.run({"x": X})
        assert isinstance(e.value.cause, TimeoutError)
        assert "'net'" in str(e.value) and a.address in str(e.value) and "0.3 s" in str(e.value)
    finally:
        a.delay = 0
        s.close()


def test_a_503_goes_to_the_other_endpoint_and_takes_the_first_out():
    a, b = v2_standin(), v2_standin()
    a.fail_status = 503
    m = RemoteModel("v2-http", [a.address, b.address], "double", {"x": {"dtype": "float32", "shape": [-1]}},
                    {"y": {"dtype": "float32", "shape": [-1]}}, timeout=2)
    try:
        np.testing.assert_array_equal(m.run(x=X)["y"], 2 * X + 1)  # round robin starts with a
        assert (a.calls, b.calls) == (1, 1)
        assert m.pool.eps[0].down_since is not None and "HTTP 503" in m.pool.eps[0].last_error
    finally:
        m.close()
        a.stop()
        b.stop()


def test_a_host_that_never_accepts_is_taken_out_and_the_request_goes_on():
    """A connect time-out (a host that drops SYNs: here a listener whose queue is full) sent nothing:
    the request goes to the other endpoint even for a model not marked idempotent."""
    import socket
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    filler = socket.create_connection(hole.getsockname())  # fills the queue: later SYNs are dropped
    b = v2_standin()
    m = RemoteModel("v2-http", [f"127.0.0.1:{hole.getsockname()[1]}", b.address], "double",
                    {"x": {"dtype": "float32", "shape": [-1]}}, {"y": {"dtype": "float32", "shape": [-1]}}, timeout=0.5)
    try:
        np.testing.assert_array_equal(m.run(x=X)["y"], 2 * X + 1)  # round robin starts with the hole
        assert b.calls == 1 and "cannot connect within 0.5 s" in m.pool.eps[0].last_error
    finally:
        m.close()
        b.stop()
        filler.close()
        hole.close()


def test_a_server_error_is_not_retried_unless_idempotent():
    a, b = v2_standin(), v2_standin()
    a.fail_status = 500
    try:
        m = RemoteModel("v2-http", [a.address, b.address], "double", {"x": {"dtype": "float32", "shape": [-1]}},
                        {"y": {"dtype": "float32", "shape": [-1]}}, timeout=2)
        with pytest.raises(RuntimeError, match="HTTP 500.*not retried"):
            m.run(x=X)
        m.close()
        m = RemoteModel("v2-http", [a.address, b.address], "double", {"x": {"dtype": "float32", "shape": [-1]}},
                        {"y": {"dtype": "float32", "shape": [-1]}}, timeout=2, idempotent=True)
        np.testing.assert_array_equal(m.run(x=X)["y"], 2 * X + 1)
        m.close()
    finally:
        a.stop()
        b.stop()


def test_wrong_input_is_refused_before_anything_is_sent(servers):
    protocol, (a, b) = servers
    m = RemoteModel(protocol, [a.address, b.address], "double", {"x": {"dtype": "float32", "shape": [-1]}},
                    {"y": {"dtype": "float32", "shape": [-1]}})
    try:
        for bad, why in ((X.astype(np.float64), "float64"), (X.reshape(1, 5), "rank"), ("text", "str")):
            with pytest.raises(InputError, match=why) as e:
                m.run(x=bad)
            assert e.value.port == "x"
        assert a.calls + b.calls == 0
    finally:
        m.close()


def test_tensors_that_disagree_with_the_server_stop_the_start(servers):
    protocol, (a, b) = servers
    g = double_graph(protocol, [a.address], inputs={"x": {"dtype": "float32", "shape": [-1, 80]}})
    g["inputs"]["x"]["shape"] = [None, 80]
    with pytest.raises(GraphError) as e:
        Session(load_graph(g))
    msg = str(e.value)
    assert "node 'net'" in msg and "tensor 'x'" in msg and "[-1, 80]" in msg and "[-1]" in msg
    g = double_graph(protocol, [a.address], outputs={"z": {"dtype": "float32", "shape": [-1]}})
    g["outputs"] = {"z": "net/z"}
    with pytest.raises(GraphError, match=r"output tensor 'z'.*no such output \(it has: y\)"):
        Session(load_graph(g))


def test_no_server_at_start_is_no_error_and_the_node_works_once_one_comes(servers):
    protocol, (a, b) = servers
    a.stop()
    b.stop()
    s = session(protocol, (a, b))
    try:
        with pytest.raises(NodeError):
            s.run({"x": X})
        a.start()
        np.testing.assert_array_equal(until(lambda: s.run({"x": X})["y"]), 2 * X + 1)
    finally:
        s.close()


def test_an_endpoint_back_takes_requests_again_while_the_other_serves(servers):
    protocol, (a, b) = servers
    s = session(protocol, (a, b))
    try:
        a.stop()
        for _ in range(4):
            s.run({"x": X})
        a.start()
        before = a.calls
        deadline = time.monotonic() + 10
        while a.calls == before:  # probed in the background by the runs going to b
            assert time.monotonic() < deadline, "the endpoint that came back gets no requests"
            s.run({"x": X})
            time.sleep(0.02)
    finally:
        s.close()


def test_threads_that_come_and_go_leave_no_clients_behind():
    a = v2_standin()
    m = RemoteModel("v2-http", [a.address], "double", {"x": {"dtype": "float32", "shape": [-1]}},
                    {"y": {"dtype": "float32", "shape": [-1]}})
    try:
        for _ in range(5):
            t = threading.Thread(target=m.run, kwargs={"x": X})
            t.start()
            t.join()
        m.run(x=X)
        assert len(m.transports[0]._clients) == 1  # this thread's; the ended threads' were closed
    finally:
        m.close()
        a.stop()


def test_retries_caps_only_re_sends_of_requests_the_server_may_have_run():
    a, b = v2_standin(), v2_standin()
    io = ({"x": {"dtype": "float32", "shape": [-1]}}, {"y": {"dtype": "float32", "shape": [-1]}})
    try:
        a.stop()  # refused: never received, so it moves on even with retries 0
        m = RemoteModel("v2-http", [a.address, b.address], "double", *io, retries=0)
        np.testing.assert_array_equal(m.run(x=X)["y"], 2 * X + 1)
        m.close()
        a.start()
        a.fail_status = 500
        m = RemoteModel("v2-http", [a.address, b.address], "double", *io, retries=0, idempotent=True)
        with pytest.raises(RuntimeError, match="HTTP 500.*sent 1 times"):
            m.run(x=X)
        assert b.calls == 1
        m.close()
    finally:
        a.stop()
        b.stop()
