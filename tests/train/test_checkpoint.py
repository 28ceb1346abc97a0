"""Checkpoint files: atomic writes, safe loading of the toolkit's epoch files, clear refusals."""
from __future__ import annotations

import os
import pickle
import zipfile

import pytest

torch = pytest.importorskip("torch")
np = pytest.importorskip("numpy")

from modulespack.train import checkpoint as ck


def _toolkit_monitor(epochs=3, seqs=4):
    # what the toolkit's op_process_monitor.get_state_dic() holds after one epoch
    return {"loss_mat": np.random.rand(epochs, seqs, 1), "time_mat": np.random.rand(epochs, seqs),
            "epoch_num": epochs, "seq_num": seqs, "cur_epoch": 0,
            "best_error": np.sum(np.random.rand(seqs)), "best_epoch": 0, "loss_flag": [True]}


def _toolkit_epoch_file(path):
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 3)).sum().backward()
    opt.step()
    d = {"state_dict": net.state_dict(), "info": "      0 |  1.0 | ...\n", "optimizer": opt.state_dict(),
         "train_log": _toolkit_monitor(), "val_log": _toolkit_monitor(), "lr_scheduler": None}
    torch.save(d, path)     # exactly how the toolkit writes epoch_NNN.pt
    return d


def _rename_in_pickle(src, dst, old: bytes, new: bytes):
    """Copy a torch zip checkpoint, renaming a module in its pickle (a file numpy 1.x wrote)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("data.pkl"):
                assert old in data
                data = data.replace(old, new)
            zout.writestr(item, data)


def test_toolkit_epoch_file_loads_safely(tmp_path):
    path = tmp_path / "epoch_000.pt"
    saved = _toolkit_epoch_file(path)
    with pytest.raises(pickle.UnpicklingError):          # what plain safe loading does with it
        torch.load(path, weights_only=True)
    got = ck.load_checkpoint(path)
    assert isinstance(got["train_log"]["loss_mat"], np.ndarray)
    np.testing.assert_array_equal(got["val_log"]["loss_mat"], saved["val_log"]["loss_mat"])
    assert got["val_log"]["best_error"] == saved["val_log"]["best_error"]
    for k, v in saved["state_dict"].items():
        assert torch.equal(got["state_dict"][k], v)


def test_numpy1_names_load_too(tmp_path):
    src, old = tmp_path / "new.pt", tmp_path / "old.pt"
    _toolkit_epoch_file(src)
    _rename_in_pickle(src, old, b"numpy._core.multiarray", b"numpy.core.multiarray")
    got = ck.load_checkpoint(old)
    assert got["train_log"]["loss_mat"].shape == (3, 4, 1)


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_in_a_checkpoint_is_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "x": _Evil(marker)}, path)
    with pytest.raises(ck.CheckpointError, match="evil.pt.*refusing"):
        ck.load_checkpoint(path)
    assert not marker.exists()


def test_other_numpy_objects_are_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"x": np.random.default_rng(0)}, path)     # a Generator is not a loss log
    with pytest.raises(ck.CheckpointError, match="other.pt"):
        ck.load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file_names_the_file(tmp_path, damage):
    path = tmp_path / "epoch_001.pt"
    _toolkit_epoch_file(path)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[:len(data) // 2], "garbage": b"not a checkpoint" * 10,
                      "empty": b""}[damage])
    with pytest.raises(ck.CheckpointError, match="epoch_001.pt"):
        ck.load_checkpoint(path)


def test_missing_and_non_dict(tmp_path):
    with pytest.raises(ck.CheckpointError, match="no such checkpoint"):
        ck.load_checkpoint(tmp_path / "nope.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ck.CheckpointError, match="list.pt.*not a checkpoint"):
        ck.load_checkpoint(tmp_path / "list.pt")


def test_save_atomic_leaves_no_temp_and_keeps_old_on_failure(tmp_path):
    path = tmp_path / "sub" / "trained_network.pt"
    ck.save_atomic({"w": torch.ones(2)}, path)
    assert torch.equal(ck.load_checkpoint(path)["w"], torch.ones(2))

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom")
    with pytest.raises(RuntimeError):
        ck.save_atomic({"w": Unpicklable()}, path)
    assert torch.equal(ck.load_checkpoint(path)["w"], torch.ones(2))
    assert sorted(os.listdir(path.parent)) == ["trained_network.pt"]


def test_state_dict_of_both_forms():
    net = torch.nn.Linear(2, 2)
    sd = net.state_dict()
    assert list(ck.state_dict_of({"state_dict": sd, "optimizer": {}})) == ["weight", "bias"]
    assert list(ck.state_dict_of(dict(sd))) == ["weight", "bias"]
    dp = {"module." + k: v for k, v in sd.items()}       # saved under DataParallel
    assert list(ck.state_dict_of(dp)) == ["weight", "bias"]
    with pytest.raises(ck.CheckpointError, match="'lr'"):
        ck.state_dict_of({"lr": 0.1}, "x.pt")


def test_load_weights_strict_and_mismatched():
    a = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    b = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 5))
    with pytest.raises(ck.CheckpointError, match=r"x.pt.*1.weight.*allow-mismatched"):
        ck.load_weights(b, a.state_dict(), "x.pt")
    before = b[1].weight.clone()
    kept = ck.load_weights(b, a.state_dict(), "x.pt", allow_mismatch=True)
    assert kept == ["1.weight", "1.bias"]
    assert torch.equal(b[0].weight, a[0].weight)
    assert torch.equal(b[1].weight, before)


def test_temps_of_a_killed_save_are_removed_and_nothing_else(tmp_path):
    left = [".epoch_004.pt.0123456789ab.tmp", ".trained_network.pt.ba9876543210.tmp"]
    kept = [".other.pt.0123456789ab.tmp", "epoch_004.pt", ".epoch_004.pt.tmp", "notes.txt"]
    for name in left + kept:
        (tmp_path / name).write_bytes(b"x")
    assert ck.remove_stale_temps(tmp_path, "epoch", "trained_network", ".pt") == 2
    assert sorted(f.name for f in tmp_path.iterdir()) == sorted(kept)
    assert ck.remove_stale_temps(tmp_path / "absent", "epoch", "trained_network", ".pt") == 0
