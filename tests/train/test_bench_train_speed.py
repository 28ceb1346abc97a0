"""bench/train_speed.py's pieces that can go wrong quietly: the generated hn-nsf data and config,
the VC config rewritten in merge style, reading the epoch table both tools print, the verdict."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import train_speed
from train_data import HOP, N_MELS, make_nsf_data, write_nsf_config

from modulespack.io import read_list, read_raw, read_wav
from modulespack.train.project import load_config

needs_flite = pytest.mark.skipif(shutil.which("flite") is None, reason="flite not installed")

TOOLKIT_LOG = """\
--------------------------------------------------------------
  Epoch |  Duration(s) |   Train loss |     Dev loss |  Best
--------------------------------------------------------------
7,slt_0004,0,39600,0, 1/8, Time: 18.067688s, Loss: 98.182007
      0 |        179.0 |      89.6402 |      77.2348 |   yes
2026-11-30 07:33:57.799037
Save ./epoch_000.pt
      1 |        250.1 |      78.9557 |      66.0597 |   yes
Generating 1, 0,awb_0010,0,44640,0, time cost: 23.620s
Inference time cost: 81.478397s
"""


def test_epoch_table_and_inference_time_are_read_from_the_log():
    assert train_speed.EPOCH.findall(TOOLKIT_LOG) == [("0", "179.0", "89.6402", "77.2348"),
                                                      ("1", "250.1", "78.9557", "66.0597")]
    assert float(train_speed.INFER_TIME.search(TOOLKIT_LOG).group(1)) == pytest.approx(81.478397)
    assert float(train_speed.INFER_TIME.search("Inference time: 1.25 s; output in out").group(1)) == 1.25


def test_table_gives_the_verdict_on_mean_epoch_time():
    fast = train_speed.Run(wall=30, cpu=20, epochs=[(0, 10.0, "2.0", "1.5"), (1, 12.0, "1.0", "0.9")])
    slow = train_speed.Run(wall=40, cpu=30, epochs=[(0, 15.0, "2.1", "1.6"), (1, 15.0, "1.1", "1.0")])
    text = train_speed.table("p", {"toolkit": slow, "ours": fast}, 2)
    assert "ours 11.0 s vs 15.0 s -> met" in text and "1.0/0.9" in text
    text = train_speed.table("p", {"toolkit": fast, "ours": slow}, 2)
    assert "NOT met (ratio" in text
    close = train_speed.Run(wall=30, cpu=20, epochs=[(0, 11.2, "2.0", "1.5"), (1, 11.2, "1.0", "0.9")])
    assert "NOT met, within 3%" in train_speed.table("p", {"toolkit": fast, "ours": close}, 2)


@needs_flite
def test_generated_nsf_data_agree_in_length_and_load_as_a_project(tmp_path):
    split = make_nsf_data(tmp_path / "data", n_train=2, n_val=1)
    assert len(split["train"]) == 2 and len(split["val"]) == 1
    for name in split["train"] + split["val"]:
        wav, sr = read_wav(tmp_path / "data/wav_16k" / f"{name}.wav")
        mel = read_raw(tmp_path / "data/5ms/melspec" / f"{name}.mfbsp", N_MELS)
        f0 = read_raw(tmp_path / "data/5ms/f0" / f"{name}.f0", 1)
        assert sr == 16000 and len(wav) == len(mel) * HOP == len(f0) * HOP
        assert np.isfinite(mel).all() and (f0 > 0).any() and (f0 == 0).any()  # voiced and unvoiced
    prj = tmp_path / "prj"
    prj.mkdir()
    write_nsf_config(prj, tmp_path / "data")
    conf = load_config(prj)
    assert (conf.in_dim, conf.out_dim, conf.wav_samp_rate) == (81, 1, 16000)
    assert conf.train.subsets[0].names == split["train"] and conf.val.subsets[0].names == split["val"]
    assert load_config(prj, for_inference=True).test.subsets[0].names == split["val"]


def test_vc_config_in_merge_style_keeps_the_projects_streams(tmp_path, monkeypatch):
    if not (train_speed.VC / "config.py").is_file():
        pytest.skip("examples/projects/vc-rms-slt/config.py not there")
    data = tmp_path / "data"
    for sub in ("src_mgc", "tgt_mgc", "scp"):
        (data / sub).mkdir(parents=True)
    for split in ("train", "val", "test"):
        (data / "scp" / f"{split}.lst").write_text("0000\n")
    monkeypatch.setenv("VC_RMS_SLT_DATA", str(data))
    own = load_config(train_speed.VC)
    prj = train_speed.vc_project(data, tmp_path / "prj", with_main=False, toolkit=None)
    text = (prj / "config.py").read_text()
    assert "trn_list = [" in text and "input_dirs = [[" in text  # lists of lists: the merge style
    merged = load_config(prj)
    assert [s.__dict__ for s in merged.inputs] == [s.__dict__ for s in own.inputs]
    assert [s.__dict__ for s in merged.outputs] == [s.__dict__ for s in own.outputs]
    assert merged.train.subsets[0].input_dirs == own.train.subsets[0].input_dirs
    assert read_list(data / "scp/test.lst") == load_config(prj, for_inference=True).test.subsets[0].names
