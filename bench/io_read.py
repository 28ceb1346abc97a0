"""read_raw against bare numpy.fromfile on a 100 MB float32 file.

    python bench/io_read.py [--mb 100] [--dim 80] [--repeats 7]

Both read the same file from the page cache (one untimed warm-up read), best
of several repeats; target: read_raw at least 0.9x numpy's speed.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from modulespack.io import read_raw, write_raw  # noqa: E402


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--dim", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()

    frames = args.mb * 2**20 // (4 * args.dim)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "feats.raw")
        data = np.random.default_rng(0).standard_normal((frames, args.dim), dtype=np.float32)
        write_raw(data, path)
        del data
        size_mb = os.path.getsize(path) / 2**20

        def bare():
            return np.fromfile(path, dtype="<f4").reshape(-1, args.dim)

        def ours():
            return read_raw(path, dim=args.dim)

        assert np.array_equal(bare(), ours())  # also warms the page cache
        t_np, t_ours = best_of(bare, args.repeats), best_of(ours, args.repeats)

    ratio = t_np / t_ours
    print(f"file: {size_mb:.0f} MB float32, [{frames}, {args.dim}], best of {args.repeats}")
    print(f"{'reader':<16}{'seconds':>10}{'MB/s':>10}")
    print(f"{'np.fromfile':<16}{t_np:>10.4f}{size_mb / t_np:>10.0f}")
    print(f"{'read_raw':<16}{t_ours:>10.4f}{size_mb / t_ours:>10.0f}")
    print(f"read_raw speed = {ratio:.2f}x numpy (target >= 0.90): {'ok' if ratio >= 0.9 else 'SLOW'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
