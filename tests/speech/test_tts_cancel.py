"""Synthesis that must stop: a cancelled run or one past its time limit kills flite (started with
core.proc.run_process, in its own process group) and removes its temporary folder."""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

import modulespack as mp
from modulespack.core.cancel import CURRENT, CancelToken
from modulespack.core.errors import Cancelled
from modulespack.core.proc import live_pids
from modulespack.speech.tts import Flite

GRAPHS = Path(__file__).resolve().parents[2] / "examples" / "graphs"

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """tempfile's folder for this test only, so leftovers of this test are seen and nothing else."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


@pytest.fixture
def long_text(sentences) -> str:
    # ~100 KB: minutes of synthesis, so flite is still at work whenever the test stops it
    return ". ".join(sentences * 250) + "."


def children(name: str) -> list[int]:
    """Processes called `name` whose parent is this process (zombies included)."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if ppid == me and comm == name:
            out.append(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_cancel_kills_flite_and_removes_its_folder(private_tmp, long_text):
    tts = Flite(voice="kal")
    tts.setup()
    token, seen = CancelToken(), {}

    def cancel_once_flite_runs():
        # cancel from another thread, as a server's time-out or disconnect would, once flite is at work
        for _ in range(3000):
            if live_pids() and any(private_tmp.iterdir()):
                break
            time.sleep(0.01)
        seen["pids"] = live_pids()
        seen["folders"] = [p.name for p in private_tmp.iterdir()]
        token.cancel("test: client went away")

    timer = threading.Thread(target=cancel_once_flite_runs)
    reset = CURRENT.set(token)  # what Session.run(cancel=token) does for the run
    try:
        timer.start()
        with pytest.raises(Cancelled, match="client went away"):
            tts.run(text=long_text)
    finally:
        CURRENT.reset(reset)
        timer.join()
    # flite was running (a run_process child, so killable) and had its folder when the run was cancelled
    assert len(seen["pids"]) == 1 and seen["folders"][0].startswith("modulespack-flite-")
    assert live_pids() == []
    assert not alive(seen["pids"][0]) and children("flite") == []
    assert list(private_tmp.iterdir()) == []


def test_time_limit_kills_flite_and_removes_its_folder(private_tmp, long_text):
    tts = Flite(voice="kal", timeout=0.5)
    with pytest.raises(RuntimeError, match=r"flite did not finish within its time limit of 0.5 s \(parameter timeout\)"):
        tts.run(text=long_text)
    assert live_pids() == [] and children("flite") == []
    assert list(private_tmp.iterdir()) == []


def test_tts_graph_limits_flite_time():
    node = next(n for n in mp.load_graph(GRAPHS / "tts.yaml").nodes if n.module == "flite")
    assert 0 < node.params["timeout"] <= 60
