"""A remote node calling a graph on `modulespack serve` (examples/graphs/arith.yaml): V2 over HTTP
(JSON and binary tensors) and gRPC, scalar ports as [1] tensors, the API key sent as the header
clients send (`headers:` with `${VAR}` from the environment), and a wrong key named in the error.
One server calling another, and its 503 while the other is down: test_remote_e2e.py."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("tritonclient.grpc")

from servers import (  # tests/serve: on sys.path by conftest
    free_port,
    free_ports,
    http_ok,
    wait_ready,
)
from servers import start as start_process
from servers import stop as stop_process

from modulespack.core import Session
from modulespack.core.spec import load_graph

REPO = Path(__file__).resolve().parents[2]
KEY = "remote-test-key"


class Served:
    """`modulespack serve FILES` in a subprocess on free ports, stopped by `stop()`."""

    def __init__(self, files: list[Path], log: Path, grpc: bool = False):
        self.files, self.log_path = files, log
        self.port, self.grpc_port = free_ports(2) if grpc else (free_port(), None)
        self.proc: subprocess.Popen | None = None

    @property
    def http(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def grpc(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> Served:
        cmd = [sys.executable, "-m", "modulespack.cli", "serve", *map(str, self.files), "--port", str(self.port),
               "--api-key", KEY, "--log-level", "warning"]
        if self.grpc_port:
            cmd += ["--grpc-port", str(self.grpc_port)]
        # appended: a restarted server keeps the log of its earlier lives
        self.proc = start_process(cmd, log=self.log_path, cwd=REPO, append=True)
        wait_ready(self.proc, lambda: http_ok(f"http://{self.http}/readyz"), log=self.log_path, timeout_s=60)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
        self.proc = None


def arith_caller(protocol: str, address: str) -> dict:
    """A graph whose node `far` is examples/graphs/arith.yaml served elsewhere (float ports: FP64 [1])."""
    return {"name": "caller", "inputs": {"a": "float", "b": "float"},
            "nodes": [{"name": "far", "module": "remote", "inputs": {"a": "a", "b": "b"}, "params": {
                "protocol": protocol, "endpoints": [address], "model": "arith", "timeout": 10,
                "headers": {"Authorization": "Bearer ${REMOTE_TEST_KEY}"},
                "inputs": {"a": {"dtype": "float"}, "b": {"dtype": "float"}},
                "outputs": {"result": {"dtype": "float"}, "doubled": {"dtype": "float"}}}}],
            "outputs": {"result": "far/result", "doubled": "far/doubled"}}


@pytest.fixture(scope="module")
def back(tmp_path_factory):
    s = Served([REPO / "examples" / "graphs" / "arith.yaml"], tmp_path_factory.mktemp("back") / "log", grpc=True)
    try:
        yield s.start()
    finally:
        s.stop()


@pytest.mark.parametrize("protocol, binary", [("v2-http", False), ("v2-http", True), ("v2-grpc", None)])
def test_a_remote_node_calls_a_modulespack_graph(back, protocol, binary, monkeypatch):
    monkeypatch.setenv("REMOTE_TEST_KEY", KEY)
    g = arith_caller(protocol, back.http if protocol == "v2-http" else back.grpc)
    if binary is not None:
        g["nodes"][0]["params"]["binary_data"] = binary  # modulespack serve reads the binary extension too
    s = Session(load_graph(g))
    try:
        assert dict(s.run({"a": 1.0, "b": 2.0}).outputs) == {"result": 1.0, "doubled": 6.0}
    finally:
        s.close()


def test_a_wrong_key_is_named_in_the_error(back, monkeypatch):
    from modulespack.core import NodeError
    monkeypatch.setenv("REMOTE_TEST_KEY", "wrong")
    s = Session(load_graph(arith_caller("v2-http", back.http)))  # no endpoint usable at start: not checked
    try:
        with pytest.raises(NodeError, match=f"{back.http} \\(down: HTTP 401"):
            s.run({"a": 1.0, "b": 2.0})
    finally:
        s.close()
