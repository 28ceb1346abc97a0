"""Make the log-F0 statistics that examples/graphs/vc.yaml uses (flite voices rms -> slt).

For each voice: synthesise training sentences with flite, analyse them exactly as vc.yaml does
(WORLD DIO + StoneMask, 5 ms, F0 71-800 Hz), and accumulate the mean and std of log-F0 over voiced
frames with modulespack.io.MeanStd(voiced_only=True). Each file is raw float32: mean then std (8 bytes).

The sentences come from make_sentences with this script's own seed, minus any that the tests'
fixture (`make_sentences(20, seed=1234)`) or bench/speech_quality.py use, so converter quality is
always measured on sentences the statistics never saw. flite and WORLD are deterministic, so the
files are reproducible:

    .venv/bin/python examples/stats/make_stats.py            # writes examples/stats/{rms,slt}_lf0.stats
    .venv/bin/python examples/stats/make_stats.py --voices rms slt awb --n 40 --out /tmp/stats
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from modulespack.io import MeanStd, read_wav
from modulespack.speech.sentences import make_sentences
from modulespack.speech.world import WorldAnalysis

HERE = Path(__file__).resolve().parent
SEED = 5678
TEST_SEED, TEST_N = 1234, 20  # tests/speech/conftest.py `sentences` and bench/speech_quality.py defaults


def training_sentences(n: int, seed: int = SEED, exclude_seed: int = TEST_SEED, exclude_n: int = 100) -> list[str]:
    """`n` sentences from `seed`, none of which is among the first `exclude_n` of `exclude_seed`."""
    excluded = set(make_sentences(exclude_n, exclude_seed))
    pool = [s for s in make_sentences(n + exclude_n, seed) if s not in excluded]
    if len(pool) < n:
        raise SystemExit(f"only {len(pool)} training sentences left after excluding the test sentences")
    return pool[:n]


def flite(text: str, voice: str, out: Path) -> Path:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True, timeout=60)
    return out


def lf0_stats(voice: str, sentences: list[str], workdir: Path, analysis: WorldAnalysis) -> MeanStd:
    acc = MeanStd(dim=1, voiced_only=True)
    for i, text in enumerate(sentences):
        wav, sr = read_wav(flite(text, voice, workdir / f"{voice}_{i:03d}.wav"))
        f0 = analysis.run(wav=wav, sr=sr)["f0"].astype(np.float64)
        lf0 = np.zeros_like(f0)
        lf0[f0 > 0] = np.log(f0[f0 > 0])  # 0 stays 0 = unvoiced, which voiced_only skips
        acc.update(lf0)
    return acc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voices", nargs="+", default=["rms", "slt"], help="flite voices (default: rms slt)")
    ap.add_argument("--n", type=int, default=30, help="training sentences per voice (default 30)")
    ap.add_argument("--seed", type=int, default=SEED, help=f"sentence seed (default {SEED})")
    ap.add_argument("--out", type=Path, default=HERE, help="output folder (default: this folder)")
    args = ap.parse_args(argv)
    if shutil.which("flite") is None:
        print("flite is not installed (apt-get install flite)", file=sys.stderr)
        return 1
    sentences = training_sentences(args.n, args.seed)
    # the same analysis as vc.yaml's `analysis` node
    analysis = WorldAnalysis(f0_method="dio", frame_period=5.0, f0_floor=71.0, f0_ceil=800.0)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for voice in args.voices:
            acc = lf0_stats(voice, sentences, Path(tmp), analysis)
            path = args.out / f"{voice}_lf0.stats"
            acc.save(path)
            print(f"{path}: log-F0 mean {acc.mean[0]:.4f} (F0 {np.exp(acc.mean[0]):.1f} Hz), "
                  f"std {acc.std[0]:.4f}, {acc.count[0]} voiced frames from {len(sentences)} sentences")
    return 0


if __name__ == "__main__":
    sys.exit(main())
