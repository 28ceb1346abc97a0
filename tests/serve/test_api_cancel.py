"""Work that outlives its request is stopped: a real server (uvicorn, 127.0.0.1) runs `tts.yaml`
(flite); runs that time out or whose client goes away have their flite killed and their slot freed,
and nothing (no flite, no temporary folder) is left once the server has stopped."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest


pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")

TTS = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "tts.yaml"
STARTUP_S = 60
WORDS = "the old man found a red box near the river and walked home slowly".split()


def long_text(chars: int) -> str:
    """About `chars` characters of plain words: flite takes about 1 s per 1,000 (more under load)."""
    out, n, i = [], 0, 0
    while n < chars:
        w = WORDS[i % len(WORDS)]
        out.append(w)
        n += len(w) + 1
        i += 1
    return " ".join(out)[:chars]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def marked(mark: str, name: str | None = None) -> list[int]:
    """Pids of live processes started with MARK=`mark` in their environment (the server and what
    it started), optionally only those whose program is `name`."""
    needle = f"\0MODULESPACK_TEST_MARK={mark}\0".encode()
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            env = b"\0" + Path(f"/proc/{d}/environ").read_bytes()
            comm = Path(f"/proc/{d}/comm").read_text().strip()
            state = Path(f"/proc/{d}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in env and state != "Z" and (name is None or comm == name):
            pids.append(int(d))
    return pids


def wait_for(what, seconds: float, message: str):
    deadline = time.monotonic() + seconds
    while not (found := what()):
        assert time.monotonic() < deadline, message
        time.sleep(0.05)
    return found


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


@contextlib.contextmanager
def serve(tmp_path: Path, *options: str):
    """`modulespack serve tts.yaml OPTIONS` on a free port, its temporary folder `tmp_path/tmp` and
    a mark in its environment; yields (base URL, mark, temporary folder, pid); stops it (SIGTERM)."""
    port, mark = free_port(), uuid.uuid4().hex
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    log = tmp_path / "server.log"
    env = {**os.environ, "TMPDIR": str(tmp), "MODULESPACK_TEST_MARK": mark}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "modulespack.cli", "serve", str(TTS), "--port", str(port),
                                 "--log-level", "warning", *options], stdout=out, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            assert proc.poll() is None, f"the server exited with {proc.returncode}:\n{log.read_text()}"
            try:
                if httpx.get(base + "/readyz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server was not ready within {STARTUP_S} s:\n{log.read_text()}"
            time.sleep(0.1)
        yield base, mark, tmp, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    # after the server has stopped: nothing it started lives on, nothing it wrote is left
    assert wait_for(lambda: not marked(mark) or None, 10, f"left running: {marked(mark)}") is True
    assert [p.name for p in tmp.iterdir()] == [], log.read_text()[-3000:]


def say(base: str, text: str, timeout: float) -> httpx.Response:
    return httpx.post(base + "/graphs/tts/run", json={"text": text}, headers={"Accept": "audio/wav"},
                      timeout=timeout)


def test_timed_out_runs_stop_and_free_their_slots(tmp_path):
    # 20,000 characters: flite would take 20 s or more, far past the 3 s time-out
    with serve(tmp_path, "--timeout", "3", "--max-text-chars", "50000") as (base, mark, tmp, _):
        with ThreadPoolExecutor(4) as ex:
            answers = list(ex.map(lambda _: say(base, long_text(20_000), 30.0), range(4)))
        assert [r.status_code for r in answers] == [504] * 4, [r.text[:200] for r in answers]
        assert all(r.json()["node"] == "flite" for r in answers)
        # the four flite processes were killed with their runs, which freed their slots: a normal
        # request is answered well within the 3 s it would otherwise wait for a slot
        r = say(base, "hello there", 2.5)
        assert r.status_code == 200 and r.content[:4] == b"RIFF", r.text[:300]
        assert wait_for(lambda: not marked(mark, "flite") or None, 5, "flite still runs") is True
        wait_for(lambda: not list(tmp.glob("modulespack-flite-*")) or None, 5, "flite's folder is left")


def test_a_client_that_goes_away_cancels_its_run(tmp_path):
    with serve(tmp_path, "--timeout", "120", "--max-text-chars", "50000") as (base, mark, tmp, _):
        host, port = base.removeprefix("http://").split(":")
        body = ('{"text": "%s"}' % long_text(40_000)).encode()
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"POST /graphs/tts/run HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (host.encode(), port.encode(), len(body)) + body)
            (flite,) = wait_for(lambda: marked(mark, "flite"), 20, "flite did not start")
        # the client has gone: flite (which had 40 s of work) is killed at once
        wait_for(lambda: not marked(mark, "flite") or None, 5, f"flite {flite} still runs after the client left")
        wait_for(lambda: not list(tmp.glob("modulespack-flite-*")) or None, 5, "flite's folder is left")
        assert say(base, "hello there", 10.0).status_code == 200


def test_text_longer_than_the_limit_is_413_naming_the_input(graph_dir):
    from fastapi.testclient import TestClient

    from modulespack.serve import create_app

    c = TestClient(create_app([TTS, graph_dir / "kinds.yaml"], max_text_chars=100))
    r = c.post("/graphs/tts/run", json={"text": "a" * 101})
    assert r.status_code == 413 and r.json()["port"] == "text", r.text
    assert "101 characters" in r.json()["error"] and "limit is 100" in r.json()["error"]
    r = c.post("/graphs/tts/run", data={"text": "b" * 101, "voice": "rms"})            # a form field too
    assert r.status_code == 413 and r.json()["port"] == "text", r.text
    r = c.post("/graphs/kinds/run", files={"text": ("t.txt", b"c" * 101), "n": (None, "1"), "flag": (None, "1"),
                                           "m": (None, "[[1, 2, 3]]"), "v": (None, "[1]"),
                                           "anything": (None, "x")})                    # and a text file
    assert r.status_code == 413 and r.json()["port"] == "text", r.text
    assert c.post("/graphs/tts/run", json={"text": "a" * 100}).status_code == 200
    assert 'modulespack_errors_total{graph="tts",kind="too-large",status="413"} 2.0' in c.get("/metrics").text


def test_output_audio_longer_than_the_limit_is_413_naming_the_output():
    from fastapi.testclient import TestClient

    from modulespack.serve import create_app

    c = TestClient(create_app(TTS, max_audio_seconds=2))
    r = c.post("/graphs/tts/run", json={"text": long_text(300)})           # about 15 s of speech
    assert r.status_code == 413 and r.json()["port"] == "wav", r.text
    assert "s of audio; the limit is 2 s" in r.json()["error"]
    r = c.post("/graphs/tts/run", json={"text": "hi"}, headers={"Accept": "audio/wav"})
    assert r.status_code == 200


def test_cli_max_text_chars(graph_dir):
    import argparse

    from modulespack.serve.cli import add_parser, options_from_args
    p = add_parser(argparse.ArgumentParser().add_subparsers())
    assert options_from_args(p.parse_args([str(graph_dir), "--max-text-chars", "20"]))["max_text_chars"] == 20
    assert "max_text_chars" not in options_from_args(p.parse_args([str(graph_dir)]))  # the app's default


def workers_of(server: int) -> set[int]:
    return {p for p in map(int, filter(str.isdigit, os.listdir("/proc")))
            if _parent(p) == server and b"spawn_main" in _cmdline(p)}


def _parent(pid: int) -> int | None:
    try:
        return parent_of(pid)
    except OSError:
        return None


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_process_executor_cancels_in_the_worker_and_kills_a_dead_workers_programs(tmp_path):
    with serve(tmp_path, "--timeout", "4", "--max-text-chars", "50000", "--executor", "process",
               "--process-workers", "2") as (base, mark, tmp, server):
        workers = wait_for(lambda: len(workers_of(server)) == 2 and workers_of(server), 30, "no workers")
        # a time-out: the cancel reaches the worker, which kills its flite and goes on serving
        r = say(base, long_text(40_000), 30.0)
        assert r.status_code == 504, r.text
        wait_for(lambda: not marked(mark, "flite") or None, 5, "flite still runs after the time-out")
        assert workers_of(server) == workers  # no worker was killed for it
        wait_for(lambda: not any(tmp.rglob("modulespack-flite-*")) or None, 5, "flite's folder is left")

        # a worker killed (kill -9) during a run: its run is 503, and its flite, in a process group
        # of its own and orphaned by the kill, is found and killed all the same
        out = {}
        t = threading.Thread(target=lambda: out.update(r=say(base, long_text(40_000), 30.0)))
        t.start()
        (flite,) = wait_for(lambda: marked(mark, "flite"), 30, "flite did not start")
        worker = parent_of(flite)
        os.kill(worker, signal.SIGKILL)
        t.join(30)
        r = out["r"]
        assert r.status_code == 503 and r.headers["retry-after"], r.text
        assert r.json()["kind"] == "worker"
        wait_for(lambda: not marked(mark, "flite") or None, 5, f"flite {flite} outlived its worker")
        wait_for(lambda: not any(tmp.rglob("modulespack-flite-*")) or None, 5, "the worker's files are left")
        assert say(base, "hello there", 30.0).status_code == 200
        others = workers_of(server)
        assert worker not in others and workers - {worker} <= others  # only the dead one was replaced
