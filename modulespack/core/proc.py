"""Subprocesses that can be stopped: modules that run a program (flite, espeak-ng) start it with
`run_process`, so a cancelled or timed-out run, or the shutdown of the process that started it,
kills the program and everything it started, instead of leaving it running with no parent.

Why not plain `subprocess.run(timeout=...)`: it kills only the direct child (not what a shell or
the program started), knows nothing of the run being cancelled, and leaves children behind when
the parent exits before they end.
"""
from __future__ import annotations

import atexit
import os
import signal
import subprocess
import threading
from typing import Sequence

from .cancel import current_token
from .errors import Cancelled

_live: dict[int, subprocess.Popen] = {}   # pid -> process, for kill_all()
_live_lock = threading.Lock()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child leads its own group (start_new_session)
    except (ProcessLookupError, PermissionError):
        pass
    except OSError:
        proc.kill()


def run_process(args: Sequence[str], *, input: bytes | None = None, timeout: float | None = None,
                cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a program to its end and capture its output, like `subprocess.run(capture_output=True)`.

    The program runs in a process group of its own, killed whole when `timeout` passes
    (`subprocess.TimeoutExpired`), when the current run's CancelToken is set (`Cancelled`), or
    when this process exits (`kill_all`, also registered with atexit).
    """
    token = current_token()
    if token is not None:
        token.raise_if_set()
    proc = subprocess.Popen(list(args), stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env,
                            start_new_session=True)
    with _live_lock:
        _live[proc.pid] = proc
    unregister = token.on_cancel(lambda: _kill_group(proc)) if token is not None else None
    try:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, timeout, out, err) from None
        except BaseException:
            _kill_group(proc)
            proc.wait()
            raise
        if token is not None and token.is_set():
            raise Cancelled(token.reason)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    finally:
        if unregister is not None:
            unregister()
        _kill_group(proc)  # whatever the program left running in its group
        with _live_lock:
            _live.pop(proc.pid, None)


def kill_all() -> int:
    """Kill every program started by `run_process` that is still running; returns how many."""
    with _live_lock:
        procs = list(_live.values())
    for p in procs:
        _kill_group(p)
    return len(procs)


def live_pids() -> list[int]:
    with _live_lock:
        return list(_live)


atexit.register(kill_all)
# atexit runs only after the interpreter has joined its non-daemon threads (thread pools), and a
# thread waiting on a program would make exit wait for the program: threading's own exit hooks
# run before that join. Private API, hence the fallback.
getattr(threading, "_register_atexit", lambda fn: None)(kill_all)
