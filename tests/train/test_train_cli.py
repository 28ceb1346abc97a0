"""The front doors: `modulespack train`, `modulespack infer` and a project's three-line main.py."""
from __future__ import annotations

import fcntl
import os
import pty
import shutil
import struct
import subprocess
import sys
import termios

import pytest

pytest.importorskip("torch")

from projects import make_tiny_project

EXE = shutil.which("modulespack", path=os.path.dirname(sys.executable)) or "modulespack"


def _run(argv, cwd=None, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=cwd, **kw)


def test_train_then_infer_commands(tmp_path):
    p = make_tiny_project(tmp_path, subsets=1)
    save = tmp_path / "ckpt"
    r = _run([EXE, "train", str(p.dir), "--epochs", "2", "--save-model-dir", str(save), "--no-cuda"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""                           # no progress bar when stderr is not a terminal
    assert len([line for line in r.stdout.splitlines() if line.strip().startswith(("0 |", "1 |"))]) == 2
    assert (save / "epoch_001.pt").is_file() and (save / "trained_network.pt").is_file()
    assert not (tmp_path / "epoch_000.pt").exists()   # nothing written to the working directory

    out = tmp_path / "gen"
    r = _run([EXE, "infer", str(p.dir), "--trained-model", str(save / "trained_network.pt"),
              "--output-dir", str(out)], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(f.name for f in out.iterdir()) == sorted(n + ".mgc" for n in p.test[0])


def test_project_main_py(tmp_path):
    p = make_tiny_project(tmp_path, style="flat")
    r = _run([sys.executable, "main.py", "--epochs", "1", "--no-cuda"], cwd=p.dir)
    assert r.returncode == 0, r.stderr
    assert (p.dir / "trained_network.pt").is_file()
    r = _run([sys.executable, str(p.dir / "main.py"), "--inference", "--output-dir", str(tmp_path / "o")],
             cwd=tmp_path)                          # from elsewhere: the project is main.py's folder
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "o").iterdir())) == len(p.test[0])


@pytest.mark.parametrize("argv, word", [
    (["train", "{missing}"], "missing"),
    (["train", "{prj}", "--trained-model", "{prj}/nope.pt"], "nope.pt"),
    (["train", "{prj}", "--module-model", "nomodel"], "nomodel"),
    (["infer", "{prj}"], "trained_network.pt"),
])
def test_user_errors_exit_2_with_one_message(tmp_path, argv, word):
    p = make_tiny_project(tmp_path, subsets=1)
    argv = [a.format(prj=p.dir, missing=tmp_path / "missing") for a in argv]
    r = _run([EXE] + argv + ["--epochs", "1"])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert word in r.stderr and "Traceback" not in r.stderr


def test_progress_bar_on_a_terminal(tmp_path):
    p = make_tiny_project(tmp_path, subsets=1)
    master, slave = pty.openpty()
    # a new pty is 0 columns wide, and tqdm draws nothing in no columns
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.Popen([EXE, "train", str(p.dir), "--epochs", "1", "--no-cuda"],
                                stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=300) == 0
    finally:
        os.close(master)
    assert b"epoch 0 train" in b"".join(chunks)
