"""File lists: one utterance name per line, no extension."""
from __future__ import annotations

import os

from .atomic import atomic_open


def read_list(path) -> list[str]:
    """Utterance names in file order; blank lines and lines starting with # are skipped.

    Surrounding whitespace is stripped; a leading UTF-8 BOM is tolerated.

    >>> names = read_list("train.scp")                 # doctest: +SKIP
    """
    with open(path, encoding="utf-8-sig") as f:
        lines = (line.strip() for line in f)
        return [s for s in lines if s and not s.startswith("#")]


def write_list(names, path) -> None:
    """Write names one per line, atomically.

    Names that would not read back unchanged (empty, surrounding whitespace, a
    line break, a leading #) raise ValueError before anything is written.

    >>> write_list(["utt001", "utt002"], "train.scp")  # doctest: +SKIP
    """
    names = list(names)
    for s in names:
        if not isinstance(s, str) or not s or s != s.strip() or "\n" in s or "\r" in s or s.startswith("#"):
            raise ValueError(f"{s!r} cannot be written to a list and read back")
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(s + "\n" for s in names)


def scan_dir(directory, ext: str) -> list[str]:
    """Sorted names (extension removed) of the files in ``directory`` ending in ``ext``.

    ``ext`` may be given with or without the dot. Not recursive; symlinks to
    files count.

    >>> scan_dir("data/wav", "wav")                    # doctest: +SKIP
    ['utt001', 'utt002']
    """
    if not ext.strip("."):
        raise ValueError("ext must be a file extension such as 'wav'")
    suffix = "." + ext.lstrip(".")
    with os.scandir(directory) as it:
        return sorted(e.name[: -len(suffix)] for e in it
                      if e.name.endswith(suffix) and len(e.name) > len(suffix) and e.is_file())
