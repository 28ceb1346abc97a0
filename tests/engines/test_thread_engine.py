"""The thread engine through the Engine interface: submit, the running node, cancel, close, and the
core's own errors."""
from __future__ import annotations

import pytest

from engine_graphs import wait_for, write
from modulespack.core import Cancelled, FeedError, GraphError, NodeError, NodeInputError
from modulespack.engines import EngineError, make_engine


def test_submit_running_and_result(tmp_path):
    g = write(tmp_path, seconds=1.0)
    with make_engine("thread", g["nap"], workers=2) as eng:
        assert eng.kind == "thread" and eng.ready() and eng.health()["ready"]
        run = eng.submit({"x": 2.0})
        assert wait_for(lambda: run.running() == "nap", 10, "the nap node")
        res = run.result(10)
        assert res.outputs == {"y": 2.0} and set(res.timings) == {"first", "nap", "last"}
        assert run.running() is None


def test_cancel_stops_the_run_with_the_cores_cancelled(tmp_path):
    g = write(tmp_path, seconds=0.5)
    with make_engine("thread", g["nap"], workers=1) as eng:
        first = eng.submit({"x": 1.0})
        queued = eng.submit({"x": 2.0})        # one thread: waits behind the first
        wait_for(lambda: first.running() == "nap", 10, "the nap node")
        queued.cancel("not wanted")
        with pytest.raises(Cancelled, match="not wanted"):
            queued.result(1)                    # settled at once, not after the first run
        first.cancel("stop")
        with pytest.raises(Cancelled, match="stop"):  # stops between nodes: 'last' never runs
            first.result(10)


def test_errors_are_the_cores(tmp_path):
    g = write(tmp_path)
    with make_engine("thread", g["boom"]) as eng:
        with pytest.raises(NodeError, match="ZeroDivisionError") as ei:
            eng.run({"x": 1.0})
        assert ei.value.node == "bang"
        with pytest.raises(FeedError):
            eng.run({})
    with make_engine("thread", g["positive"]) as eng:
        with pytest.raises(NodeInputError) as ei:
            eng.run({"x": -1.0})
        assert ei.value.inputs == ("x",)


def test_close_cancels_and_refuses_new_runs_until_started_again(tmp_path):
    g = write(tmp_path, seconds=1.0)
    eng = make_engine("thread", g["nap"], workers=1)
    eng.start()
    run = eng.submit({"x": 1.0})
    wait_for(lambda: run.running() == "nap", 10, "the nap node")
    eng.close()
    with pytest.raises(Cancelled):
        run.result(10)
    with pytest.raises(EngineError, match="closed"):
        eng.submit({"x": 1.0})
    eng.close()                                  # idempotent
    eng.start()
    assert eng.submit({"x": 3.0}).result(10).outputs == {"y": 3.0}
    eng.close()


def test_only_start_undoes_a_close(tmp_path):
    g = write(tmp_path)
    eng = make_engine("thread", g["nap"], workers=1)
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.wait_ready(1)                        # neither a wait nor a submit restarts it
    with pytest.raises(EngineError, match="closed"):
        eng.submit({"x": 1.0})
    assert eng.session is None
    eng.start()
    try:
        assert eng.wait_ready(10) and eng.run({"x": 2.0}).outputs == {"y": 2.0}
    finally:
        eng.close()


def test_a_module_that_cannot_be_set_up_fails_start_with_a_graph_error(tmp_path):
    (tmp_path / "bad.py").write_text("from modulespack import Module, Port\n"
                                     "class Bad(Module):\n    outputs = {'y': Port('float')}\n"
                                     "    def setup(self):\n        raise OSError('no model file')\n"
                                     "    def run(self):\n        return {'y': 1.0}\n")
    (tmp_path / "bad.yaml").write_text("module_paths: [.]\nnodes: [{name: b, module: Bad}]\noutputs: {y: b/y}\n")
    eng = make_engine("thread", tmp_path / "bad.yaml")
    with pytest.raises(GraphError, match="no model file"):
        eng.start()
    assert not eng.ready() and "no model file" in eng.health()["error"]
    with pytest.raises(EngineError, match="no model file"):
        eng.submit({})
    eng.close()


def test_warm_up_runs_before_ready(tmp_path):
    g = write(tmp_path)
    seen = []
    with make_engine("thread", g["nap"], warm_up=lambda s: seen.append(s.run({"x": 5.0})["y"])) as eng:
        wait_for(eng.ready, 10, "ready")
        assert seen == [5.0]


def test_an_unknown_kind():
    with pytest.raises(ValueError, match="engine is one of thread, local, ray"):
        make_engine("fork", "examples/graphs/arith.yaml")
