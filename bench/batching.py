"""Dynamic batching: a batchable torch module under many concurrent requests, with and without
`batch:` on its node, in the same run.

    python bench/batching.py [--clients 32] [--requests 12] [--max-size 32] [--max-wait-ms 5]

Needs torch (CPU build): `.venv/bin/pip install torch==2.13.0` (or `pip install -e .[train]`);
a plain `pip install torch` pulls the CUDA build, gigabytes this benchmark does not use.

The module is a small conv net over an 80-dim mel spectrogram: a keyword spotter in the style of
TC-ResNet/MatchboxNet (an input convolution, `--blocks` residual blocks of depthwise + pointwise
1-D convolutions `--width` channels wide, masked mean over time, a linear layer) on utterances of
0.8-1.2 s (`--frames` 100 at 10 ms). Such models are made of many small operations, so one
utterance costs mostly per-call overhead, which a batch pays once. A wide model on long inputs is
compute-bound on a CPU and gains nothing from batching there (`--width 256 --blocks 4 --frames 300`:
about 1x); on a GPU it would. `run` is one forward pass of one utterance;
`run_batch` pads a batch to its longest utterance and masks the padding, so each item's output
equals its own forward pass (checked below). `--clients` threads each call `Session.run`
`--requests` times, one after another (a closed loop, as clients waiting for answers do); the two
variants take turns for `--rounds` rounds, so a busy machine slows both alike.
A batch starts as soon as every run in flight has joined it, so in this closed loop batches come
in pairs: the clients of a big batch, back with new runs, collect behind the few that came back
first, which go at once when the big batch ends (mean batch size about half of `--clients`).
Reported: requests per second (median over rounds), latency p50/p99 (all rounds), mean batch
size; target: dynamic batching at least 3x the throughput without it.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np

try:
    import torch
except ImportError:
    sys.exit("bench/batching.py needs torch (CPU build): .venv/bin/pip install torch==2.13.0")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import modulespack as mp  # noqa: E402
from modulespack import Module, Port  # noqa: E402
from modulespack.core.registry import Registry  # noqa: E402
from modulespack.core.spec import parse_graph  # noqa: E402

N_MELS, CLASSES = 80, 32


class MelNet(torch.nn.Module):
    def __init__(self, width: int = 64, blocks: int = 8, kernel: int = 9):
        super().__init__()
        self.inp = torch.nn.Conv1d(N_MELS, width, 3, padding=1)
        self.depthwise = torch.nn.ModuleList([torch.nn.Conv1d(width, width, kernel, padding=kernel // 2, groups=width)
                                              for _ in range(blocks)])
        self.pointwise = torch.nn.ModuleList([torch.nn.Conv1d(width, width, 1) for _ in range(blocks)])
        self.out = torch.nn.Linear(width, CLASSES)

    def forward(self, mel: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """mel (batch, n_mels, frames), mask (batch, 1, frames) 1 on real frames -> (batch, classes)."""
        h = torch.relu(self.inp(mel)) * mask  # padding stays zero, as past the end of one utterance
        for dw, pw in zip(self.depthwise, self.pointwise):
            h = h + torch.relu(pw(dw(h))) * mask
        return self.out(h.sum(-1) / mask.sum(-1))


class MelClassifier(Module):
    """Class scores of an utterance's log-mel spectrogram (frames x 80), by a small conv net."""
    inputs = {"mel": Port("float32", (None, N_MELS))}
    outputs = {"scores": Port("float32", (CLASSES,))}
    batchable = True
    resources = {"num_cpus": 1}

    def __init__(self, width: int = 64, blocks: int = 8):
        torch.manual_seed(0)
        self.net = MelNet(width, blocks).eval()

    def run(self, mel):
        with torch.inference_mode():
            x = torch.from_numpy(mel).T.unsqueeze(0)
            return {"scores": self.net(x, torch.ones(1, 1, x.shape[-1])).squeeze(0).numpy()}

    def run_batch(self, items):
        lengths = [len(it["mel"]) for it in items]
        x = np.zeros((len(items), N_MELS, max(lengths)), np.float32)
        mask = np.zeros((len(items), 1, max(lengths)), np.float32)
        for i, it in enumerate(items):
            x[i, :, :lengths[i]] = it["mel"].T
            mask[i, :, :lengths[i]] = 1
        with torch.inference_mode():
            scores = self.net(torch.from_numpy(x), torch.from_numpy(mask)).numpy()
        return [{"scores": s} for s in scores]


