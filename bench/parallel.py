"""Parallel branches: Session(parallel="auto") and Session(parallel=True) against a plain
ThreadPoolExecutor running the same four branch functions, in the same run.

    python bench/parallel.py [--runs N] [--ms 20] [--work sha256|numpy]

Two kinds of branch, four of each, all fed by one graph input:
- CPU-bound: about `--ms` ms of work that releases the GIL: SHA-256 of 1 MB blocks (default:
  little memory traffic, so two cores give close to 2x) or np.sin over a 1.6 MB array (memory-
  bound enough that this 2-core machine gives ~1.7x whatever runs it);
- latency-bound: time.sleep(`--ms` ms), standing for network calls and subprocesses.
Reported per run: the median wall time over `--runs` runs (the variants take turns, so a busy
machine slows them alike; measure on an otherwise idle machine) and the speed-up over calling the four functions one after another.
Targets: "auto" within 5% of the plain pool on CPU-bound branches; latency-bound branches not
capped at the core count (a speed-up above the number of cores).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import modulespack as mp  # noqa: E402
from modulespack import Module, Port  # noqa: E402
from modulespack.core.registry import Registry  # noqa: E402
from modulespack.core.spec import parse_graph  # noqa: E402

WIDTH = 4
DATA = np.random.default_rng(0).random(200_000)
BLOCK = DATA.tobytes()[:1 << 20]
WORK = "sha256"  # set by --work


def burn(x: float, reps: int) -> float:
    if WORK == "numpy":
        out = np.empty_like(DATA)
        for _ in range(reps):
            np.sin(DATA, out=out)  # numpy releases the GIL inside the loop
        return x + float(out[0])
    for _ in range(reps):
        hashlib.sha256(BLOCK).digest()  # hashlib releases the GIL for large inputs
    return x


def nap(x: float, seconds: float) -> float:
    time.sleep(seconds)
    return x


class Burn(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, reps: int = 10):
        self.reps = reps

    def run(self, x):
        return {"y": burn(x, self.reps)}


class Nap(Module):
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def __init__(self, seconds: float = 0.02):
        self.seconds = seconds

    def run(self, x):
        return {"y": nap(x, self.seconds)}


REG = Registry(use_entry_points=False)
REG.register(Burn, "burn")
REG.register(Nap, "nap")


def fan(module: str, params: dict) -> mp.BuiltGraph:
    nodes = [{"name": f"b{i}", "module": module, "params": params, "inputs": {"x": "$x"}} for i in range(WIDTH)]
    spec = {"inputs": {"x": "float"}, "nodes": nodes, "outputs": {f"y{i}": f"b{i}/y" for i in range(WIDTH)}}
    return mp.build_graph(parse_graph(spec), registry=REG)


def calibrate(ms: float) -> int:
    """Repetitions of the CPU work that take about `ms` ms on one core."""
    burn(0.0, 3)
    t = time.perf_counter()
    burn(0.0, 20)
    per = (time.perf_counter() - t) / 20
    return max(1, round(ms / 1000 / per))


def measure(kind: str, fn, arg, graph: mp.BuiltGraph, runs: int) -> list[tuple]:
    plain = ThreadPoolExecutor(WIDTH)
    auto = mp.Session(graph, parallel="auto")
    always = mp.Session(graph, parallel=True)

    def sequential():
        return [fn(1.0, arg) for _ in range(WIDTH)]

    def pool():
        return [f.result() for f in [plain.submit(fn, 1.0, arg) for _ in range(WIDTH)]]

    variants = {
        "sequential calls": sequential,
        "ThreadPoolExecutor(4)": pool,
        'Session(parallel="auto")': lambda: auto.run({"x": 1.0}),
        "Session(parallel=True)": lambda: always.run({"x": 1.0}),
    }
    for f in variants.values():  # warm-up: threads started, "auto" has learnt the costs
        f(), f()
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(runs):
        for name in names[r % len(names):] + names[:r % len(names)]:  # each goes first in turn
            t = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - t)
    plain.shutdown()
    auto.close()
    always.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    seq, base = med["sequential calls"], med["ThreadPoolExecutor(4)"]
    return [(kind, k, v * 1000, seq / v, v / base) for k, v in med.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30, help="runs per variant")
    ap.add_argument("--ms", type=float, default=20.0, help="work per branch, ms")
    ap.add_argument("--work", choices=("sha256", "numpy"), default="sha256", help="CPU-bound work")
    args = ap.parse_args()
    global WORK
    WORK = args.work
    reps = calibrate(args.ms)
    rows = measure("CPU-bound", burn, reps, fan("burn", {"reps": reps}), args.runs)
    rows += measure("latency-bound", nap, args.ms / 1000, fan("nap", {"seconds": args.ms / 1000}), args.runs)

    cores = os.cpu_count() or 1
    print(f"{WIDTH} branches of ~{args.ms:g} ms each ({args.work} CPU work), {cores} cores, "
          f"median of {args.runs} runs")
    print(f"{'branches':<14} {'variant':<26} {'ms/run':>8} {'speed-up':>9} {'vs pool':>8}")
    for kind, name, ms, speedup, ratio in rows:
        print(f"{kind:<14} {name:<26} {ms:>8.1f} {speedup:>8.2f}x {ratio:>8.3f}")
    auto = {kind: (speedup, ratio) for kind, name, _, speedup, ratio in rows if "auto" in name}
    cpu_ok = auto["CPU-bound"][1] <= 1.05
    lat_ok = auto["latency-bound"][0] > cores
    print(f'\ntargets: "auto" within 5% of the pool on CPU-bound branches: {"ok" if cpu_ok else "MISSED"} '
          f'({(auto["CPU-bound"][1] - 1) * 100:+.1f}%); latency-bound not capped at {cores} cores: '
          f'{"ok" if lat_ok else "MISSED"} ({auto["latency-bound"][0]:.2f}x)')


if __name__ == "__main__":
    main()
