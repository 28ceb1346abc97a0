"""The local engine behind the server (`engine="local"`, old name `executor="process"`): worker
processes build their own Sessions from the validated specs."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from modulespack.serve import create_app

TTS = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "tts.yaml"


def test_local_engine(graph_dir):
    app = create_app([graph_dir / "arith.yaml", graph_dir / "boom.yaml", graph_dir / "slow.yaml"],
                     engine={"arith": "local", "boom": "process", "slow": "local"},
                     concurrency=2, engine_workers=2, timeout_s=0.8)
    with TestClient(app) as c:
        deadline = time.monotonic() + 30
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, c.get("/readyz").text
            time.sleep(0.1)
        r = c.post("/graphs/arith/run", json={"inputs": {"a": 1, "b": 2}})
        assert r.status_code == 200, r.text
        assert r.json()["outputs"] == {"result": 1.0, "doubled": 6.0}
        assert set(r.json()["timings_ms"]) == {"sum", "triple", "double", "minus"}

        r = c.post("/graphs/boom/run", json={"inputs": {"x": 1}})
        assert r.status_code == 500 and r.json()["node"] == "kaboom" and "ZeroDivisionError" in r.json()["error"]
        r = c.post("/graphs/arith/run", json={"inputs": {"a": 1}})
        assert r.status_code == 422 and r.json()["port"] == "b"

        r = c.post("/graphs/slow/run", json={"inputs": {"x": 1}})
        assert r.status_code == 504 and r.json()["node"] == "slow" and r.json()["node_state"] == "running"
        # the other worker still answers
        assert c.post("/graphs/arith/run", json={"inputs": {"a": 2, "b": 2}}).json()["outputs"]["doubled"] == 8.0


def test_engine_for_an_unknown_graph_is_a_startup_error(graph_dir):
    from modulespack.serve import GraphLoadError
    with pytest.raises(GraphLoadError, match="an engine is set for graph 'nope'"):
        create_app(graph_dir / "arith.yaml", engine={"nope": "local"})
    with pytest.raises(ValueError, match="engine is one of thread, local, ray"):
        create_app(graph_dir / "arith.yaml", engine="fork")


def test_cli_options(graph_dir, monkeypatch):
    import argparse

    from modulespack.serve.cli import add_parser, options_from_args
    sub = argparse.ArgumentParser().add_subparsers()
    p = add_parser(sub)
    monkeypatch.setenv("MODULESPACK_API_KEY", "a, b")
    opts = options_from_args(p.parse_args([str(graph_dir), "--process-graph", "slow", "--cors", "http://x",
                                           "--timeout", "5", "--max-upload-mb", "2"]))
    assert opts["engine"] == {"slow": "local"} and opts["api_keys"] == ["a", "b"]
    assert opts["cors_origins"] == ["http://x"] and opts["timeout_s"] == 5 and opts["max_upload_mb"] == 2
    assert p.get_default("func").__name__ == "cmd_serve"
    # --engine, and the old --executor / --process-workers as its aliases
    assert options_from_args(p.parse_args([str(graph_dir)]))["engine"] == "thread"
    opts = options_from_args(p.parse_args([str(graph_dir), "--engine", "local", "--engine-workers", "3"]))
    assert opts["engine"] == "local" and opts["engine_workers"] == 3
    opts = options_from_args(p.parse_args([str(graph_dir), "--executor", "process", "--process-workers", "2"]))
    assert opts["engine"] == "local" and opts["engine_workers"] == 2
    opts = options_from_args(p.parse_args([str(graph_dir), "--engine-graph", "asr=local", "--engine-graph", "x=ray"]))
    assert opts["engine"] == {"asr": "local", "x": "ray"}
    with pytest.raises(ValueError, match="NAME=ENGINE"):
        options_from_args(p.parse_args([str(graph_dir), "--engine-graph", "asr"]))
    help_text = p.format_help()
    assert "--engine {thread,local,ray}" in help_text and "--executor process = --engine local" in help_text


def _wait_ready(c, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while (r := c.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, r.text
        time.sleep(0.1)


def test_a_worker_killed_mid_run_fails_only_its_run_and_only_it_is_replaced(graph_dir, tmp_path):
    import multiprocessing
    import os
    import signal
    import textwrap
    from concurrent.futures import ThreadPoolExecutor

    (tmp_path / "modules").symlink_to(graph_dir / "modules")
    (tmp_path / "nap.yaml").write_text(textwrap.dedent("""
        name: nap
        module_paths: [modules]
        inputs: {x: float}
        nodes:
          - {name: nap, module: Slow, params: {seconds: 3.0}, inputs: {x: $x}}
        outputs: {y: nap/y}
    """))
    before = {p.pid for p in multiprocessing.active_children()}
    app = create_app(tmp_path / "nap.yaml", executor="process", process_workers=3, concurrency=5, timeout_s=60)
    reg = app.state.modulespack.graphs["nap"].engine
    with TestClient(app) as c:
        _wait_ready(c)
        workers = reg.worker_pids()
        with ThreadPoolExecutor(5) as ex:  # three runs start at once, two wait for a free worker
            futs = [ex.submit(c.post, "/graphs/nap/run", json={"x": i}) for i in range(5)]
            deadline = time.monotonic() + 30
            while len(reg.busy()) < 3:
                assert time.monotonic() < deadline, reg.busy()
                time.sleep(0.02)
            victim = sorted(reg.busy())[0]
            os.kill(victim, signal.SIGKILL)
            answers = [f.result() for f in futs]
        codes = sorted(r.status_code for r in answers)
        assert codes == [200, 200, 200, 200, 503], [r.text for r in answers]
        (lost,) = [r for r in answers if r.status_code == 503]
        assert lost.headers["retry-after"] and lost.json()["kind"] == "worker", lost.text
        for i, r in enumerate(answers):
            assert r.status_code == 503 or r.json()["outputs"] == {"y": float(i)}
        deadline = time.monotonic() + 60
        while victim in reg.worker_pids() or len(reg.worker_pids()) < 3:
            assert time.monotonic() < deadline, reg.worker_pids()
            time.sleep(0.05)
        now = reg.worker_pids()
        assert set(workers) - {victim} <= set(now) and victim not in now   # only the dead one was replaced
        assert c.post("/graphs/nap/run", json={"x": 9}).json()["outputs"] == {"y": 9.0}
    assert {p.pid for p in multiprocessing.active_children()} <= before      # nothing left after stop
    for pid in now:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"


@pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")
def test_worker_errors_come_back_as_core_errors(graph_dir):
    app = create_app([graph_dir / "boom.yaml", TTS], engine="local", engine_workers=1, timeout_s=30)
    with TestClient(app) as c:
        _wait_ready(c)
        r = c.post("/graphs/boom/run", json={"x": 1})                 # NodeError: the module's fault
        assert r.status_code == 500 and r.json()["kind"] == "node" and r.json()["module"] == "Boom", r.text
        assert "ZeroDivisionError" in r.json()["error"]
        r = c.post("/graphs/tts/run", json={"text": " "})              # NodeInputError: the client's mistake
        assert r.status_code == 422 and r.json()["kind"] == "input" and r.json()["inputs"] == ["text"], r.text
        assert r.json()["node"] == "flite" and "empty text" in r.json()["error"]


ODD = '''
import os
from modulespack import Module, Port


class OddError(Exception):
    """Pickles, but does not unpickle: pickle calls OddError(message), the __init__ wants two."""
    def __init__(self, code, why):
        super().__init__(f"{code}: {why}")


def rebuild(text):
    if "MODULESPACK_SERVE_WORKER" in os.environ:   # a worker process: fine
        return FussyError(text)
    raise ValueError("FussyError cannot be rebuilt outside a worker process")


class FussyError(Exception):
    """Round-trips in the worker process, but cannot be unpickled in the server."""
    def __reduce__(self):
        return (rebuild, (str(self),))


class Odd(Module):
    inputs = {"how": Port("str")}
    outputs = {"y": Port("str")}

    def run(self, how):
        if how == "odd":
            raise OddError(7, "an odd failure")
        if how == "fussy":
            raise FussyError("a fussy failure")
        return {"y": how}
'''


def test_an_error_that_does_not_unpickle_fails_its_run_and_the_pool_goes_on(tmp_path, monkeypatch):
    import textwrap

    from modulespack.engines import local_pool
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "odd.py").write_text(ODD)
    (tmp_path / "odd.yaml").write_text(textwrap.dedent("""
        name: odd
        module_paths: [mods]
        inputs: {how: str}
        nodes:
          - {name: odd, module: Odd, inputs: {how: $how}}
        outputs: {y: odd/y}
    """))
    app = create_app(tmp_path / "odd.yaml", engine="local", engine_workers=1, concurrency=1, timeout_s=30)
    reg = app.state.modulespack.graphs["odd"].engine
    with TestClient(app) as c:
        _wait_ready(c)
        first = reg.worker_pids()
        # the worker sends the module's error as text: it would not unpickle in the server
        r = c.post("/graphs/odd/run", json={"how": "odd"})
        assert r.status_code == 500 and r.json()["kind"] == "node", r.text
        assert "OddError: 7: an odd failure" in r.json()["error"]
        # it unpickles in the worker, not in the server: the run fails, the worker goes on
        r = c.post("/graphs/odd/run", json={"how": "fussy"})
        assert r.status_code == 500 and r.json()["kind"] == "internal", r.text
        assert "could not be read" in r.json()["error"] and "FussyError" in r.json()["error"]
        r = c.post("/graphs/odd/run", json={"how": "fine"})
        assert r.status_code == 200 and r.json()["outputs"] == {"y": "fine"}, r.text
        assert reg.worker_pids() == first

        # any other failure of the server's thread for a worker: the run fails, the worker is replaced
        real = local_pool.Pool._follow
        calls = []

        def broken(self, w, run):
            if not calls:
                calls.append(run.task)
                raise KeyError("a bug in the pool")
            return real(self, w, run)
        monkeypatch.setattr(local_pool.Pool, "_follow", broken)
        r = c.post("/graphs/odd/run", json={"how": "fine"})
        assert r.status_code == 500 and r.json()["kind"] == "internal" and "a bug in the pool" in r.json()["error"]
        r = c.post("/graphs/odd/run", json={"how": "again"})
        assert r.status_code == 200 and r.json()["outputs"] == {"y": "again"}, r.text
        assert reg.worker_pids() != first and all(t.is_alive() for t in reg._slot.pool.threads)


LEAK = """
import sys
from fastapi.testclient import TestClient
from modulespack.serve import create_app

