"""Training a tiny toolkit-shaped project: files, history, best epoch, NaN, errors, exit codes."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from projects import make_tiny_project

from modulespack.train.checkpoint import load_checkpoint, save_atomic
from modulespack.train.harness import main
from modulespack.train.history import History

QUIET = ["--no-cuda", "--quiet"]


def train(p, *argv):
    return main(list(argv) + QUIET, project_dir=p.dir)


def test_trains_and_writes_toolkit_files(tmp_path, capsys):
    p = make_tiny_project(tmp_path)
    assert train(p, "--epochs", "3", "--lr", "0.01") == 0
    out = capsys.readouterr().out
    summary = [line for line in out.splitlines() if line.strip()[:1].isdigit() and "|" in line]
    assert [int(line.split("|")[0]) for line in summary] == [0, 1, 2]
    for name in ("epoch_000.pt", "epoch_001.pt", "epoch_002.pt", "trained_network.pt", "loss_curve.png"):
        assert (p.dir / name).is_file(), name
    assert (p.dir / "loss_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = load_checkpoint(p.dir / "epoch_002.pt")
    assert set(last) == {"state_dict", "info", "optimizer", "train_log", "val_log", "lr_scheduler"}
    n_train = len(p.all_train)
    assert last["train_log"]["loss_mat"].shape == (3, n_train, 1)
    assert last["val_log"]["cur_epoch"] == 2
    losses = last["train_log"]["loss_mat"][:, :, 0].mean(axis=1)
    assert losses[2] < losses[0]                       # it learns
    best = last["val_log"]["best_epoch"]
    best_sd = load_checkpoint(p.dir / f"epoch_{best:03d}.pt")["state_dict"]
    trained = load_checkpoint(p.dir / "trained_network.pt")
    assert set(trained) == set(best_sd)                # a bare state dict: the best epoch's
    assert all(torch.equal(trained[k], best_sd[k]) for k in best_sd)
    assert not list(p.dir.glob(".*.tmp"))


def test_not_save_each_epoch_and_save_dir(tmp_path):
    p = make_tiny_project(tmp_path, style="flat", with_val=False)
    save = tmp_path / "models"
    save.mkdir()
    (save / ".epoch_007.pt.0123456789ab.tmp").write_bytes(b"left by a killed run")
    assert train(p, "--epochs", "2", "--not-save-each-epoch", "--save-model-dir", str(save)) == 0
    assert sorted(f.name for f in save.iterdir()) == ["loss_curve.png", "trained_network.pt"]


def test_multi_loss_logs_each_term(tmp_path):
    p = make_tiny_project(tmp_path, multi_loss=True, subsets=1)
    assert train(p, "--epochs", "1") == 0
    ck = load_checkpoint(p.dir / "epoch_000.pt")
    assert ck["train_log"]["loss_mat"].shape[2] == 2
    assert ck["val_log"]["loss_flag"] == [True, False]


def test_best_epoch_and_early_stopping_rules():
    h = History(epoch_num=6, seq_num=2)
    for epoch, (a, b) in enumerate([(3, 0), (2, 9), (4, 0), (2.5, 0)]):
        # second term does not count for stopping
        h.add([0, 1], [a, b], [True, False], 0.1)
        h.end_epoch(epoch)
        new = h.is_new_best()
        assert new == (epoch in (0, 1)), epoch
    assert h.best_epoch == 1 and h.stopping_loss(1) == 4.0
    assert h.should_stop(2) and not h.should_stop(3)


def test_a_partial_epoch_prints_the_mean_of_the_utterances_it_ran():
    h = History(epoch_num=2, seq_num=4)
    h.add([2], [3.0], [True], 0.1)                      # --minibatch-num-train 1, batch 1
    h.end_epoch(0)
    assert h.loss(0)[0] == 0.75 and h.shown_loss(0)[0] == 3.0
    h.add([0, 1, 2, 3], [1.0], [True], 0.1)
    h.end_epoch(1)
    assert h.shown_loss(1)[0] == 1.0


WORSE_MODEL = """
_forward = Model.forward
def _worse_forward(self, x):
    y = _forward(self, x)
    # validation output drifts further off each epoch: epoch 0 stays the best
    return y + self.g_epoch_idx if self.flag_validation else y
Model.forward = _worse_forward
Model.g_epoch_idx = 0
Model.flag_validation = False
"""


def test_early_stop_ends_training(tmp_path, capsys):
    p = make_tiny_project(tmp_path, subsets=1)
    with open(p.dir / "model.py", "a") as f:
        f.write(WORSE_MODEL)
    assert train(p, "--epochs", "8", "--no-best-epochs", "2") == 0
    assert "early stopping" in capsys.readouterr().out
    assert sorted(f.name for f in p.dir.glob("epoch_*.pt")) == ["epoch_000.pt", "epoch_001.pt", "epoch_002.pt"]
    # the plateau scheduler lowers the rate instead of stopping (the toolkit's rule)
    assert train(p, "--epochs", "4", "--no-best-epochs", "1", "--lr-decay-factor", "0.5", "--lr-patience", "0",
                 "--save-model-dir", str(tmp_path / "plateau")) == 0
    out = capsys.readouterr().out
    assert "early stopping" not in out and "LR -> 5.00e-05" in out
    assert (tmp_path / "plateau" / "epoch_003.pt").exists()


NAN_MODEL = """
_forward = Model.forward
def _nan_forward(self, x):
    y = _forward(self, x)
    return y * float('nan') if self.g_epoch_idx == 1 else y
