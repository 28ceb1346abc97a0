"""Make a parallel multi-speaker corpus with flite, in the speech toolkit's layout.

    OUT/wav_16k/<spk>_<id>.wav        16 kHz 16-bit PCM
    OUT/f0/<spk>_<id>.f0              raw float32 [frames]        (one folder per feature)
    OUT/mgc/<spk>_<id>.mgc            raw float32 [frames, 25]
    OUT/ap/<spk>_<id>.ap              raw float32 [frames, dim]
    OUT/mel/<spk>_<id>.mel            raw float32 [frames, 80]
    OUT/scp/train.lst, val.lst, test.lst   utterance names, split by sentence so that the same
                                           sentence never sits in two lists
    OUT/text.tsv                      <id> TAB sentence
    OUT/features.json                 feature name -> dim, and the graph that made them

Features come from a graph (default `examples/graphs/features.yaml`) run through a Session, so
the corpus holds exactly what that graph computes. Every file is written atomically and re-running
skips what exists, so an interrupted run resumes where it stopped.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from ..io import read_wav, write_list, write_raw, write_wav
from ..io.atomic import atomic_open
from .sentences import make_sentences

DEFAULT_FEATURES = Path(__file__).resolve().parents[2] / "examples" / "graphs" / "features.yaml"
#: graph output -> folder (and file extension) in the toolkit layout
FOLDERS = {"f0": "f0", "mgc": "mgc", "bap": "ap", "ap": "ap", "logmel": "mel", "mel": "mel"}
RATE = 16000


@dataclass
class CorpusReport:
    out: Path
    utterances: list[str]
    made: int = 0
    skipped: int = 0
    dims: dict[str, int] = field(default_factory=dict)


def split_ids(ids: list[str], val: float, test: float) -> tuple[list[str], list[str], list[str]]:
    """Deterministic train/val/test split of sentence ids (at least one each when there are three)."""
    n = len(ids)
    n_test = max(1 if n >= 3 else 0, round(n * test))
    n_val = max(1 if n >= 3 else 0, round(n * val))
    return ids[:n - n_val - n_test], ids[n - n_val - n_test:n - n_test], ids[n - n_test:]


# Per-process state: modules and Sessions are built once per worker, not per utterance.
_WORKER: dict = {}


def _init_worker(features: str) -> None:
    from ..core import Session
    from .dsp import Resample
    from .tts import Flite
    _WORKER["tts"] = {}
    _WORKER["Flite"] = Flite
    _WORKER["resample"] = Resample(target_sr=RATE)
    _WORKER["features"] = Session(features, parallel=False)


def _make_one(job: tuple[str, str, str, str]) -> tuple[str, bool, dict[str, int]]:
    """Synthesise (if missing) and analyse (if missing) one utterance; returns (name, made, dims)."""
    out, voice, uid, text = job
    root = Path(out)
    name = f"{voice}_{uid}"
    wav_path = root / "wav_16k" / f"{name}.wav"
    made = False
    if wav_path.exists():
        wav, sr = read_wav(wav_path)
    else:
        tts = _WORKER["tts"].get(voice)
        if tts is None:
            tts = _WORKER["tts"][voice] = _WORKER["Flite"](voice=voice)
            tts.setup()
        r = tts.run(text=text)
        r = _WORKER["resample"].run(wav=r["wav"], sr=r["sr"])
        wav, sr = r["wav"], r["sr"]
        write_wav(wav_path, wav, sr, subtype="PCM_16")
        wav, sr = read_wav(wav_path)  # analyse exactly what is on disk
        made = True
    sess = _WORKER["features"]
    targets = {o: root / FOLDERS.get(o, o) / f"{name}.{FOLDERS.get(o, o)}" for o in sess.graph.outputs}
    dims: dict[str, int] = {}
    if not all(p.exists() for p in targets.values()):
        res = sess.run({"wav": wav, "sr": sr})
        for o, p in targets.items():
            arr = np.asarray(res.outputs[o], dtype=np.float32)
            dims[FOLDERS.get(o, o)] = 1 if arr.ndim == 1 else int(arr.shape[1])
            write_raw(arr, p)
        made = True
    return name, made, dims


def make_corpus(out: str | Path, voices: Iterable[str] = ("rms", "slt"), n_sentences: int = 20, seed: int = 0,
                features: str | Path | None = None, val: float = 0.1, test: float = 0.1,
                workers: int | None = None, progress: bool = True) -> CorpusReport:
    """Synthesise and analyse a parallel corpus; returns what was made and skipped.

    >>> rep = make_corpus("corpus", voices=["rms", "slt"], n_sentences=10)   # doctest: +SKIP
    >>> len(rep.utterances)                                                  # doctest: +SKIP
    20
    """
    from .tts import FLITE_VOICES
    voices = list(voices)
    bad = [v for v in voices if v not in FLITE_VOICES]
    if bad or not voices:
        raise ValueError(f"unknown flite voice(s) {bad or voices}; choose from {', '.join(FLITE_VOICES)}")
    if n_sentences < 1:
        raise ValueError("n_sentences must be at least 1")
    features = Path(features) if features else DEFAULT_FEATURES
    if not features.exists():
        raise FileNotFoundError(f"features graph {features} not found (give one with --features)")
    from ..core import build_graph
    graph = build_graph(features)  # a bad graph stops here, before any synthesis
    root = Path(out)
    for folder in ["wav_16k", "scp", *{FOLDERS.get(o, o) for o in graph.outputs}]:
        (root / folder).mkdir(parents=True, exist_ok=True)

    sentences = make_sentences(n_sentences, seed=seed)
    ids = [f"{i:04d}" for i in range(n_sentences)]
    jobs = [(str(root), v, uid, text) for uid, text in zip(ids, sentences) for v in voices]
    report = CorpusReport(root, [f"{v}_{uid}" for _, v, uid, _ in jobs])
    folders = [FOLDERS.get(o, o) for o in graph.outputs]
    todo = [j for j in jobs if not _complete(root, f"{j[1]}_{j[2]}", folders)]
    report.skipped = len(jobs) - len(todo)
    if todo:  # no worker start-up (seconds of imports) when everything is there
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        bar = _bar(len(todo), progress)
        with ProcessPoolExecutor(workers, initializer=_init_worker, initargs=(str(features),)) as pool:
            for name, made, dims in pool.map(_make_one, todo, chunksize=1):
                report.made += made
                report.skipped += not made
                report.dims.update(dims)
                bar.update(1)
        bar.close()

    train, val_ids, test_ids = split_ids(ids, val, test)
    for lst, part in (("train", train), ("val", val_ids), ("test", test_ids)):
        write_list([f"{v}_{uid}" for uid in part for v in voices], root / "scp" / f"{lst}.lst")
    with atomic_open(root / "text.tsv", "w") as f:
        f.writelines(f"{uid}\t{text}\n" for uid, text in zip(ids, sentences))
    info_path = root / "features.json"
    info = json.loads(info_path.read_text()) if info_path.exists() else {}
    info.update({"graph": str(features), "sample_rate": RATE, "dims": {**info.get("dims", {}), **report.dims}})
    with atomic_open(info_path, "w") as f:
        json.dump(info, f, indent=2)
    report.dims = info["dims"]
    return report


def _complete(root: Path, name: str, folders: list[str]) -> bool:
    return (root / "wav_16k" / f"{name}.wav").exists() and all(
        (root / f / f"{name}.{f}").exists() for f in folders)


def _bar(total: int, enabled: bool):
    from tqdm import tqdm
    return tqdm(total=total, unit="utt", desc="corpus", disable=not enabled)
