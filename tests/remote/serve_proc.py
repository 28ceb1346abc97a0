"""`modulespack serve` in a subprocess on 127.0.0.1 and free ports, for the end-to-end tests.

    with modulespack_serve([graph_dir], grpc=True) as srv:   # ready: /readyz says so
        srv.url, srv.http, srv.grpc                            # "http://127.0.0.1:P", "127.0.0.1:P", ...
    # stopped (its process group), also when the block fails
"""
from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from mlserver_procs import HOST  # puts tests/serve on sys.path
from servers import free_ports, http_ok, log_tail, process


@dataclass
class Serve:
    http: str
    grpc: str | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.http}"

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log, n)


@contextlib.contextmanager
def modulespack_serve(paths: list[Path], log: Path, *, grpc: bool = False, args: tuple[str, ...] = (),
                      ready_timeout: float = 60.0):
    http_port, grpc_port = free_ports(2)
    cmd = [sys.executable, "-m", "modulespack.cli", "serve", *map(str, paths), "--host", HOST,
           "--port", str(http_port), "--log-level", "warning", *args]
    if grpc:
        cmd += ["--grpc-port", str(grpc_port)]
    env = {k: v for k, v in os.environ.items() if k != "MODULESPACK_API_KEY"}
    srv = Serve(f"{HOST}:{http_port}", f"{HOST}:{grpc_port}" if grpc else None, log)
    with process(cmd, log=log, env=env, ready=lambda: http_ok(srv.url + "/readyz"), timeout_s=ready_timeout):
        yield srv
