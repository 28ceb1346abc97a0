"""Real MLServer instances on 127.0.0.1 for the remote tests and bench/remote.py.

    with mlservers(2) as servers:            # each started and ready (HTTP, gRPC, the model)
        servers[0].http, servers[0].grpc     # "127.0.0.1:PORT" addresses
        servers[0].kill()                    # SIGKILL its process group, as a crash would
        servers[0].start()                   # back on the same ports, waits until ready
    # every process is killed and every temp folder removed, also when the block fails

Each instance runs `/work/main/.venv-mlserver/bin/mlserver start FOLDER` (MLServer lives in its own
virtualenv: its pins clash with ours) in a new session, from a temp folder holding settings.json
(its own HTTP and gRPC ports, no metrics port) and a copy of tests/remote/runtime/melnet.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# tests/serve/servers.py starts and stops every test server; bench/remote.py imports this module alone
if str(REPO / "tests" / "serve") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "serve"))
from servers import (
    ServerNotReady,
    accepts,
    free_ports,
    http_ok,
    log_tail,
    stop,
    wait_until,
)
from servers import start as start_process

MLSERVER_BIN = REPO / ".venv-mlserver" / "bin" / "mlserver"
RUNTIME = Path(__file__).resolve().parent / "runtime"
MODEL = "melnet"
HOST = "127.0.0.1"


def available() -> bool:
    return MLSERVER_BIN.is_file() and os.access(MLSERVER_BIN, os.X_OK)


class MLServerInstance:
    """One MLServer process serving `melnet` on its own HTTP and gRPC ports (kept across restarts,
    so a graph's endpoints stay valid)."""

    def __init__(self, folder: Path, http_port: int, grpc_port: int, *, extra: dict | None = None,
                 model_settings: dict | None = None, ready_timeout: float = 90.0):
        self.folder = folder
        self.http_port, self.grpc_port = http_port, grpc_port
        self.ready_timeout = ready_timeout
        self.log_path = folder / "mlserver.log"
        self.proc: subprocess.Popen | None = None
        self._write_repository(extra or {}, model_settings or {})

    @property
    def http(self) -> str:
        return f"{HOST}:{self.http_port}"

    @property
    def grpc(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _write_repository(self, extra: dict, model_settings: dict) -> None:
        settings = json.loads((RUNTIME / "settings.json").read_text())
        settings.update(host=HOST, http_port=self.http_port, grpc_port=self.grpc_port)
        (self.folder / "settings.json").write_text(json.dumps(settings, indent=1))
        model_dir = self.folder / MODEL
        shutil.copytree(RUNTIME / MODEL, model_dir, ignore=shutil.ignore_patterns("__pycache__"))
        ms = json.loads((model_dir / "model-settings.json").read_text())
        ms["parameters"]["extra"].update(extra)
        ms.update(model_settings)
        (model_dir / "model-settings.json").write_text(json.dumps(ms, indent=1))

    def start(self, wait: bool = True) -> MLServerInstance:
        if self.running:
            raise RuntimeError(f"MLServer on {self.http} is already running (pid {self.proc.pid})")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # appended: a restart keeps the log of the instance's earlier lives
        self.proc = start_process([MLSERVER_BIN, "start", self.folder], log=self.log_path, env=env, cwd=self.folder,
                                  append=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until HTTP says the server and the model are ready and the gRPC port accepts; a process
        that exits or a deadline that passes is an error carrying the end of the log."""
        try:
            wait_until(lambda: (self._http_ok("/v2/health/ready") and self._http_ok(f"/v2/models/{MODEL}/ready")
                                and self._accepts(self.grpc_port)),
                       timeout_s=self.ready_timeout, what=f"MLServer on {self.http} (gRPC {self.grpc})",
                       gone=lambda: None if self.running else (
                           f"exited with status {self.proc.returncode if self.proc else None} while starting"))
        except ServerNotReady as e:
            self.kill()
            raise ServerNotReady(f"{e}:\n{self.log_tail()}") from None

    def _http_ok(self, path: str) -> bool:
        return http_ok(f"http://{self.http}{path}")

    @staticmethod
    def _accepts(port: int) -> bool:
        return accepts(port, HOST)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the process group (SIGKILL by default: a crash, no goodbye to clients) and reap it."""
        if self.proc is None:
            return
        stop(self.proc, sig)
        # Children left in the group (none expected with parallel_workers 0) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def restart(self) -> MLServerInstance:
        self.kill()
        return self.start()

    def log_tail(self, n: int = 40) -> str:
        return log_tail(self.log_path, n)


class MLServerGroup(list):
    """The instances of one `mlservers()` block (a list), with helpers for the whole group."""

    @property
    def http(self) -> list[str]:
        return [s.http for s in self]

    @property
    def grpc(self) -> list[str]:
        return [s.grpc for s in self]

    def ensure_running(self) -> None:
        """Restart any instance a test left down (in parallel, then wait for each)."""
        down = [s for s in self if not s.running]
        for s in down:
            s.start(wait=False)
        for s in down:
            s.wait_ready()


@contextlib.contextmanager
def mlservers(n: int = 2, *, extra: dict | None = None, model_settings: dict | None = None,
              ready_timeout: float = 90.0):
    """Start n MLServer instances (in parallel), yield an MLServerGroup once all are ready, and
    kill them and remove their folder at the end, also on failure. `extra` overrides the runtime's
    parameters (`seed`, `delay` in seconds per request); `model_settings` top-level keys of
    model-settings.json (e.g. `inputs` to serve metadata that disagrees with a graph)."""
    if not available():
        raise RuntimeError(f"MLServer is not installed at {MLSERVER_BIN}")
    root = Path(tempfile.mkdtemp(prefix="modulespack-mlserver-"))
    group = MLServerGroup()
    try:
        ports = free_ports(2 * n)
        for i in range(n):
            folder = root / f"s{i}"
            folder.mkdir()
            group.append(MLServerInstance(folder, ports[2 * i], ports[2 * i + 1], extra=extra,
                                          model_settings=model_settings,
                                          ready_timeout=ready_timeout))
        for s in group:
            s.start(wait=False)
        for s in group:
            s.wait_ready()
        yield group
    finally:
        for s in group:
            s.kill()
        shutil.rmtree(root, ignore_errors=True)
