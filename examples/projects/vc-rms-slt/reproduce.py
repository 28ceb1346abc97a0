"""Reproduce the rms -> slt voice conversion example from nothing: corpus, data, training, MCD table.

    .venv/bin/python examples/projects/vc-rms-slt/reproduce.py [--sentences 150] [--epochs 30]
        [--exp DIR] [--install]

1. `modulespack corpus make`: the same sentences spoken by flite's rms and slt, WORLD features
   (examples/graphs/features.yaml), split by sentence into train / val / test lists;
2. prepare.py: DTW-aligned input (rms) and output (slt) mel-cepstra, log-F0 statistics, and the
   least-squares linear map (the baseline);
3. `modulespack train` on this project (config.py, model.py);
4. evaluate.py: the MCD table on the held-out sentences, the trained model run through
   examples/graphs/vc_trained.yaml.

Everything goes to --exp (default exp/ in this folder, git-ignored). Re-running reuses what is
there: the corpus maker skips existing files and training is skipped when exp/model holds a
trained network (delete the folder to start again). Each step's wall-clock and CPU time is printed,
with the table, at the end. --install copies the trained network and the log-F0
statistics into trained/, the files examples/graphs/vc_trained.yaml uses.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
sys.path.insert(0, str(HERE))

TRAIN_OPTIONS = ["--batch-size", "8", "--lr", "1e-3", "--sampler", "block_shuffle_by_length", "--seed", "1",
                 "--num-workers", "0", "--no-best-epochs", "10"]


class Steps:
    """Wall-clock and CPU time (this process and its children) of each step."""

    def __init__(self):
        self.times: dict[str, tuple[float, float]] = {}

    @staticmethod
    def _cpu() -> float:
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    def run(self, name: str, fn):
        print(f"== {name}", flush=True)
        wall, cpu = time.perf_counter(), self._cpu()
        out = fn()
        self.times[name] = (time.perf_counter() - wall, self._cpu() - cpu)
        print(f"== {name}: {self.times[name][0]:.1f} s wall, {self.times[name][1]:.1f} s CPU", flush=True)
        return out

    def report(self) -> str:
        lines = ["| step | wall (s) | CPU (s) |", "|---|---:|---:|"]
        lines += [f"| {k} | {w:.1f} | {c:.1f} |" for k, (w, c) in self.times.items()]
        return "\n".join(lines)


def _call(cmd: list[str], env=None) -> None:
    print("  $ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentences", type=int, default=150, help="corpus sentences (default 150)")
    ap.add_argument("--test-sentences", type=int, default=20, help="held out for the table (default 20)")
    ap.add_argument("--val-sentences", type=int, default=15, help="for validation (default 15)")
    ap.add_argument("--epochs", type=int, default=30, help="training epochs (default 30)")
    ap.add_argument("--workers", type=int, default=2, help="corpus maker processes (default 2)")
    ap.add_argument("--exp", type=Path, default=HERE / "exp", help="work folder (default exp/ here)")
    ap.add_argument("--install", action="store_true", help="copy the trained network and statistics to trained/")
    args = ap.parse_args(argv)
    if shutil.which("flite") is None:
        print("flite is not installed (apt-get install flite)", file=sys.stderr)
        return 1
    exp = args.exp.resolve()
    corpus, data, model = exp / "corpus", exp / "data", exp / "model"
    exp.mkdir(parents=True, exist_ok=True)
    steps = Steps()
    n = args.sentences
    steps.run("corpus", lambda: _call([sys.executable, "-m", "modulespack.cli", "corpus", "make", "--voices", "rms",
                                       "slt", "--sentences", str(n), "--val", str(args.val_sentences / n),
                                       "--test", str(args.test_sentences / n), "--workers", str(args.workers),
                                       "--out", str(corpus), "--quiet"]))

    from evaluate import evaluate, table
    from prepare import prepare
    steps.run("prepare", lambda: prepare(corpus, data))

    env = dict(os.environ, VC_RMS_SLT_DATA=str(data))
    if not (model / "trained_network.pt").exists():
        steps.run("train", lambda: _call([sys.executable, "-m", "modulespack.cli", "train", str(HERE),
                                          "--epochs", str(args.epochs), *TRAIN_OPTIONS, "--save-model-dir",
                                          str(model), "--path-cache-file", str(exp / "cache")], env))
    result = steps.run("evaluate", lambda: evaluate(corpus, data, model / "trained_network.pt"))
    result["train_sentences"] = len((data / "scp" / "train.lst").read_text().split())
    result["times"] = {k: {"wall_s": w, "cpu_s": c} for k, (w, c) in steps.times.items()}
    (exp / "results.json").write_text(json.dumps(result, indent=2))
    if args.install:
        dest = HERE / "trained"
        dest.mkdir(exist_ok=True)
        shutil.copy(model / "trained_network.pt", dest / "trained_network.pt")
        for voice in ("rms", "slt"):
            shutil.copy(data / "stats" / f"{voice}_lf0.stats", dest / f"{voice}_lf0.stats")
        print(f"installed the network and statistics in {dest}")
    print()
    print(table(result, result["train_sentences"]))
    rows = result["rows"]
    ls, net = rows["least-squares linear map"], rows["trained network (vc_trained.yaml)"]
    print(f"trained vs least-squares: {ls['features'] - net['features']:.2f} dB better on features, "
          f"{ls['re-analysed'] - net['re-analysed']:.2f} dB re-analysed")
    print(f"\nCPU cores: {len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(steps.report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