app = create_app(sys.argv[1], executor="process", process_workers=1)
c = TestClient(app)   # no `with`: no lifespan, as for an app mounted in another
r = c.post("/graphs/arith/run", json={"a": 1, "b": 2})
print(r.status_code, app.state.modulespack.graphs["arith"].engine.worker_pids()[0])
"""


def test_worker_processes_and_folders_end_with_the_interpreter_without_a_lifespan(graph_dir, tmp_path):
    import os
    import subprocess
    import sys
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    out = subprocess.run([sys.executable, "-c", LEAK, str(graph_dir / "arith.yaml")], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "TMPDIR": str(tmp)})
    assert out.returncode == 0, out.stderr
    status, pid = out.stdout.split()
    assert status == "200"
    assert not os.path.exists(f"/proc/{pid}")
    assert [p.name for p in tmp.iterdir() if p.name.startswith("modulespack-worker-")] == []


def test_a_cancel_that_crosses_the_end_of_its_run_is_not_kept():
    from modulespack.engines.worker import _Current
    cur = _Current()
    cur.received(1)
    cur.cancel(1, "early")                     # before it started: kept for it
    assert cur.begin(1).is_set()
    cur.end()
    for task in (1, 2):                        # after it ended, or for a run this worker never got
        cur.cancel(task, "late")
    assert cur.early == {} and cur.waiting == set()
    cur.received(3)
    assert not cur.begin(3).is_set()
