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
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MLSERVER_BIN = REPO / ".venv-mlserver" / "bin" / "mlserver"
RUNTIME = Path(__file__).resolve().parent / "runtime"
MODEL = "melnet"
HOST = "127.0.0.1"


def available() -> bool:
    return MLSERVER_BIN.is_file() and os.access(MLSERVER_BIN, os.X_OK)


def free_ports(n: int) -> list[int]:
    """n distinct free ports: every socket is held open until all are chosen."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


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
        with open(self.log_path, "ab") as log:
            # A new session: kill() takes its whole process group, whatever MLServer forked.
            self.proc = subprocess.Popen(
                [str(MLSERVER_BIN), "start", str(self.folder)], cwd=self.folder, env=env,
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        """Until HTTP says the server and the model are ready and the gRPC port accepts; a process
        that exits or a deadline that passes is an error carrying the end of the log."""
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"MLServer on {self.http} exited with status "
                                   f"{self.proc.returncode if self.proc else None} while starting:\n"
                                   f"{self.log_tail()}")
            if (self._http_ok("/v2/health/ready") and self._http_ok(f"/v2/models/{MODEL}/ready")
                    and self._accepts(self.grpc_port)):
                return
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"MLServer on {self.http} (gRPC {self.grpc}) not ready after "
                           f"{self.ready_timeout:.0f} s:\n{self.log_tail()}")

    def _http_ok(self, path: str) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.http}{path}", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    @staticmethod
    def _accepts(port: int) -> bool:
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return True
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Stop the process group (SIGKILL by default: a crash, no goodbye to clients) and reap it."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=15)
        # Children left in the group (none expected with parallel_workers 0) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc = None

    def restart(self) -> MLServerInstance:
        self.kill()
        return self.start()

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-n:])


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
