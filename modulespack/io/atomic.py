"""Atomic file writes: readers never see a half-written file.

The data goes to a temporary file in the target's own directory (so that
``os.replace`` is a rename on one file system, which POSIX makes atomic), and the
temporary file is removed if anything, even KeyboardInterrupt, interrupts the write.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from typing import IO, Iterator

_TMP_SUFFIX = ".tmp"


def _create_temp(target: str) -> str:
    directory, base = os.path.split(target)
    # Cut the base so the temp name stays under NAME_MAX even for long targets.
    stem = "." + base[:120] + "."
    for _ in range(100):
        tmp = os.path.join(directory, stem + secrets.token_hex(6) + _TMP_SUFFIX)
        try:
            # 0o666 through O_CREAT lets the umask apply as for any new file;
            # tempfile.mkstemp would leave the result readable by the owner only.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp
    raise FileExistsError(f"{target}: could not create a temporary file beside it")


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path, fsync: bool = False) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    For libraries that want a file name rather than a file object. The temp file
    already exists (empty) when yielded. ``fsync=True`` also flushes the data and
    the directory entry to disk, which costs a few milliseconds per file.

    >>> with atomic_path("out.wav") as tmp:          # doctest: +SKIP
    ...     some_library.save(tmp)
    """
    target = os.fspath(path)
    tmp = _create_temp(target)
    try:
        yield tmp
        if fsync:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync:
        _fsync_dir(os.path.dirname(target))


@contextlib.contextmanager
def atomic_open(path, mode: str = "wb", fsync: bool = False, **open_kwargs) -> Iterator[IO]:
    """Open a temporary file for writing; on success it replaces ``path``.

    ``mode`` must be a write mode ("wb", "w", "wt"); extra keyword arguments go to
    :func:`open` (e.g. ``encoding``).

    >>> with atomic_open("names.txt", "w", encoding="utf-8") as f:   # doctest: +SKIP
    ...     f.write("utt001\\n")
    """
    if not mode.startswith("w"):
        raise ValueError(f"atomic_open needs a write mode ('w', 'wb'), got {mode!r}")
    with atomic_path(path, fsync=fsync) as tmp:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