Model.forward = _nan_forward
Model.g_epoch_idx = 0
"""


def test_nan_loss_stops_and_keeps_best(tmp_path, capsys):
    p = make_tiny_project(tmp_path, subsets=1)
    with open(p.dir / "model.py", "a") as f:
        f.write(NAN_MODEL)
    assert train(p, "--epochs", "3") == 1
    err = capsys.readouterr().err
    assert "epoch 1" in err and "c0_train" in err and "Traceback" not in err
    assert (p.dir / "epoch_000.pt").exists() and not (p.dir / "epoch_001.pt").exists()
    kept = load_checkpoint(p.dir / "trained_network.pt")
    first = load_checkpoint(p.dir / "epoch_000.pt")["state_dict"]
    assert all(torch.equal(kept[k], first[k]) for k in first)


def test_corrupt_checkpoint_is_a_user_error(tmp_path, capsys):
    p = make_tiny_project(tmp_path, subsets=1)
    bad = tmp_path / "epoch_004.pt"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    assert train(p, "--epochs", "1", "--trained-model", str(bad)) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (p.dir / "trained_network.pt").exists()


def test_mismatched_pretrained_model(tmp_path, capsys):
    p = make_tiny_project(tmp_path, subsets=1)
    assert train(p, "--epochs", "1") == 0
    sd = load_checkpoint(p.dir / "trained_network.pt")
    sd["linear.weight"] = torch.zeros(7, 5)          # another output size
    other = tmp_path / "other.pt"
    save_atomic(sd, other)
    assert train(p, "--epochs", "1", "--trained-model", str(other)) == 2
    assert "other.pt" in capsys.readouterr().err
    assert train(p, "--epochs", "1", "--trained-model", str(other), "--allow-mismatched-pretrained-model") == 0
    assert "linear.weight" in capsys.readouterr().out


def test_bad_config_is_one_message(tmp_path, capsys):
    p = make_tiny_project(tmp_path, style="flat")
    text = (p.dir / "config.py").read_text().replace("/c0/mgc'", "/c0/nowhere'", 1)
    (p.dir / "config.py").write_text(text)
    assert train(p, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "input_dirs" in err and "nowhere" in err and "Traceback" not in err


def test_wrong_size_feature_file_names_it(tmp_path, capsys):
    p = make_tiny_project(tmp_path, style="flat")
    name = p.all_train[0]
    with open(p.file("mgc", name), "ab") as f:
        f.write(b"\0\0")                               # not a whole row of float32
    assert train(p, "--epochs", "1", "--ignore-cached-file-infor") == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_missing_project_and_bad_option(tmp_path, capsys):
    assert main(["--epochs", "1"] + QUIET, project_dir=tmp_path / "nope") == 2
    assert "nope" in capsys.readouterr().err
    p = make_tiny_project(tmp_path, subsets=1)
    assert train(p, "--batch-size", "0") == 2
    assert "--batch-size" in capsys.readouterr().err


SCHED1 = ["--lr-decay-factor", "0.5", "--lr-scheduler-type", "1", "--lr-steplr-size", "1"]
SCHED2 = ["--lr-decay-factor", "0.1", "--lr-scheduler-type", "2", "--optimizer", "AdamW"]


@pytest.mark.parametrize("extra, lr_line, plain_args", [
    (SCHED1, "LR -> 5.00e-05", SCHED1),
    (SCHED2, "LR -> 1.00e-05", SCHED2),
    (["--size-accumulate-grad", "2", "--grad-clip-norm", "0.01", "--optimizer", "SGD"], None, ["--optimizer", "SGD"]),
])
def test_schedulers_accumulation_and_clipping(tmp_path, capsys, extra, lr_line, plain_args):
    p = make_tiny_project(tmp_path, subsets=1)
    assert train(p, "--epochs", "2", *extra) == 0
    out = capsys.readouterr().out
    if lr_line:
        assert lr_line in out
        assert load_checkpoint(p.dir / "epoch_001.pt")["lr_scheduler"]["last_epoch"] == 2
    plain = tmp_path / "plain"
    assert train(p, "--epochs", "2", "--save-model-dir", str(plain), *plain_args) == 0
    a = load_checkpoint(p.dir / "trained_network.pt")["linear.weight"]
    b = load_checkpoint(plain / "trained_network.pt")["linear.weight"]
    assert torch.equal(a, b) == (lr_line is not None)    # accumulation and clipping change the updates


def test_data_error_in_a_loader_worker_is_one_message(tmp_path, capsys):
    p = make_tiny_project(tmp_path, style="flat")
    name = p.all_train[0]
    assert train(p, "--epochs", "1") == 0            # lengths cached from the good files
    p.file("mgc", name).unlink()                      # gone before the worker reads it
    assert train(p, "--epochs", "1", "--num-workers", "1", "--shuffle") == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_set_with_no_usable_utterance_is_a_data_error_naming_it(tmp_path, capsys):
    p = make_tiny_project(tmp_path, style="flat", minimum_len=10 ** 6)
    assert train(p, "--epochs", "1") == 2
    err = capsys.readouterr().err
    assert "train set tiny_trn" in err and "c0_train.lst" in err and "minimum_len" in err
    assert err.count("error:") == 1 and "Traceback" not in err


def test_without_a_validation_set_the_learning_rate_stays_as_in_the_toolkit(tmp_path, capsys):
    """The toolkit steps its scheduler only after a validation pass: with none, a step schedule
    never decays, and the same options must give the same learning rates here."""
    p = make_tiny_project(tmp_path, style="flat", with_val=False)
    assert train(p, "--epochs", "2", *SCHED1) == 0
    assert "LR -> " not in capsys.readouterr().out
    ckpt = load_checkpoint(p.dir / "epoch_001.pt")
    assert ckpt["lr_scheduler"]["last_epoch"] == 0
    assert [g["lr"] for g in ckpt["optimizer"]["param_groups"]] == [pytest.approx(1e-4)]