def session(batch: dict | None, params: dict) -> mp.Session:
    reg = Registry(use_entry_points=False)
    reg.register(MelClassifier, "mel_classifier")
    node = {"name": "classify", "module": "mel_classifier", "params": params, "inputs": {"mel": "$mel"}}
    if batch:
        node["batch"] = batch
    spec = parse_graph({"name": "classify", "inputs": {"mel": {"dtype": "float32", "shape": [None, N_MELS]}},
                        "nodes": [node], "outputs": {"scores": "classify/scores"}})
    return mp.Session(mp.build_graph(spec, reg))


def load(sess: mp.Session, mels: list[np.ndarray], clients: int, requests: int) -> tuple[float, list[float], dict]:
    """(wall seconds, latencies, request index -> scores) for `clients` threads in a closed loop."""
    latencies: list[float] = []
    results: dict[int, np.ndarray] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        barrier.wait()
        for r in range(requests):
            k = c * requests + r
            t = time.perf_counter()
            out = sess.run({"mel": mels[k % len(mels)]})["scores"]
            dt = time.perf_counter() - t
            with lock:
                latencies.append(dt)
                results[k] = out

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, latencies, results


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(xs, q)) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--requests", type=int, default=12, help="requests per client")
    ap.add_argument("--max-size", type=int, default=32, help="batch: max_size")
    ap.add_argument("--max-wait-ms", type=float, default=5.0, help="batch: max_wait_s, in ms")
    ap.add_argument("--width", type=int, default=64, help="conv channels")
    ap.add_argument("--blocks", type=int, default=8, help="depthwise-separable residual blocks")
    ap.add_argument("--frames", type=int, default=100, help="mean utterance length in frames (+-20%%)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    mels = [rng.standard_normal((int(args.frames * rng.uniform(0.8, 1.2)), N_MELS)).astype(np.float32)
            for _ in range(64)]
    batch = {"max_size": args.max_size, "max_wait_s": args.max_wait_ms / 1e3}
    params = {"width": args.width, "blocks": args.blocks}
    variants = {"no batching": session(None, params), "dynamic batching": session(batch, params)}
    for s in variants.values():
        s.modules["classify"].net.load_state_dict(variants["no batching"].modules["classify"].net.state_dict())
    reference = variants["no batching"].modules["classify"]
    expected = [reference.run(m)["scores"] for m in mels]

    print(f"{args.clients} clients x {args.requests} requests x {args.rounds} rounds, mel {N_MELS} x "
          f"{args.frames} frames +-20%, {args.blocks} blocks {args.width} wide, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads); "
          f"batch: max_size {args.max_size}, max_wait_s {batch['max_wait_s']}")
    for s in variants.values():
        load(s, mels, args.clients, 2)  # warm-up: first calls of torch kernels, run plans
        if s.batchers:
            s.batchers["classify"].sizes.clear()
    rates: dict[str, list[float]] = {k: [] for k in variants}
    lats: dict[str, list[float]] = {k: [] for k in variants}
    err = 0.0
    for _ in range(args.rounds):
        for name, s in variants.items():
            secs, lat, results = load(s, mels, args.clients, args.requests)
            rates[name].append(len(lat) / secs)
            lats[name] += lat
            err = max([err] + [float(np.abs(v - expected[k % len(mels)]).max()) for k, v in results.items()])
    rows = {}
    for name, s in variants.items():
        sizes = s.batchers["classify"].sizes if s.batchers else [1]
        rows[name] = (statistics.median(rates[name]), pct(lats[name], 50), pct(lats[name], 99),
                      statistics.mean(sizes))
        s.close()

    print(f"\n{'mode':<18} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'mean batch':>11}")
    for name, (rate, p50, p99, size) in rows.items():
        print(f"{name:<18} {rate:8.1f} {p50:8.1f} {p99:8.1f} {size:11.1f}")
    ratio = rows["dynamic batching"][0] / rows["no batching"][0]
    print(f"\nthroughput ratio: {ratio:.2f}x (target >= 3x: {'ok' if ratio >= 3 else 'MISSED'})")
    print(f"every answer checked: largest difference from its utterance's own forward pass {err:.1e}")


if __name__ == "__main__":
    main()
