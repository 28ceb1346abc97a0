import os
import stat

import pytest

from modulespack.io import atomic_open, atomic_path


def test_success_replaces_target(tmp_path, listing):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_open(target) as f:
        f.write(b"new data")
        # While writing, the target still holds the old contents.
        assert target.read_bytes() == b"old"
    assert target.read_bytes() == b"new data"
    assert listing(tmp_path) == ["out.bin"]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_no_target_and_no_temp(tmp_path, listing, exc):
    target = tmp_path / "out.bin"
    with pytest.raises(exc):
        with atomic_open(target) as f:
            f.write(b"partial")
            f.flush()
            assert len(listing(tmp_path)) == 1  # the temp file exists meanwhile
            raise exc()
    assert listing(tmp_path) == []


def test_failure_keeps_old_target(tmp_path, listing):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            with open(tmp, "wb") as f:
                f.write(b"partial")
            raise RuntimeError
    assert target.read_bytes() == b"old"
    assert listing(tmp_path) == ["out.bin"]


def test_temp_is_in_target_dir_and_replace_failure_cleans_up(tmp_path, listing, monkeypatch):
    target = tmp_path / "out.bin"
    seen = []

    def failing_replace(src, dst):
        seen.append(src)
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk on fire"):
        with atomic_open(target, fsync=True) as f:
            f.write(b"x")
    assert os.path.dirname(seen[0]) == str(tmp_path)
    assert listing(tmp_path) == []


def test_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_open(tmp_path / "a.txt", "w") as f:
            f.write("hi")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a.txt").st_mode) == 0o644


def test_read_mode_refused(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "a", "rb"):
            pass


def test_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError):
        with atomic_open(tmp_path / "no" / "such" / "file"):
            pass
