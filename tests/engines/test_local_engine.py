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


SETUP_MODULES = '''
import os, time
from modulespack import Module, Port


class Dies(Module):
    """Its process exits in setup (a crash in a C library, an os._exit)."""
    outputs = {"y": Port("float")}

    def setup(self):
        os._exit(3)

    def run(self):
        return {"y": 1.0}


class OneOnly(Module):
    """Sets up in the first worker to claim `claim`; every other worker process exits in setup."""
    outputs = {"y": Port("float")}

    def __init__(self, claim: str = ""):
        self.claim = claim

    def setup(self):
        try:
            os.close(os.open(self.claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            os._exit(3)

    def run(self):
        return {"y": float(os.getpid())}


class Slow(Module):
    """Writes its pid to `mark`, then takes `seconds` to set up."""
    outputs = {"y": Port("float")}

    def __init__(self, seconds: float = 60.0, mark: str = ""):
        self.seconds, self.mark = seconds, mark

    def setup(self):
        if self.mark:
            with open(self.mark, "w") as f:
                f.write(str(os.getpid()))
        time.sleep(self.seconds)

    def run(self):
        return {"y": 1.0}
'''


def setup_graph(folder, module: str, params: str = "{}"):
    (folder / "setupmods.py").write_text(SETUP_MODULES)
    path = folder / f"{module.lower()}.yaml"
    path.write_text(f"module_paths: [.]\nnodes: [{{name: m, module: {module}, params: {params}}}]\n"
                    f"outputs: {{y: m/y}}\n")
    return path


def test_workers_that_always_die_in_setup_fail_the_queued_runs_and_later_submits(tmp_path):
    before = children()
    with make_engine("local", setup_graph(tmp_path, "Dies"), workers=1) as eng:
        queued = eng.submit({})                  # before any worker has tried
        with pytest.raises(EngineError, match="exited before it was ready, 3 times"):
            queued.result(60)
        with pytest.raises(EngineError, match="exited before it was ready"):
            eng.submit({})
        assert not eng.ready() and not eng.wait_ready(1) and "exit code 3" in eng.health()["error"]
    assert children() <= before


def test_one_worker_failing_in_setup_does_not_refuse_runs_the_other_can_serve(tmp_path):
    g = setup_graph(tmp_path, "OneOnly", f'{{claim: "{tmp_path / "claim"}"}}')
    with make_engine("local", g, workers=2) as eng:
        assert eng.wait_ready(60) and eng.ready() and eng.health()["error"] is None
        (pid,) = eng.worker_pids()
        assert eng.run({}, timeout=60).outputs == {"y": float(pid)}


def test_a_worker_not_ready_within_the_start_timeout_is_killed_and_fails_the_runs(tmp_path):
    before = children()
    with make_engine("local", setup_graph(tmp_path, "Slow"), workers=1, start_timeout=0.5) as eng:
        with pytest.raises(EngineError, match="not ready within 0.5 s"):
            eng.run({}, timeout=60)
    assert children() <= before


def test_submit_after_close_is_refused_until_start(tmp_path):
    g = write(tmp_path)
    eng = make_engine("local", g["nap"], workers=1)
    eng.close()
    with pytest.raises(EngineError, match="closed"):
        eng.submit({"x": 1.0})
    with pytest.raises(EngineError, match="closed"):
        eng.wait_ready(1)
    assert eng.health()["started"] is False   # the refused submit started nothing
    eng.start()
    try:
        assert eng.run({"x": 2.0}, timeout=60).outputs == {"y": 2.0}
    finally:
        eng.close()


NO_MAIN_GUARD = """
import sys
from modulespack.engines import make_engine
engine = make_engine("local", sys.argv[1], workers=1)
print(engine.run({"x": 1.0}, timeout=60).outputs)
engine.close()
"""


def test_a_script_without_a_main_guard_fails_with_a_clear_error(tmp_path):
    import subprocess
    import sys
    g = write(tmp_path)
    script = tmp_path / "noguard.py"
    script.write_text(NO_MAIN_GUARD)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run([sys.executable, str(script), str(g["nap"])], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    assert out.returncode == 1 and "EngineError" in out.stderr
    assert "if __name__ == '__main__'" in out.stderr.strip().splitlines()[-1]
    assert list(tmp.iterdir()) == []


PARENT_KILLED_DURING = """
import os, sys, time
from modulespack.engines import make_engine
if __name__ == "__main__":
    graph, mark, wait_ready = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    e = make_engine("local", graph, workers=1)
    e.start()
    if wait_ready:
        assert e.wait_ready(60)
        e.submit({"x": 1.0})
    while not os.path.exists(mark) or not open(mark).read().strip():
        time.sleep(0.02)
    os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize("during", ["setup", "a run that ignores its cancel"])
def test_workers_of_a_parent_killed_during_setup_or_a_long_run_remove_their_folders(tmp_path, during):
    import subprocess
    import sys
    mark = tmp_path / "mark"
    if during == "setup":
        graph, ready = setup_graph(tmp_path, "Slow", f'{{seconds: 1.0, mark: "{mark}"}}'), "0"
    else:
        graph, ready = write(tmp_path, seconds=30.0, mark=str(mark))["nap"], "1"
    script = tmp_path / "parent.py"
    script.write_text(PARENT_KILLED_DURING)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run([sys.executable, str(script), str(graph), str(mark), ready], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    assert out.returncode == -9, out.stderr
    pid = int(mark.read_text().split()[0])
    try:
        wait_for(lambda: not os.path.exists(f"/proc/{pid}"), 30, f"worker {pid} to leave")
    finally:
        if os.path.exists(f"/proc/{pid}"):
            os.kill(pid, signal.SIGKILL)
    assert [p.name for p in tmp.iterdir() if p.name.startswith("modulespack-worker-")] == []
