"""Turn a parallel corpus (modulespack corpus make) into the project's training data.

    python prepare.py CORPUS DATA [--source rms --target slt]

For each sentence, the source speaker's mel-cepstrum is the input stream as it is, and the target
speaker's is warped onto the source's time axis along a DTW path (each source frame gets the mean
of the target frames aligned with it), so the network learns a frame-synchronous map and keeps the
source's timing, as the graph does at run time. DTW on raw source and target cepstra pairs frames
of two different voices, which misaligns some; the path is therefore refined: a least-squares
linear map is fitted on the training pairs and the alignment redone between the mapped source and
the target (`--refine` rounds, 2 by default).

    DATA/src_mgc/<id>.mgc   source mel-cepstrum, raw float32 [frames, 25]
    DATA/tgt_mgc/<id>.mgc   target mel-cepstrum on the source's frames, raw float32 [frames, 25]
    DATA/scp/{train,val,test}.lst   sentence ids, from the corpus's own split
    DATA/stats/<voice>_lf0.stats    log-F0 mean and std over voiced training frames (F0Transform)
    DATA/linear_map.npy     the final least-squares map [26, 25] (the baseline evaluate.py reports)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from modulespack.io import MeanStd, read_list, read_raw, write_list, write_raw
from modulespack.io.atomic import atomic_open

DIM = 25  # mel-cepstrum order 24 + c0, as examples/graphs/features.yaml makes it
SPLITS = ("train", "val", "test")


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(pairs, 2) indices of the DTW path between a and b on c1..c24 (Euclidean, the MCD's distance)."""
    import librosa

    _, wp = librosa.sequence.dtw(X=a[:, 1:].T.astype(np.float64), Y=b[:, 1:].T.astype(np.float64),
                                 metric="euclidean")
    return wp[::-1]


def warp_to(path: np.ndarray, target: np.ndarray, n: int) -> np.ndarray:
    """Target frames on the source's n frames: the mean of the target frames aligned with each."""
    out = np.zeros((n, target.shape[1]), np.float64)
    count = np.zeros(n)
    np.add.at(out, path[:, 0], target[path[:, 1]])
    np.add.at(count, path[:, 0], 1.0)
    return (out / count[:, None]).astype(np.float32)  # a DTW path visits every source frame


def fit_linear(xs: list[np.ndarray], ys: list[np.ndarray], ridge: float = 1e-3) -> np.ndarray:
    """Least-squares map W [dim+1, dim] with y ~ [x, 1] @ W over all frame pairs (a tiny ridge keeps
    the solve well-posed when a dimension barely varies)."""
    x = np.concatenate(xs).astype(np.float64)
    y = np.concatenate(ys).astype(np.float64)
    xa = np.hstack([x, np.ones((len(x), 1))])
    gram = xa.T @ xa + ridge * len(x) * np.diag([1.0] * x.shape[1] + [0.0])
    return np.linalg.solve(gram, xa.T @ y)


def apply_linear(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ w[:-1] + w[-1]).astype(np.float32)


def sentence_ids(corpus: Path, split: str, source: str, target: str) -> list[str]:
    """Sentence ids of a corpus split that both voices have (names there are <voice>_<id>)."""
    names = set(read_list(corpus / "scp" / f"{split}.lst"))
    ids = sorted(n[len(source) + 1:] for n in names if n.startswith(source + "_"))
    missing = [i for i in ids if f"{target}_{i}" not in names]
    if missing:
        raise SystemExit(f"{corpus / 'scp' / (split + '.lst')}: no {target} utterance for {missing[:5]}")
    return ids


def load_mgc(corpus: Path, name: str) -> np.ndarray:
    path = corpus / "mgc" / f"{name}.mgc"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: make the corpus with `modulespack corpus make` first")
    return read_raw(path, DIM)


def lf0_stats(corpus: Path, voice: str, ids: list[str]) -> MeanStd:
    acc = MeanStd(dim=1, voiced_only=True)
    for i in ids:
        f0 = read_raw(corpus / "f0" / f"{voice}_{i}.f0", 1).astype(np.float64)
        acc.update(np.log(f0, out=np.zeros_like(f0), where=f0 > 0))  # 0 = unvoiced, skipped
    return acc


def prepare(corpus: Path, data: Path, source: str = "rms", target: str = "slt", refine: int = 2,
            log=print) -> dict[str, list[str]]:
    corpus, data = Path(corpus), Path(data)
    ids = {s: sentence_ids(corpus, s, source, target) for s in SPLITS}
    if not ids["train"]:
        raise SystemExit(f"{corpus / 'scp' / 'train.lst'}: no training sentences")
    src = {i: load_mgc(corpus, f"{source}_{i}") for s in SPLITS for i in ids[s]}
    tgt = {i: load_mgc(corpus, f"{target}_{i}") for s in SPLITS for i in ids[s]}
    w = None
    for round_ in range(refine + 1):
        # align the (mapped) source to the target; fit the map on the training pairs of this alignment
        paths = {i: dtw_path(src[i] if w is None else apply_linear(w, src[i]), tgt[i]) for i in src}
        warped = {i: warp_to(paths[i], tgt[i], len(src[i])) for i in src}
        w = fit_linear([src[i] for i in ids["train"]], [warped[i] for i in ids["train"]])
        log(f"prepare: alignment round {round_}: linear map fitted on {len(ids['train'])} sentences")
    for sub in ("src_mgc", "tgt_mgc", "scp", "stats"):
        (data / sub).mkdir(parents=True, exist_ok=True)
    for i, mc in src.items():
        write_raw(mc, data / "src_mgc" / f"{i}.mgc")
        write_raw(warped[i], data / "tgt_mgc" / f"{i}.mgc")
    for s in SPLITS:
        write_list(ids[s], data / "scp" / f"{s}.lst")
    for voice in (source, target):
        lf0_stats(corpus, voice, ids["train"]).save(data / "stats" / f"{voice}_lf0.stats")
    with atomic_open(data / "linear_map.npy", "wb") as f:
        np.save(f, w.astype(np.float32))
    log(f"prepare: {data}: " + ", ".join(f"{len(ids[s])} {s}" for s in SPLITS) + " sentences")
    return ids


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus", type=Path, help="folder made by `modulespack corpus make`")
    ap.add_argument("data", type=Path, help="output folder (the project's data)")
    ap.add_argument("--source", default="rms")
    ap.add_argument("--target", default="slt")
    ap.add_argument("--refine", type=int, default=2, help="alignment refinement rounds (default 2)")
    args = ap.parse_args(argv)
    prepare(args.corpus, args.data, args.source, args.target, args.refine)
    return 0


if __name__ == "__main__":
    sys.exit(main())
