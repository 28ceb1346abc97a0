"""The local engine (worker processes) through the Engine interface: submit, the running node,
cancel, close, a worker killed with kill -9 (WorkerDied for its run only), and the core's own
errors coming back from the workers."""
from __future__ import annotations

import multiprocessing
import os
import signal

import pytest

from engine_graphs import wait_for, write
from modulespack.core import Cancelled, FeedError, NodeError, NodeInputError
from modulespack.engines import EngineError, WorkerDied, make_engine


def children() -> set[int]:
    return {p.pid for p in multiprocessing.active_children()}


def test_submit_running_cancel_and_close(tmp_path):
    before = children()
    g = write(tmp_path, seconds=1.0)
    eng = make_engine("local", g["nap"], workers=1)
    eng.start()
    try:
        assert eng.kind == "local" and eng.wait_ready(60) and eng.health()["ready"]
        run = eng.submit({"x": 2.0})
        assert wait_for(lambda: run.running() == "nap", 30, "the nap node (read from the worker's slot)")
        res = run.result(30)
        assert res.outputs == {"y": 2.0} and set(res.timings) == {"first", "nap", "last"}

        first = eng.submit({"x": 1.0})
        queued = eng.submit({"x": 2.0})          # one worker: waits in the parent's queue
        wait_for(lambda: first.running() == "nap", 30, "the nap node")
        queued.cancel("not wanted")
        with pytest.raises(Cancelled, match="not wanted"):
            queued.result(1)
        first.cancel("stop")                     # sent into the worker: stops between nodes
        with pytest.raises(Cancelled, match="stop"):
            first.result(30)
        (pid,) = eng.worker_pids()
        assert eng.submit({"x": 4.0}).result(30).outputs == {"y": 4.0}
        assert eng.worker_pids() == [pid]        # a cancel that stops in time kills no worker
    finally:
        eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.submit({"x": 1.0})
    assert children() <= before


def test_errors_come_back_as_the_cores(tmp_path):
    g = write(tmp_path)
    with make_engine("local", g["boom"], workers=1) as eng:
        with pytest.raises(NodeError, match="ZeroDivisionError: cannot handle 1.0") as ei:
            eng.run({"x": 1.0}, timeout=60)
        assert type(ei.value) is NodeError and ei.value.node == "bang" and "Traceback" in ei.value.traceback
        with pytest.raises(FeedError):
            eng.run({}, timeout=60)
    with make_engine("local", g["positive"], workers=1) as eng:
        with pytest.raises(NodeInputError) as ei:
            eng.run({"x": -1.0}, timeout=60)
        assert ei.value.inputs == ("x",) and ei.value.port == "x"


def test_a_worker_killed_mid_run_fails_only_that_run_with_worker_died(tmp_path):
    mark = tmp_path / "started"
    g = write(tmp_path, seconds=3.0, mark=str(mark))
    with make_engine("local", g["nap"], workers=2) as eng:
        assert eng.wait_ready(60)
        pids = set(eng.worker_pids())
        runs = [eng.submit({"x": float(i)}) for i in range(2)]
        wait_for(lambda: len(eng.busy()) == 2 and all(n == "nap" for n in eng.busy().values()), 30, "two naps")
        victim = sorted(eng.busy())[0]
        os.kill(victim, signal.SIGKILL)
        outcomes = []
        for r in runs:
            try:
                outcomes.append(r.result(60).outputs["y"])
            except WorkerDied as e:
                outcomes.append(e)
        died = [o for o in outcomes if isinstance(o, WorkerDied)]
        assert len(died) == 1 and f"pid {victim}" in str(died[0])
        wait_for(lambda: len(eng.worker_pids()) == 2 and victim not in eng.worker_pids(), 60, "a replacement")
        assert pids - {victim} <= set(eng.worker_pids())     # only the dead one was replaced
        assert eng.run({"x": 7.0}, timeout=60).outputs == {"y": 7.0}


def test_a_worker_that_cannot_build_the_graph_is_an_engine_error(tmp_path):
    (tmp_path / "bad.py").write_text("from modulespack import Module, Port\n"
                                     "class Bad(Module):\n    outputs = {'y': Port('float')}\n"
                                     "    def setup(self):\n        raise OSError('no model file')\n"
                                     "    def run(self):\n        return {'y': 1.0}\n")
    (tmp_path / "bad.yaml").write_text("module_paths: [.]\nnodes: [{name: b, module: Bad}]\noutputs: {y: b/y}\n")
    with make_engine("local", tmp_path / "bad.yaml", workers=1) as eng:
        assert not eng.wait_ready(60)
        assert "no model file" in eng.health()["error"]
        with pytest.raises(EngineError, match="no model file"):
            eng.submit({})


KILLED_PARENT = """
import os, sys
from modulespack.engines import make_engine
if __name__ == "__main__":
    e = make_engine("local", sys.argv[1], workers=1)
    assert e.wait_ready(60)
    print(e.worker_pids()[0], flush=True)
    os.kill(os.getpid(), 9)
"""


def test_workers_of_a_parent_killed_with_kill_9_leave_and_remove_their_folders(tmp_path):
    import subprocess
    import sys
    g = write(tmp_path)
    script = tmp_path / "parent.py"
    script.write_text(KILLED_PARENT)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run([sys.executable, str(script), str(g["nap"])], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "TMPDIR": str(tmp)})
    assert out.returncode == -9, out.stderr
    pid = int(out.stdout.split()[0])
    wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, f"worker {pid} to leave")
    assert [p.name for p in tmp.iterdir() if p.name.startswith("modulespack-worker-")] == []
