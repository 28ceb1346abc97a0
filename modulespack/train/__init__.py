"""Train, resume and run projects of the NII speech toolkit's shape (config.py, model.py, main.py).

`modulespack train PROJECT_DIR`, `modulespack infer PROJECT_DIR` and a project's own three-line
main.py all end in :func:`main`. Importing this package imports neither torch nor numpy: the
harness modules do, when a command runs.
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None, project_dir=None) -> int:
    """Run training (or inference with --inference) of a project; returns the exit status."""
    from .harness import main as _main
    return _main(argv, project_dir)
