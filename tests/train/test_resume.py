"""Resuming: a run SIGKILLed mid-epoch and resumed from its last epoch file ends with the weights of
an uninterrupted run (same seed); the ignore-* options change what is carried over."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

torch = pytest.importorskip("torch")

from projects import make_tiny_project

from modulespack.train.checkpoint import load_checkpoint, state_dict_of

# dropout makes each epoch consume random numbers; KILL_MARKER makes epoch 2 announce itself
# after its first batch and slow down, so the test can kill the run in the middle of it
RANDOM_MODEL = """
import os, time
_init, _forward = Model.__init__, Model.forward
def _init2(self, *a, **k):
    _init(self, *a, **k)
    self.drop = torch_nn.Dropout(0.3)
    self.g_epoch_idx = 0
def _forward2(self, x):
    marker = os.environ.get("KILL_MARKER")
    if marker and self.g_epoch_idx == 2 and self.training:
        open(marker, "a").close()
        time.sleep(0.5)
    return _forward(self, self.drop(x))
Model.__init__, Model.forward = _init2, _forward2
"""

ARGS = ["--epochs", "3", "--batch-size", "2", "--sampler", "block_shuffle_by_length", "--num-workers", "1",
        "--seed", "7", "--lr", "0.01", "--no-cuda", "--quiet"]


def _project(tmp_path):
    p = make_tiny_project(tmp_path, n_train=5, subsets=2)
    with open(p.dir / "model.py", "a") as f:
        f.write(RANDOM_MODEL)
    return p


def _cmd(p, save, *extra):
    return [sys.executable, str(p.dir / "main.py"), *ARGS, "--save-model-dir", str(save), *extra]


def _run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def _weights(path):
    return state_dict_of(load_checkpoint(path))


def _same(a, b):
    return set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    p = _project(tmp_path)
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    _run(_cmd(p, whole))

    marker = tmp_path / "in_epoch_2"
    env = dict(os.environ, KILL_MARKER=str(marker))
    proc = subprocess.Popen(_cmd(p, broken), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never reached epoch 2"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)            # the loader worker goes too
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not (broken / "epoch_002.pt").exists()
    assert not list(broken.glob(".*.tmp")), "a half-written checkpoint was left behind"

    out = _run(_cmd(p, broken, "--trained-model", str(broken / "epoch_001.pt")))
    assert "next epoch 2" in out.stdout
    assert _same(_weights(whole / "epoch_002.pt"), _weights(broken / "epoch_002.pt"))
    assert _same(_weights(whole / "trained_network.pt"), _weights(broken / "trained_network.pt"))
    a, b = load_checkpoint(whole / "epoch_002.pt"), load_checkpoint(broken / "epoch_002.pt")
    assert (a["train_log"]["loss_mat"] == b["train_log"]["loss_mat"]).all()   # history carried over
    assert a["val_log"]["best_epoch"] == b["val_log"]["best_epoch"]


def test_ignore_options(tmp_path, capsys):
    from modulespack.train.harness import main

    p = make_tiny_project(tmp_path, subsets=1)
    base = ["--epochs", "3", "--no-cuda", "--quiet", "--seed", "3"]
    assert main(base + ["--save-model-dir", str(tmp_path / "a")], p.dir) == 0
    first = tmp_path / "a" / "epoch_000.pt"

    # history ignored: the epoch count starts again at 0 from the loaded weights
    assert main(base + ["--epochs", "1", "--save-model-dir", str(tmp_path / "b"), "--trained-model", str(first),
                        "--ignore-training-history-in-trained-model"], p.dir) == 0
    assert (tmp_path / "b" / "epoch_000.pt").exists()
    hist = load_checkpoint(tmp_path / "b" / "epoch_000.pt")["train_log"]
    assert hist["epoch_num"] == 1 and hist["cur_epoch"] == 0

    # resumed with and without the optimizer's statistics: Adam's moments change the next step
    assert main(base + ["--save-model-dir", str(tmp_path / "c"), "--trained-model", str(first)], p.dir) == 0
    assert main(base + ["--save-model-dir", str(tmp_path / "d"), "--trained-model", str(first),
                        "--ignore-optimizer-statistics-in-trained-model"], p.dir) == 0
    full = _weights(tmp_path / "a" / "epoch_002.pt")
    assert _same(full, _weights(tmp_path / "c" / "epoch_002.pt"))
    assert not _same(full, _weights(tmp_path / "d" / "epoch_002.pt"))
    assert not (tmp_path / "c" / "epoch_000.pt").exists()       # resumed at epoch 1


def test_resume_after_last_epoch_does_nothing(tmp_path, capsys):
    from modulespack.train.harness import main

    p = make_tiny_project(tmp_path, subsets=1)
    assert main(["--epochs", "1", "--no-cuda", "--quiet"], p.dir) == 0
    assert main(["--epochs", "1", "--no-cuda", "--quiet", "--trained-model", str(p.dir / "epoch_000.pt")],
                p.dir) == 0
    assert "Nothing to do" in capsys.readouterr().out


def test_resume_from_a_toolkit_epoch_file(tmp_path, capsys):
    """An epoch file as the toolkit writes it (plain torch.save, numpy logs) continues here."""
    import numpy as np

    from modulespack.train.harness import main

    p = make_tiny_project(tmp_path, subsets=1, n_val=2)
    assert main(["--epochs", "1", "--no-cuda", "--quiet", "--save-model-dir", str(tmp_path / "a")], p.dir) == 0
    ours = load_checkpoint(tmp_path / "a" / "epoch_000.pt")
    n_trn, n_val = len(p.all_train), 2

    def monitor(n, first_epoch_loss):
        loss = np.zeros([5, n, 1])
        loss[0] = first_epoch_loss
        return {"loss_mat": loss, "time_mat": np.zeros([5, n]), "epoch_num": 5, "seq_num": n,
                "cur_epoch": 0, "best_error": np.sum(loss[0]), "best_epoch": 0, "loss_flag": [True]}
    toolkit = {"state_dict": ours["state_dict"], "info": "      0 |  toolkit line\n",
               "optimizer": ours["optimizer"], "train_log": monitor(n_trn, 7.5),
               "val_log": monitor(n_val, 9.25), "lr_scheduler": None}
    path = tmp_path / "epoch_000.pt"
    torch.save(toolkit, path)
    capsys.readouterr()
    assert main(["--epochs", "3", "--no-cuda", "--quiet", "--save-model-dir", str(tmp_path / "b"),
                 "--trained-model", str(path)], p.dir) == 0
    out = capsys.readouterr().out
    assert "toolkit line" in out and "next epoch 1" in out
    last = load_checkpoint(tmp_path / "b" / "epoch_002.pt")
    assert last["train_log"]["loss_mat"].shape == (3, n_trn, 1)       # cut to this run's --epochs
    assert (last["train_log"]["loss_mat"][0] == 7.5).all()
    assert (last["val_log"]["loss_mat"][0] == 9.25).all()
    assert not (tmp_path / "b" / "epoch_000.pt").exists()
