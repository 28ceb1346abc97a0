"""`modulespack serve` in a subprocess on 127.0.0.1 and free ports, for the end-to-end tests.

    with modulespack_serve([graph_dir], grpc=True) as srv:   # ready: /readyz says so
        srv.url, srv.http, srv.grpc                            # "http://127.0.0.1:P", "127.0.0.1:P", ...
    # stopped (its process group), also when the block fails
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlserver_procs import HOST, free_ports


@dataclass
class Serve:
    http: str
    grpc: str | None
    log: Path

    @property
    def url(self) -> str:
        return f"http://{self.http}"

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def modulespack_serve(paths: list[Path], log: Path, *, grpc: bool = False, args: tuple[str, ...] = (),
                      ready_timeout: float = 60.0):
    http_port, grpc_port = free_ports(2)
    cmd = [sys.executable, "-m", "modulespack.cli", "serve", *map(str, paths), "--host", HOST,
           "--port", str(http_port), "--log-level", "warning", *args]
    if grpc:
        cmd += ["--grpc-port", str(grpc_port)]
    env = {k: v for k, v in os.environ.items() if k != "MODULESPACK_API_KEY"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    srv = Serve(f"{HOST}:{http_port}", f"{HOST}:{grpc_port}" if grpc else None, log)
    try:
        deadline = time.monotonic() + ready_timeout
        while not _ready(srv.url):
            if proc.poll() is not None:
                raise RuntimeError(f"modulespack serve exited with {proc.returncode}:\n{srv.log_tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"modulespack serve not ready after {ready_timeout:.0f} s:\n{srv.log_tail()}")
            time.sleep(0.2)
        yield srv
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
