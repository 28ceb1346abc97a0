"""Batch over a corpus: WORLD features (`examples/graphs/features.yaml`) over generated utterances.

    python bench/batch.py [--n 200] [--seed 0]

Files per second, each configuration from a fresh output folder, timed from the start of the batch
(worker start-up included) to its last file written:

  1. `run_batch(engine="local", workers=1)`
  2. `run_batch(engine="local", workers=2)`
  3. `run_batch(engine="ray", workers=2)` on a local Ray started before timing (a cluster is running
     already when a batch is sent to it)
  4. the baseline: a plain `multiprocessing.Pool(2)` whose initializer builds the same modules with
     the same parameters, each task reading the WAV, calling their `run` directly and writing the
     four raw files with `modulespack.io.write_raw`.

Targets on a 2-core machine: local 2 workers >= 1.8x local 1 worker and >= 0.95x the plain pool;
Ray >= 0.8x the plain pool. The outputs of every configuration are compared byte for byte.
Utterances: flite (voices rms and slt alternately) speaking `modulespack.speech.sentences`.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from modulespack.core import build_graph  # noqa: E402
from modulespack.engines.batch import run_batch  # noqa: E402
from modulespack.engines.batch_items import make_items  # noqa: E402
from modulespack.io import read_wav, write_raw  # noqa: E402
from modulespack.speech.sentences import make_sentences  # noqa: E402

FEATURES = Path(__file__).resolve().parents[1] / "examples" / "graphs" / "features.yaml"
OUTPUTS = {"f0": "f0", "mgc": "mgc", "bap": "ap", "logmel": "mel"}   # graph output -> folder/extension


def make_corpus(root: Path, n: int, seed: int) -> list[str]:
    (root / "wav").mkdir(parents=True)
    names = []
    for i, text in enumerate(make_sentences(n, seed=seed)):
        name = f"utt{i:04d}"
        subprocess.run(["flite", "-voice", ("rms", "slt")[i % 2], "-t", text, "-o", str(root / "wav" / f"{name}.wav")],
                       check=True, capture_output=True, timeout=60)
        names.append(name)
    return names


def templates(out: Path) -> dict[str, str]:
    return {o: str(out / d / f"{{name}}.{d}") for o, d in OUTPUTS.items()}


def engine_run(graph, root: Path, names: list[str], out: Path, engine: str, workers: int) -> float:
    items = make_items(names, {"wav": str(root / "wav" / "{name}.wav")}, templates(out))
    t0 = time.perf_counter()
    results = list(run_batch(graph, items, engine=engine, workers=workers))
    seconds = time.perf_counter() - t0
    bad = [r for r in results if r.status != "done"]
    assert not bad, f"{engine}: {bad[0].name}: {bad[0].error}"
    return seconds


# ----------------------------------------------------------------- the plain multiprocessing baseline

_MODS: dict = {}


def _init() -> None:
    from modulespack.speech.dsp import MelSpectrogram
    from modulespack.speech.world import CodeAperiodicity, SpToMcep, WorldAnalysis
    # the parameters of features.yaml
    _MODS["analysis"] = WorldAnalysis(f0_method="harvest", frame_period=5.0, fft_size=1024)
    _MODS["mcep"] = SpToMcep(order=24, alpha=0.42)
    _MODS["bap"] = CodeAperiodicity()
    _MODS["mel"] = MelSpectrogram(n_fft=512, win_length=400, hop_length=80, n_mels=80, power=1.0, log=True)
    for m in _MODS.values():
        getattr(m, "setup", lambda: None)()


def _one(job: tuple[str, dict[str, str]]) -> None:
    wav_path, files = job
    wav, sr = read_wav(wav_path)
    a = _MODS["analysis"].run(wav=wav, sr=sr)
    values = {"f0": a["f0"], "mgc": _MODS["mcep"].run(sp=a["sp"], sr=sr)["mgc"],
              "bap": _MODS["bap"].run(ap=a["ap"], sr=sr)["bap"], "logmel": _MODS["mel"].run(wav=wav, sr=sr)["mel"]}
    for key, path in files.items():
        write_raw(values[key], path)


def pool_run(root: Path, names: list[str], out: Path, workers: int) -> float:
    for d in OUTPUTS.values():
        (out / d).mkdir(parents=True, exist_ok=True)
    jobs = [(str(root / "wav" / f"{n}.wav"), {o: t.replace("{name}", n) for o, t in templates(out).items()})
            for n in names]
    t0 = time.perf_counter()
    with multiprocessing.Pool(workers, initializer=_init) as pool:
        for _ in pool.imap_unordered(_one, jobs, chunksize=1):
            pass
    return time.perf_counter() - t0


def same_files(a: Path, b: Path) -> bool:
    fa = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    fb = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return fa == fb and all((a / p).read_bytes() == (b / p).read_bytes() for p in fa)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200, help="utterances (default 200)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-ray", action="store_true", help="leave out the Ray configuration")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_batch_") as tmp:
        root = Path(tmp)
        names = make_corpus(root, args.n, args.seed)
        audio = sum(len(w) / sr for w, sr in (read_wav(root / "wav" / f"{n}.wav") for n in names))
        print(f"{len(names)} utterances, {audio / 60:.1f} min of audio, features.yaml, {os.cpu_count()} CPUs")
        graph = build_graph(FEATURES)
        engine_run(graph, root, names[:2], root / "warm", "local", 1)   # disk caches (numba), page cache

        times: dict[str, float] = {}
        times["plain multiprocessing.Pool(2)"] = pool_run(root, names, root / "pool", 2)
        times["local, 1 worker"] = engine_run(graph, root, names, root / "local1", "local", 1)
        times["local, 2 workers"] = engine_run(graph, root, names, root / "local2", "local", 2)
        if not args.no_ray:
            import ray
            os.environ.pop("RAY_ADDRESS", None)
            ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                     configure_logging=False, log_to_driver=False)
            try:
                times["ray, 2 workers"] = engine_run(graph, root, names, root / "ray2", "ray", 2)
            finally:
                ray.shutdown()

        rate = {k: len(names) / v for k, v in times.items()}
        pool = rate["plain multiprocessing.Pool(2)"]
        print(f"\n{'configuration':<32} {'seconds':>8} {'files/s':>8} {'x 1 worker':>10} {'x pool':>7}")
        for k, r in rate.items():
            print(f"{k:<32} {times[k]:8.2f} {r:8.2f} {r / rate['local, 1 worker']:10.2f} {r / pool:7.2f}")
        checks = [("local 2 workers >= 1.8x local 1 worker", rate["local, 2 workers"] / rate["local, 1 worker"], 1.8),
                  ("local 2 workers >= 0.95x plain pool", rate["local, 2 workers"] / pool, 0.95)]
        if "ray, 2 workers" in rate:
            checks.append(("ray 2 workers >= 0.8x plain pool", rate["ray, 2 workers"] / pool, 0.8))
        print()
        for text, got, want in checks:
            print(f"target {text:<42} {got:5.2f}  {'met' if got >= want else 'NOT met'}")
        outs = [root / d for d in ("local1", "local2", "ray2") if (root / d).exists()]
        print("outputs byte-identical to the plain pool's:",
              all(same_files(root / "pool", o) for o in outs))


if __name__ == "__main__":
    main()
