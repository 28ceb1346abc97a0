"""Fixtures for the remote tests: real MLServer instances (see mlserver_procs.py) and the twin model."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mlserver_procs as _mlserver  # also puts tests/serve (servers.py) on sys.path


def _require_mlserver():
    if not _mlserver.available():
        why = f"MLServer is not installed at {_mlserver.MLSERVER_BIN} (see scripts/setup.sh)"
        if os.environ.get("MODULESPACK_REQUIRE_MLSERVER"):  # scripts/test.sh (CI) installed it: missing is a failure
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def mlserver_group():
    """Two MLServer instances serving `melnet`, started once per test module (a module may override
    it to serve the model differently: `mlservers(2, extra={"delay": 0.02})`)."""
    _require_mlserver()
    with _mlserver.mlservers(2) as group:
        yield group


@pytest.fixture
def mlservers(mlserver_group):
    """The module's two instances, each running when the test starts (a test may kill and restart
    them; the next test finds them back up)."""
    mlserver_group.ensure_running()
    yield mlserver_group
