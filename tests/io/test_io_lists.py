import os

import pytest

from modulespack.io import read_list, scan_dir, write_list


def test_read_skips_blanks_and_comments(tmp_path):
    p = tmp_path / "train.scp"
    p.write_bytes("\ufeff# corpus A\r\nutt001\r\n\r\n  utt002  \n   # indented comment\nutt#3\n\t\n".encode())
    assert read_list(p) == ["utt001", "utt002", "utt#3"]


def test_round_trip(tmp_path, listing):
    names = ["b_utt", "a utt with space", "ünïcode", "x.y"]
    write_list(names, tmp_path / "l.scp")
    assert read_list(tmp_path / "l.scp") == names
    assert (tmp_path / "l.scp").read_bytes().count(b"\n") == 4
    assert listing(tmp_path) == ["l.scp"]


@pytest.mark.parametrize("bad", ["", " lead", "trail ", "two\nlines", "#comment", None])
def test_write_refuses_names_that_do_not_read_back(tmp_path, listing, bad):
    with pytest.raises(ValueError):
        write_list(["ok", bad], tmp_path / "l.scp")
    assert listing(tmp_path) == []


def test_scan_dir(tmp_path):
    for name in ["b.wav", "a.wav", "c.WAV", "d.lab", "e.b.wav", ".wav", "notwav"]:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "sub.wav").mkdir()
    os.symlink(tmp_path / "a.wav", tmp_path / "link.wav")
    assert scan_dir(tmp_path, "wav") == ["a", "b", "e.b", "link"]
    assert scan_dir(tmp_path, ".wav") == ["a", "b", "e.b", "link"]
    assert scan_dir(tmp_path, "lab") == ["d"]
    with pytest.raises(ValueError):
        scan_dir(tmp_path, "")
