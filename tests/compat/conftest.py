"""Fixtures for the modulespack2 compatibility tests.

The modulespack2 graph files live in the shared folder beside the repository
(``<parent of the repo>/shared/fixtures/mp2-graphs``); byte-for-byte copies are kept in
``tests/compat/fixtures`` so that the tests never depend on that folder being there.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modulespack import Registry

from mp2_helpers import LOCAL_GRAPHS, MP2_MODULES, SHARED_GRAPHS


@pytest.fixture
def mp2_graphs() -> Path:
    """The shared modulespack2 fixture folder; skips when this checkout has none beside it."""
    if not SHARED_GRAPHS.is_dir():
        pytest.skip(f"shared modulespack2 fixtures not found at {SHARED_GRAPHS} (the repository is expected "
                    "in a folder beside shared/); the copies in tests/compat/fixtures are tested instead")
    return SHARED_GRAPHS


@pytest.fixture
def graphs() -> Path:
    """The copies of the fixtures kept in this repository (always there)."""
    return LOCAL_GRAPHS


@pytest.fixture(params=["copies", "shared"])
def any_graphs(request) -> Path:
    """Both folders: the repository's copies, and the shared originals when present."""
    if request.param == "copies":
        return LOCAL_GRAPHS
    return request.getfixturevalue("mp2_graphs")


@pytest.fixture
def mp2_modules() -> Path:
    return MP2_MODULES


@pytest.fixture
def registry() -> Registry:
    return Registry(paths=[MP2_MODULES])


@pytest.fixture(autouse=True)
def request_dir(tmp_path, monkeypatch) -> Path:
    """Where the RequestHandler stand-in writes uploaded audio during a test."""
    d = tmp_path / "requests"
    d.mkdir()
    monkeypatch.setenv("MP2_REQUEST_DIR", str(d))
    return d


@pytest.fixture(autouse=True)
def no_sys_path_leak():
    before = list(sys.path)
    yield
    assert sys.path == before, "a sys.path edit outlived the call that made it"
