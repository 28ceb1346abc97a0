"""Real servers for the tests (and bench/remote.py), on 127.0.0.1 and free ports, always stopped:

    with app_in_thread(app) as url:                       # uvicorn in a thread, /readyz said 200
        ...
    with process([sys.executable, "-m", "modulespack.cli", "serve", ...], log=log,
                 ready=lambda: http_ok(url + "/readyz")) as proc:
        ...                                                # its own process group, ready() was true
    # terminated (the whole group), waited for, killed if it would not go

Imported by plain name (`from servers import ...`): pytest puts tests/serve on sys.path for its tests,
and tests/remote/mlserver_procs.py adds it for tests/remote and bench. Not named conftest: with the
whole suite in one process `conftest` may name another folder's. No pytest here, so bench can use it;
a server that is not ready raises ServerNotReady (a setup error in a fixture, as pytest.fail was).
"""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

HOST = "127.0.0.1"
POLL_S = 0.1


class ServerNotReady(RuntimeError):
    """A server exited, or was not ready by its deadline; the message ends with its log's tail."""


def free_ports(n: int) -> list[int]:
    """n distinct free ports: every socket is held open until all are chosen."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(n)]
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]


def free_port() -> int:
    return free_ports(1)[0]


def http_ok(url: str, headers: dict[str, str] | None = None, timeout_s: float = 2.0) -> bool:
    """True when GET url answers 200 (False when refused, not up yet, or not ready: 503...)."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout_s) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def accepts(port: int, host: str = HOST) -> bool:
    """True when host:port accepts a TCP connection."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def log_tail(log: Path, n: int = 60) -> str:
    try:
        return "\n".join(Path(log).read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return f"(no log at {log})"


def wait_until(ready: Callable[[], bool], *, timeout_s: float, what: str,
               gone: Callable[[], str | None] = lambda: None) -> None:
    """Poll ready() until true; `gone()` returns why the server can no longer become ready (or None)."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        if (why := gone()) is not None:
            raise ServerNotReady(f"{what} {why}")
        if time.monotonic() > deadline:
            raise ServerNotReady(f"{what} was not ready within {timeout_s:g} s")
        time.sleep(POLL_S)


@contextlib.contextmanager
def app_in_thread(app, *, ready_path: str = "/readyz", headers: dict[str, str] | None = None,
                  timeout_s: float = 60.0, stop_s: float = 20.0) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a daemon thread on a free port; yield its base URL once
    GET ready_path answers 200; stop the server after (an error if the thread outlives stop_s)."""
    import uvicorn
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, name=f"uvicorn-test-{port}", daemon=True)
    thread.start()
    url = f"http://{HOST}:{port}"
    try:
        wait_until(lambda: http_ok(url + ready_path, headers), timeout_s=timeout_s,
                   what=f"the server on {url} (uvicorn in a thread)",
                   gone=lambda: None if thread.is_alive() else f"stopped before {ready_path} answered 200")
        yield url
    finally:
        srv.should_exit = True
        thread.join(timeout=stop_s)
    if thread.is_alive():
        raise RuntimeError(f"the server on {url} did not stop within {stop_s:g} s")


def start(args: Sequence[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None,
          append: bool = False) -> subprocess.Popen:
    """Start args in a new session (its own process group, so stop() takes whatever it forks), stdout
    and stderr to log."""
    with open(log, "ab" if append else "wb") as out:
        return subprocess.Popen([str(a) for a in args], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True)


def wait_ready(proc: subprocess.Popen, ready: Callable[[], bool], *, log: Path, timeout_s: float,
               what: str | None = None) -> None:
    """Poll ready() until true; the process exiting or the deadline passing raises with the log's tail."""
    what = what or f"`{' '.join(map(str, proc.args[:4]))} ...` (pid {proc.pid})"
    try:
        wait_until(ready, timeout_s=timeout_s, what=what,
                   gone=lambda: None if proc.poll() is None else f"exited with {proc.returncode}")
    except ServerNotReady as e:
        raise ServerNotReady(f"{e}; the end of {log}:\n{log_tail(log)}") from None


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> int:
    """Send sig to the process group, wait timeout_s, then SIGKILL the group; returns the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
    return proc.returncode


@contextlib.contextmanager
def process(args: Sequence[str], *, log: Path, ready: Callable[[], bool], timeout_s: float = 60.0,
            env: dict[str, str] | None = None, cwd: Path | None = None,
            stop_s: float = 15.0) -> Iterator[subprocess.Popen]:
    """start(), wait_ready(), yield the process; stop() it after, also when the block fails."""
    proc = start(args, log=log, env=env, cwd=cwd)
    try:
        wait_ready(proc, ready, log=log, timeout_s=timeout_s)
        yield proc
    finally:
        stop(proc, timeout_s=stop_s)
