"""RayEngine on the session's local Ray (2 CPUs): results, core errors, cancel, killed actors."""
from __future__ import annotations

import operator
import os
import signal
import time
from pathlib import Path

import pytest

from modulespack.core import Cancelled, FeedError, NodeInputError, build_graph
from modulespack.engines.base import EngineError, WorkerDied


pytest.importorskip("ray", reason="the ray extra is not installed")
from modulespack.engines.ray import RayEngine, graph_resources  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"
WAIT_S = 60  # an upper bound for things that take a second or two, not a timing check


@pytest.fixture(scope="module")
def graphs(ray_test_graphs):
    return ray_test_graphs


def wait_until(check, what: str):
    end = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_runs_and_core_errors(ray_session):
    warm_up = operator.methodcaller("run", {"a": "not a number", "b": 2})  # picklable by reference
    with RayEngine(build_graph(EXAMPLES / "arith.yaml"), workers=2, warm_up=warm_up) as eng:
        assert eng.wait_ready(WAIT_S)
        assert "graph input 'a'" in eng.health()["warm_up_error"]  # reported; the graph still runs
        assert eng.run({"a": 1, "b": 2}).outputs == {"result": 1, "doubled": 6.0}
        assert eng.run({"a": -4.5, "b": 0.5}, ("doubled",)).outputs == {"doubled": -8.0}
        with pytest.raises(FeedError, match="graph input 'a'"):
            eng.run({"a": "x", "b": 2})
        assert eng.health()["kind"] == "ray" and eng.ready()
    with pytest.raises(EngineError, match="closed"):
        eng.submit({"a": 1, "b": 2})


def test_tts_and_input_error(ray_session):
    with RayEngine(build_graph(EXAMPLES / "tts.yaml"), workers=1) as eng:
        res = eng.run({"text": "hello there."})
        assert res["sr"] == 16000 and res["wav"].dtype.name == "float32" and len(res["wav"]) > 1000
        with pytest.raises(NodeInputError) as err:
            eng.run({"text": ""})
        assert err.value.inputs == ("text",) and err.value.node == "flite"


def test_cancel_running_and_queued(ray_session, graphs):
    with RayEngine(build_graph(graphs["nap"]), workers=1) as eng:
        first = eng.submit({"x": 120.0})
        second = eng.submit({"x": 0.0})          # waits: the only actor has the first run
        wait_until(lambda: first.running() == "nap", "the run to be in node 'nap'")
        assert second.running() is None
        second.cancel("not wanted")
        with pytest.raises(Cancelled, match="not wanted"):
            second.result(WAIT_S)
        first.cancel("timed out")
        with pytest.raises(Cancelled, match="timed out"):
            first.result(WAIT_S)
        assert eng.run({"x": 0.5}, timeout=WAIT_S)["y"] == 0.5   # the actor goes on


def test_close_stops_runs_and_leaves_the_users_ray(ray_session, graphs):
    eng = RayEngine(build_graph(graphs["nap"]), workers=1)
    eng.start()
    running, waiting = eng.submit({"x": 120.0}), eng.submit({"x": 0.0})
    wait_until(lambda: running.running() == "nap", "the run to start")
    eng.close()
    with pytest.raises(Cancelled, match="closed"):
        running.result(WAIT_S)
    with pytest.raises(EngineError, match="closed before the run started"):
        waiting.result(WAIT_S)
    eng.close()  # idempotent
    assert ray_session.is_initialized()


def test_hung_run_cancelled_kills_its_actor(ray_session, graphs):
    with RayEngine(build_graph(graphs["deaf"]), workers=1) as eng:
        wait_until(eng.ready, "the actor")
        pid = eng.worker_pids()[0]
        run = eng.submit({"x": 1.0})
        wait_until(lambda: run.running() == "deaf", "the run to start")
        run.cancel("shutting down")
        with pytest.raises(Cancelled, match="shutting down"):
            run.result(WAIT_S)
        wait_until(lambda: eng.worker_pids()[0] not in (None, pid), "the actor to be restarted")


