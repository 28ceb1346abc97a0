"""MCD table of the rms -> slt converters on the held-out sentences of a prepared corpus.

    python evaluate.py --corpus CORPUS --data DATA --checkpoint CKPT [--json OUT]

Every row compares with slt's own rendering of the same sentence: DTW-aligned, mel-cepstrum order
24 (alpha 0.42, from WORLD Harvest + CheapTrick at 5 ms, as examples/graphs/features.yaml), c0
excluded, mean over the test sentences of each sentence's MCD. "features" is the converted
mel-cepstrum itself; "re-analysed" runs WORLD synthesis on it (with the converted F0 and the
source's aperiodicity) and analyses the output WAV again, what a listener's audio holds.

- source: rms as it is (both columns: nothing is synthesised);
- untrained converter: examples/graphs/vc.yaml, log-F0 statistics + a piecewise frequency warp
  (features: the warp applied to the rms envelope; re-analysed: the graph's output WAV);
- least-squares linear map: DATA/linear_map.npy, fitted by prepare.py on the training sentences;
- trained: examples/graphs/vc_trained.yaml run with CKPT and DATA/stats (its `mgc` output for
  features, its WAV re-analysed), i.e. the graph that ships, not a separate code path.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import yaml

import modulespack as mp
from modulespack.io import read_list, read_raw, read_wav
from modulespack.speech.metrics import mel_cepstral_distortion
from modulespack.speech.vc import F0Transform, FrequencyWarp
from modulespack.speech.world import McepToSp, SpToMcep, WorldAnalysis, WorldSynthesis

HERE = Path(__file__).resolve().parent
GRAPHS = HERE.parents[1] / "graphs"
ROWS = ("source (no conversion)", "untrained converter (vc.yaml: F0 + warp)",
        "least-squares linear map", "trained network (vc_trained.yaml)")


def trained_graph(checkpoint: Path, stats: Path, source: str, target: str) -> mp.Session:
    """vc_trained.yaml with this run's checkpoint and statistics instead of the committed ones."""
    data = yaml.safe_load((GRAPHS / "vc_trained.yaml").read_text())
    for node in data["nodes"]:
        if node["name"] == "convert":
            node["params"]["checkpoint"] = str(Path(checkpoint).resolve())
            node["params"]["project"] = str(HERE)
        if node["name"] == "f0":
            node["params"] = {"source_stats": str(stats / f"{source}_lf0.stats"),
                              "target_stats": str(stats / f"{target}_lf0.stats")}
    return mp.Session(mp.load_graph(data, path=GRAPHS / "vc_trained.yaml"), parallel=False)


def untrained_graph() -> tuple[mp.Session, FrequencyWarp]:
    path = GRAPHS / "vc.yaml"
    warp = next(n["params"] for n in yaml.safe_load(path.read_text())["nodes"] if n["module"] == "frequency_warp")
    return mp.Session(path, parallel=False), FrequencyWarp(**warp)


class Tools:
    """The WORLD pieces every row shares, built once."""

    def __init__(self, stats: Path, source: str, target: str):
        self.analysis = WorldAnalysis("harvest", frame_period=5.0, fft_size=1024)
        self.mcep = SpToMcep(order=24, alpha=0.42)
        self.envelope = McepToSp(fft_size=1024, alpha=0.42)
        self.synthesis = WorldSynthesis(frame_period=5.0)
        self.f0 = F0Transform(source_stats=str(stats / f"{source}_lf0.stats"),
                              target_stats=str(stats / f"{target}_lf0.stats"))

    def reanalyse(self, wav: np.ndarray, sr: int) -> np.ndarray:
        return self.mcep.run(sp=self.analysis.run(wav=wav, sr=sr)["sp"])["mgc"]

    def synthesise(self, params: dict, mgc: np.ndarray, sr: int) -> np.ndarray:
        sp = self.envelope.run(mgc=mgc, sr=sr)["sp"]
        f0 = self.f0.run(f0=params["f0"])["f0"]
        return self.synthesis.run(f0=f0, sp=sp, ap=params["ap"], sr=sr, length=params["length"])["wav"]


def evaluate(corpus: Path, data: Path, checkpoint: Path, source: str = "rms", target: str = "slt",
             log=print) -> dict:
    corpus, data = Path(corpus), Path(data)
    # converted envelopes often push WORLD's output past full scale; the synthesis scales it down
    # and warns each time, which would bury the table (the MCD leaves out c0, the level)
    logging.getLogger("modulespack.speech.world").setLevel(logging.ERROR)
    ids = read_list(data / "scp" / "test.lst")
    w = np.load(data / "linear_map.npy").astype(np.float64)
    tools = Tools(data / "stats", source, target)
    trained = trained_graph(checkpoint, data / "stats", source, target)
    untrained, warp = untrained_graph()
    res = {r: {"features": [], "re-analysed": []} for r in ROWS}

    def add(row, ref, feat, reana):
        res[row]["features"].append(mel_cepstral_distortion(ref, feat))
        res[row]["re-analysed"].append(mel_cepstral_distortion(ref, reana))

    for k, i in enumerate(ids):
        wav, sr = read_wav(corpus / "wav_16k" / f"{source}_{i}.wav")
        ref = read_raw(corpus / "mgc" / f"{target}_{i}.mgc", 25)
        params = tools.analysis.run(wav=wav, sr=sr)
        mc = tools.mcep.run(sp=params["sp"])["mgc"]
        add(ROWS[0], ref, mc, mc)
        warped = tools.mcep.run(sp=warp.run(sp=params["sp"], sr=sr)["sp"])["mgc"]
        add(ROWS[1], ref, warped, tools.reanalyse(untrained.run({"wav": wav, "sr": sr})["wav"], sr))
        ls = (mc.astype(np.float64) @ w[:-1] + w[-1]).astype(np.float32)
        add(ROWS[2], ref, ls, tools.reanalyse(tools.synthesise(params, ls, sr), sr))
        out = trained.run({"wav": wav, "sr": sr})
        add(ROWS[3], ref, out["mgc"], tools.reanalyse(out["wav"], sr))
        log(f"  {k + 1}/{len(ids)} {source}_{i}: " + ", ".join(f"{res[r]['features'][-1]:.2f}" for r in ROWS)
            + " dB (features)")
    return {"sentences": len(ids), "rows": {r: {c: float(np.mean(v)) for c, v in cols.items()}
                                            for r, cols in res.items()}}


def table(result: dict, train_sentences: int | None = None) -> str:
    head = f"MCD to slt, {result['sentences']} held-out sentences" + \
        (f", {train_sentences} training sentences" if train_sentences else "") + " (dB, DTW, order 24, c0 excluded)"
    lines = [head, f"| {'converter':<44} | features | re-analysed |", f"|{'-' * 46}|---------:|------------:|"]
    for row, cols in result["rows"].items():
        lines.append(f"| {row:<44} | {cols['features']:8.2f} | {cols['re-analysed']:11.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, required=True, help="folder made by `modulespack corpus make`")
    ap.add_argument("--data", type=Path, required=True, help="folder made by prepare.py")
    ap.add_argument("--checkpoint", type=Path, required=True, help="trained_network.pt or epoch_NNN.pt")
    ap.add_argument("--source", default="rms")
    ap.add_argument("--target", default="slt")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    result = evaluate(args.corpus, args.data, args.checkpoint, args.source, args.target)
    result["train_sentences"] = len(read_list(args.data / "scp" / "train.lst"))
    print(table(result, result["train_sentences"]))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
