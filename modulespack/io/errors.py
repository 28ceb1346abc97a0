"""The one exception type for malformed data files."""
from __future__ import annotations

import os


class FormatError(ValueError):
    """A data file is malformed (truncated, wrong size, wrong format).

    The message starts with the file name; ``path`` holds it as given.

    >>> str(FormatError("a.raw", "size 6 is not a multiple of 4"))
    'a.raw: size 6 is not a multiple of 4'
    """

    def __init__(self, path, problem: str):
        self.path = os.fspath(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
