"""Shared helpers of the `modulespack` command tests (a plain module: conftest.py cannot be
imported by name safely once other test folders have their own)."""
from __future__ import annotations

import textwrap
from pathlib import Path

from modulespack.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ARITH = EXAMPLES / "graphs" / "arith.yaml"
NESTED = EXAMPLES / "graphs" / "nested_demo.yaml"
MODULES = EXAMPLES / "modules"


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def write_graph(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).replace("{modules}", str(MODULES)))
    return path
