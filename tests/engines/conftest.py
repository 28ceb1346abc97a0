"""Fixtures for engine tests: ONE local Ray for the whole test session (2 CPUs, 127.0.0.1, no
dashboard; shut down at the end, and nothing of it may outlive the tests) and a few flite WAVs."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

# Ray turns 127.0.0.1 into this machine's address unless told it runs no multi-machine cluster (read
# when ray is imported, and inherited by the raylet and workers): everything stays on loopback
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "graphs"


def _session_processes(session_dir: str) -> list[str]:
    """Command lines of the processes of the Ray session `session_dir` (raylet, GCS, workers)."""
    name = os.path.basename(session_dir.rstrip("/"))
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                continue
            if name in cmd:
                found.append(f"{pid}: {cmd[:120]}")
    return found


@pytest.fixture(scope="session")
def ray_session():
    """Ray for this test session: `ray.init(num_cpus=2)` on 127.0.0.1. Engines find it initialised,
    so they use it and never shut it down; it is shut down here, after the last test."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    os.environ.pop("RAY_ADDRESS", None)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if ray.is_initialized():  # someone else's: use it, leave it
        yield ray
        return
    from ray._private import ray_constants
    ray_constants.ENABLE_RAY_CLUSTER = False  # in case ray was imported before this file
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                   configure_logging=False, log_to_driver=False)
    session_dir = ctx.address_info["session_dir"]
    assert ray.nodes()[0]["NodeManagerAddress"] == "127.0.0.1"
    try:
        yield ray
    finally:
        ray.shutdown()
        deadline = time.monotonic() + 15
        left = _session_processes(session_dir)
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = _session_processes(session_dir)
        assert not left, f"Ray processes outlived the test session: {left}"


@pytest.fixture(scope="session")
def ray_test_graphs(tmp_path_factory) -> dict[str, Path]:
    """Graph files of small test modules (nap, deaf, peak: see ray_graphs.py) -> their paths."""
    from ray_graphs import write_graphs  # this folder is on sys.path (no __init__.py: rootdir imports)
    return write_graphs(tmp_path_factory.mktemp("raygraphs"))


@pytest.fixture(scope="session")
def flite_wavs(tmp_path_factory) -> dict[str, Path]:
    """A few short utterances made with flite: name -> WAV path (16 kHz mono), all in one folder."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    folder = tmp_path_factory.mktemp("wavs")
    texts = {"u01": "hello there.", "u02": "the weather is nice today.", "u03": "one two three four.",
             "u04": "a short test sentence."}
    out = {}
    for name, text in texts.items():
        path = folder / f"{name}.wav"
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(path)], check=True,
                       capture_output=True, timeout=60)
        out[name] = path
    return out
