"""Programs a worker process left behind: they run in process groups of their own (so a cancel can
kill them whole) and so outlive a worker killed with SIGKILL; they are found by the environment
variable they inherited from it (`worker.WORKER_ENV`), read from /proc (Linux; elsewhere nothing is
found this way)."""
from __future__ import annotations

import os
import signal
from typing import Iterator

from . import worker


def _marked(tag: str) -> Iterator[int]:
    needle = f"\0{worker.WORKER_ENV}={tag}\0".encode()
    try:
        names = os.listdir("/proc")
    except OSError:  # not Linux: nothing to find this way
        return
    for name in names:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/environ", "rb") as f:
                    env = b"\0" + f.read()
            except OSError:
                continue
            if needle in env:
                yield int(name)


def kill_marked(tag: str) -> int:
    """Kill the processes (their groups, when they lead one) whose environment has `worker.WORKER_ENV`=tag."""
    n = 0
    own = os.getpgrp()
    for pid in _marked(tag):
        try:
            pgid = os.getpgid(pid)
            if pgid == pid and pgid != own:
                os.killpg(pgid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
            n += 1
        except OSError:
            pass
    return n
