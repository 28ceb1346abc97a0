"""A real `modulespack serve` with HTTP and gRPC V2 for test_v2_http.py and test_v2_grpc.py: a
subprocess on free 127.0.0.1 ports, serving arith, vc (an example audio graph: wav float32 + sr),
kinds (one port of each kind: BYTES, BOOL, INT16...), boom (a node that fails) and slow."""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import free_ports, http_ok, process

REPO = Path(__file__).resolve().parents[2]
KEY = "v2-test-key"
STARTUP_S = 60
HEADERS = {"Authorization": f"Bearer {KEY}"}
VC = REPO / "examples" / "graphs" / "vc.yaml"  # WORLD with dio: the quickest example audio graph


@dataclass
class V2Server:
    http: str   # host:port, as tritonclient takes it
    grpc: str
    folder: Path

    @property
    def base(self) -> str:
        return f"http://{self.http}"


def write_graphs(folder: Path, graph_dir: Path) -> None:
    """The test graphs of conftest (their modules linked)."""
    (folder / "modules").symlink_to(graph_dir / "modules")
    for name in ("arith", "kinds", "boom", "slow"):
        (folder / f"{name}.yaml").write_text((graph_dir / f"{name}.yaml").read_text())


def serve(graph_dir: Path, tmp: Path) -> Iterator[V2Server]:
    """Start the server (API key KEY, gRPC on), wait for /v2/health/ready, yield it; stop it after."""
    folder = tmp / "graphs"
    folder.mkdir()
    write_graphs(folder, graph_dir)
    port, grpc_port = free_ports(2)
    log = tmp / "server.log"
    env = {**os.environ, "MODULESPACK_API_KEY": KEY}
    server = V2Server(f"127.0.0.1:{port}", f"127.0.0.1:{grpc_port}", folder)
    with process([sys.executable, "-m", "modulespack.cli", "serve", folder, VC, "--port", port,
                  "--grpc-port", grpc_port, "--timeout", "30", "--log-level", "warning"],
                 log=log, env=env, ready=lambda: http_ok(server.base + "/v2/health/ready"), timeout_s=STARTUP_S):
        yield server


@functools.lru_cache(maxsize=1)
def vc_reference() -> tuple:
    """(samples, rate, outputs) of the vc graph run in-process on a real utterance (flite's rms
    voice, examples/graphs/audio), once per test process."""
    from modulespack.core import Session
    from modulespack.io import read_wav
    x, sr = read_wav(REPO / "examples" / "graphs" / "audio" / "rms_hello.wav")
    wav = x.astype("float32")
    return wav, int(sr), dict(Session(VC).run({"wav": wav, "sr": int(sr)}).outputs)
