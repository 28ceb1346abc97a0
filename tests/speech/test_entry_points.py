"""Every module named in pyproject.toml's `modulespack.modules` entry points can be imported from
where the entry point says (the packages import only what the entry points need)."""
from __future__ import annotations

import importlib
import tomllib
from pathlib import Path

import pytest

from modulespack.core.module import Module

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
ENTRY_POINTS = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]["modulespack.modules"]


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_entry_point_loads_a_module(name):
    target, attr = ENTRY_POINTS[name].split(":")
    cls = getattr(importlib.import_module(target), attr)
    assert isinstance(cls, type) and issubclass(cls, Module)