def test_killed_actor_loses_no_run(ray_session, graphs):
    with RayEngine(build_graph(graphs["nap"]), workers=2) as eng:
        wait_until(lambda: all(eng.worker_pids()), "both actors")
        runs = [eng.submit({"x": 2.0 if i < 2 else 0.2}) for i in range(6)]
        wait_until(lambda: runs[0].running() == "nap" and runs[1].running() == "nap", "two runs in progress")
        victim = eng.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        done, died = 0, 0
        for r in runs:
            try:
                assert r.result(WAIT_S)["y"] in (2.0, 0.2)
                done += 1
            except WorkerDied as e:
                assert "died" in str(e)
                died += 1
        assert died == 1 and done == 5  # only the run on the killed actor failed; the waiting ones ran
        wait_until(lambda: eng.worker_pids()[0] not in (None, victim), "the killed actor to come back")
        assert eng.run({"x": 0.0}, timeout=WAIT_S)["y"] == 0.0


def test_graph_that_cannot_be_set_up_in_the_actors(ray_session, graphs):
    with RayEngine(build_graph(graphs["broken"]), workers=1) as eng:
        assert not eng.wait_ready(WAIT_S)
        assert "model.bin is missing" in eng.health()["error"]
        with pytest.raises(EngineError, match="model.bin is missing"):
            eng.submit({"x": 1.0})


def test_actor_resources_from_the_graph(graphs):
    g = build_graph(graphs["nap"])
    assert graph_resources(g) == {"num_cpus": 1.0}  # the module declares nothing: the defaults
    node = g.nodes["nap"]
    old = node.resources
    node.resources = {**old, "num_cpus": 1.5, "num_gpus": 0, "memory_mb": 100}
    try:
        assert graph_resources(g) == {"num_cpus": 1.5, "memory": 100 * 1024 * 1024}
    finally:
        node.resources = old


def _held_start(monkeypatch):
    """Make RayEngine.start wait in acquire_ray until the returned event is set (Ray is slow to
    connect: what arrives meanwhile must not fail)."""
    import threading

    from modulespack.engines import ray as ray_engine
    go, inside = threading.Event(), threading.Event()
    real = ray_engine.acquire_ray

    def held(*args, **kw):
        inside.set()
        assert go.wait(WAIT_S)
        real(*args, **kw)
    monkeypatch.setattr(ray_engine, "acquire_ray", held)
    return go, inside


def test_a_run_submitted_while_the_engine_starts_waits_for_its_actors(ray_session, monkeypatch):
    import threading
    go, inside = _held_start(monkeypatch)
    eng = RayEngine(build_graph(EXAMPLES / "arith.yaml"), workers=1)
    starting = threading.Thread(target=eng.start)
    starting.start()
    try:
        assert inside.wait(WAIT_S)
        run = eng.submit({"a": 1, "b": 2})   # no actor exists yet
        go.set()
        assert run.result(WAIT_S)["doubled"] == 6.0
    finally:
        go.set()
        starting.join(WAIT_S)
        eng.close()


def test_close_during_start_leaves_no_actor(ray_session, monkeypatch):
    import threading

    import ray
    eng = RayEngine(build_graph(EXAMPLES / "arith.yaml"), workers=2)
    made = []
    real_new = eng._new_actor

    def new_actor():  # the engine is closed (on another thread) as its first actor is made
        made.append(real_new())
        if len(made) == 1:
            closing = threading.Thread(target=eng.close)
            closing.start()
            closing.join(WAIT_S)
        return made[-1]
    eng._new_actor = new_actor
    eng.start()
    assert len(made) == 1 and not eng.ready() and eng.health()["actors"] == []
    with pytest.raises(ray.exceptions.RayActorError):  # killed, not left running
        ray.get(made[0].info.options(concurrency_group="control").remote(), timeout=WAIT_S)


def test_a_closed_engine_starts_again(ray_session):
    eng = RayEngine(build_graph(EXAMPLES / "arith.yaml"), workers=1)
    for _ in range(2):  # as a server's second lifespan does
        eng.start()
        assert eng.wait_ready(WAIT_S)
        assert eng.run({"a": 1, "b": 2}, timeout=WAIT_S)["doubled"] == 6.0
        eng.close()
        assert not eng.ready()
