"""The web app under trouble: worker processes killed or hung, graph files edited after start-up, nodes
on the Session's own threads at a timeout, deeply nested JSON, audio sent as samples, and who may
read the API docs."""
from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import textwrap
import threading
import time

import pytest
from fastapi.testclient import TestClient

from modulespack.serve import create_app

READY_S = 60  # worker processes spawn and build their Sessions within this


def write_graphs(graph_dir, folder, **graphs: str):
    """Graph files in `folder` (dedented), beside a link to the test modules (module_paths: [modules])."""
    if not (folder / "modules").exists():
        (folder / "modules").symlink_to(graph_dir / "modules")
    paths = []
    for name, text in graphs.items():
        path = folder / f"{name}.yaml"
        path.write_text(textwrap.dedent(text))
        paths.append(path)
    return paths


def wait_ready(c: TestClient) -> None:
    deadline = time.monotonic() + READY_S
    while (r := c.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)


def children() -> set[int]:
    return {p.pid for p in multiprocessing.active_children()}


def wait_gone(pid: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while pid in children():
        assert time.monotonic() < deadline, f"process {pid} is still alive"
        time.sleep(0.05)


SLOW = """
    name: slow
    module_paths: [modules]
    inputs: {x: float}
    nodes:
      - {name: slow, module: Slow, params: {seconds: 0.0}, inputs: {x: $x}}
    outputs: {y: slow/y}
"""

# two branches: the Session sends the first, `stuck`, to its own thread pool (its cost is not known
# yet) and runs the last ready one, `quick`, on the calling thread
HANG = """
    name: hang
    module_paths: [modules]
    inputs: {x: float}
    nodes:
      - {name: stuck, module: Slow, params: {seconds: %s}, inputs: {x: $x}}
      - {name: quick, module: Slow, params: {seconds: 0.0}, inputs: {x: $x}}
    outputs: {a: quick/y, b: stuck/y}
"""


# ---------------------------------------------------------------------------- process executor


def wait_replaced(app, victim: int, n: int, seconds: float = READY_S) -> list[int]:
    """The worker pids once `victim` is gone and `n` workers run again."""
    deadline = time.monotonic() + seconds
    while True:
        pids = app.state.modulespack.graphs["slow"].engine.worker_pids()
        if victim not in pids and len(pids) == n:
            return pids
        assert time.monotonic() < deadline, pids
        time.sleep(0.05)


def test_only_a_killed_idle_worker_is_replaced(graph_dir, tmp_path):
    paths = write_graphs(graph_dir, tmp_path, slow=SLOW)
    app = create_app(paths, executor="process", process_workers=2, timeout_s=20)
    with TestClient(app) as c:
        wait_ready(c)
        assert c.post("/graphs/slow/run", json={"x": 1}).status_code == 200
        # a worker is killed while idle (kill -9, the OOM killer): no run noticed
        victim, other = app.state.modulespack.graphs["slow"].engine.worker_pids()
        os.kill(victim, signal.SIGKILL)
        wait_gone(victim)
        r = c.get("/readyz")
        assert r.status_code == 200, r.text  # the other worker serves meanwhile
        for x in (1, 2, 3):  # at once: the other worker takes them
            r = c.post("/graphs/slow/run", json={"x": x})
            assert r.status_code == 200, r.text
            assert r.json()["outputs"]["y"] == x
        pids = wait_replaced(app, victim, 2)
        assert other in pids  # the other worker was left alone

        # again, both killed: a run waits for a new worker rather than fail
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        r = c.post("/graphs/slow/run", json={"x": 4})
        assert r.status_code == 200, r.text
        assert c.post("/graphs/slow/run", json={"x": 5}).json()["outputs"]["y"] == 5


def test_process_workers_run_the_validated_spec_not_the_edited_file(graph_dir, tmp_path):
    (path,) = write_graphs(graph_dir, tmp_path, slow=SLOW)
    app = create_app(path, executor="process", process_workers=1, timeout_s=20)
    # the file changes after start-up (a deploy, an editor): what was validated is what runs
    path.write_text(textwrap.dedent("""
        name: slow
        module_paths: [modules]
        inputs: {x: float}
        nodes:
          - {name: slow, module: Slow, params: {seconds: 0.0}, inputs: {x: $x}}
          - {name: kaboom, module: Boom, inputs: {x: slow/y}}
        outputs: {y: kaboom/y}
    """))
    with TestClient(app) as c:
        wait_ready(c)
        r = c.post("/graphs/slow/run", json={"x": 7})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"] == {"y": 7.0} and set(r.json()["timings_ms"]) == {"slow"}
        assert [n["name"] for n in c.get("/graphs/slow").json()["nodes"]] == ["slow"]


def test_a_hung_process_run_is_killed_and_other_runs_go_on(graph_dir, tmp_path):
    before = children()
    paths = write_graphs(graph_dir, tmp_path, slow=SLOW, hang=HANG % 60)
    app = create_app(paths, executor="process", process_workers=1, timeout_s=1.0)
    with TestClient(app) as c:
        wait_ready(c)
        assert c.post("/graphs/slow/run", json={"x": 1}).status_code == 200
        (worker,) = app.state.modulespack.graphs["hang"].engine.worker_pids()   # an engine, so a pool, per graph
        assert worker in children() - before
        hung = c.post("/graphs/hang/run", json={"x": 1})
        assert hung.status_code == 504, hung.text
        wait_gone(worker)  # killed: it would have held the only worker for 60 s
        wait_ready(c)
        for x in (1, 2):
            r = c.post("/graphs/slow/run", json={"x": x})
            assert r.status_code == 200, r.text
        # the node ran on the worker's Session thread pool, and is named
        assert hung.json()["node"] == "stuck" and hung.json()["node_state"] == "running", hung.text
        assert "running node 'stuck'" in hung.json()["error"]


def test_a_hung_run_does_not_take_down_the_runs_beside_it(graph_dir, tmp_path):
    paths = write_graphs(graph_dir, tmp_path, hang=HANG % 60, medium=HANG.replace("name: hang", "name: medium") % 1.5)
    app = create_app(paths, executor="process", process_workers=2, timeout_s=2.0)
    with TestClient(app) as c:
        wait_ready(c)
        out = {}

        def medium():  # in flight on the other worker when the hung run times out
            time.sleep(1.0)
            out["medium"] = c.post("/graphs/medium/run", json={"x": 2})

        t = threading.Thread(target=medium)
        t.start()
        r = c.post("/graphs/hang/run", json={"x": 1})
        t.join(30)
        assert r.status_code == 504, r.text
        assert out["medium"].status_code == 200, out["medium"].text  # not killed with the hung worker
        assert out["medium"].json()["outputs"] == {"a": 2.0, "b": 2.0}


# ---------------------------------------------------------------------------- thread executor


def test_timeout_names_a_node_on_the_sessions_thread_pool(graph_dir, tmp_path):
    paths = write_graphs(graph_dir, tmp_path, hang=HANG % 3)
    with TestClient(create_app(paths, timeout_s=0.5)) as c:
        r = c.post("/graphs/hang/run", json={"x": 1})
        assert r.status_code == 504, r.text
        assert r.json()["node"] == "stuck" and r.json()["node_state"] == "running", r.json()
        assert "running node 'stuck'" in r.json()["error"]


# ---------------------------------------------------------------------------- input limits


def test_deeply_nested_json_is_422_not_500(client, caplog):
    deep = "[" * 5000 + "]" * 5000
    medium = "[" * 500 + "]" * 500        # parses, but is no input anyone means
    caplog.set_level(logging.ERROR, logger="modulespack.serve")
    cases = [
        ("/graphs/arith/run", {"content": "[" * 5000}),
        ("/graphs/arith/run", {"content": '{"a": ' + deep + ', "b": 1}'}),
        ("/graphs/arith/run", {"content": '{"inputs": {"a": 1, "b": 2}, "fetch": ' + deep + "}"}),
        ("/graphs/kinds/run", {"content": json.dumps({"text": "x", "n": 1, "flag": True, "m": [[1, 2, 3]],
                                                      "v": [1], "anything": 0})[:-2] + medium + "}"}),
        ("/graphs/arith/run?fetch=" + deep, {"json": {"a": 1, "b": 2}}),
        ("/graphs/kinds/run?m=" + deep, {"json": {"text": "x", "n": 1, "flag": True, "v": [1], "anything": 0}}),
        ("/graphs/kinds/run?anything=" + medium, {"json": {"text": "x", "n": 1, "flag": True, "m": [[1, 2, 3]],
                                                          "v": [1]}}),
    ]
    for url, kw in cases:
        headers = {"Content-Type": "application/json"} if "content" in kw else None
        r = client.post(url, headers=headers, **kw)
        assert r.status_code == 422, (url, r.text[:300])
        assert "nested" in r.json()["error"] or "invalid JSON" in r.json()["error"], r.text[:300]
    r = client.post("/graphs/arith/run", files={"inputs": (None, '{"a": ' + deep + "}")})
    assert r.status_code == 422 and r.json()["port"] == "inputs", r.text[:300]
    r = client.get("/graphs/arith/diagram", params={"timings": deep, "format": "dot"})
    assert r.status_code == 422, r.text[:300]
    assert not caplog.records, [rec.getMessage()[:200] for rec in caplog.records]
    # a normal nesting still works
    r = client.post("/graphs/kinds/run", json={"text": "x", "n": 1, "flag": True, "m": [[1, 2, 3]], "v": [1],
                                                "anything": {"a": [[[[1]]]]}})
    assert r.status_code == 200 and r.json()["outputs"]["anything"] == {"a": [[[[1]]]]}


def test_audio_as_a_list_of_samples_obeys_max_audio_seconds(graph_dir):
    c = TestClient(create_app(graph_dir / "gain.yaml", max_audio_seconds=1))
    r = c.post("/graphs/gain/run", json={"wav": [0.0] * 16000, "sr": 8000})     # 2 s at 8 kHz
    assert r.status_code == 413, r.text[:300]
    assert r.json()["port"] == "wav" and "limit is 1 s" in r.json()["error"]
    r = c.post("/graphs/gain/run", json={"wav": [0.0] * 4000, "sr": 8000})      # 0.5 s
    assert r.status_code == 200 and r.json()["outputs"]["wav"]["seconds"] == 0.5
    r = c.post("/graphs/gain/run", json={"inputs": {"wav": [0.0] * 20000}})     # no rate: 16 kHz is assumed
    assert r.status_code == 413 and r.json()["port"] == "wav", r.text
    r = c.post("/graphs/gain/run", json={"wav": [0.0] * 9000, "sr": 8000.0})    # 1.1 s
    assert r.status_code == 413 and "9000 samples at 8000 Hz" in r.json()["error"], r.text


@pytest.mark.parametrize("ctype, start", [
    ("application/json", b'{"inputs": {"a": 1,'),
    ("multipart/form-data; boundary=xyz", b'--xyz\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--xy'),
])
def test_a_client_that_leaves_during_the_upload_is_499_not_500(graph_dir, caplog, ctype, start):
    import asyncio
    app = create_app(graph_dir / "arith.yaml")
    messages = [{"type": "http.request", "body": start, "more_body": True}, {"type": "http.disconnect"}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}
    sent = []

    async def send(message):
        sent.append(message)
    scope = {"type": "http", "http_version": "1.1", "method": "POST", "path": "/graphs/arith/run",
             "raw_path": b"/graphs/arith/run", "query_string": b"", "root_path": "", "scheme": "http",
             "headers": [(b"host", b"127.0.0.1:8000"), (b"content-type", ctype.encode())],
             "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5555)}
    caplog.set_level(logging.WARNING)
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 499
    assert json.loads(sent[1]["body"])["kind"] == "disconnected"
    assert not caplog.records, [rec.getMessage()[:200] for rec in caplog.records]   # no stack trace
    metrics = app.state.modulespack.metrics.render()
    metrics = metrics.decode() if isinstance(metrics, bytes) else metrics
    assert 'modulespack_errors_total{graph="arith",kind="disconnected",status="499"} 1.0' in metrics


def test_stopping_an_app_stops_only_its_own_programs(graph_dir):
    """Another app (or anything else) in the same process keeps its programs: the app cancels its
    own runs, whose tokens kill what they started, and nothing more."""
    from modulespack.core import CancelToken, Cancelled
    from modulespack.core.cancel import CURRENT
    from modulespack.core.proc import live_pids, run_process
    token = CancelToken()

    def elsewhere():
        CURRENT.set(token)
        try:
            run_process(["sleep", "60"])
        except Cancelled:
            pass
    t = threading.Thread(target=elsewhere)
    t.start()
    try:
        deadline = time.monotonic() + 10
        while not live_pids():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        theirs = live_pids()
        with TestClient(create_app(graph_dir / "arith.yaml")) as c:
            assert c.post("/graphs/arith/run", json={"a": 1, "b": 2}).status_code == 200
        assert set(theirs) <= set(live_pids()) and t.is_alive()
    finally:
        token.cancel("the test is over")
        t.join(10)
    assert not t.is_alive() and not live_pids()


# ---------------------------------------------------------------------------- docs


def test_docs_need_the_key_by_default_when_keys_are_set(graph_dir):
    c = TestClient(create_app(graph_dir / "arith.yaml", api_keys=["k"]))
    for path in ("/docs", "/openapi.json"):
        assert c.get(path).status_code == 401, path
        assert c.get(path, headers={"X-API-Key": "k"}).status_code == 200, path
    c = TestClient(create_app(graph_dir / "arith.yaml", api_keys=["k"], docs_public=True))
    assert c.get("/openapi.json").status_code == 200 and c.get("/docs").status_code == 200
    assert c.get("/graphs").status_code == 401
    c = TestClient(create_app(graph_dir / "arith.yaml"))                      # no keys: all public
    assert c.get("/openapi.json").status_code == 200


def test_cli_public_docs_option(graph_dir):
    import argparse

    from modulespack.serve.cli import add_parser, options_from_args
    p = add_parser(argparse.ArgumentParser().add_subparsers())
    assert options_from_args(p.parse_args([str(graph_dir), "--api-key", "k"]))["docs_public"] is False
    assert options_from_args(p.parse_args([str(graph_dir), "--api-key", "k", "--public-docs"]))["docs_public"] is True
