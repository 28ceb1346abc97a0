"""Speech quality of the WORLD and voice-conversion graphs, measured on flite sentences, beside the baselines.

    .venv/bin/python bench/speech_quality.py [--n 20] [--seed 1234] [--no-pin] [--rtf-only]

Makes N sentences (modulespack.speech.sentences, seed 1234 by default: never those the vc.yaml
statistics were made from) with flite's rms, slt and awb voices, then measures:

- copy-synthesis MCD through examples/graphs/resynth.yaml, per voice: the output re-analysed against
  the original's analysis, frame by frame, all frames;
- source-target MCD rms vs slt (DTW), the distance a converter starts from;
- the converter of examples/graphs/vc.yaml (F0 statistics + piecewise frequency warp, its own
  parameters) on features (the warped rms envelope against slt's) and after synthesis and
  re-analysis, and the same with F0 conversion only (no warp);
- F0 RMSE: copy synthesis (Hz, frames voiced in both) and converted F0 vs slt along the DTW path (cents);
- real-time factor of resynth.yaml (Harvest) and vc.yaml (DIO) on one core: the process is pinned to
  one CPU (--no-pin to skip) with BLAS/OpenMP threads set to 1; wall clock and process CPU time, beside
  plain pyworld analysis + synthesis timed in the same run (what the graphs cost over the library,
  whatever else the machine is doing). --rtf-only measures only these, on the rms sentences.

All MCDs: WORLD analysis with Harvest, CheapTrick FFT 1024, D4C, 5 ms frames; mel-cepstrum order 24,
alpha 0.42; c0 excluded. The machine may be shared: the load average is printed with the RTFs,
whose wall-clock figure suffers most from other work (CPU time less so); "scaled to baseline" is the
baseline times the graph's CPU time over plain pyworld's in the same run, the load-independent figure.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import copy  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import modulespack as mp  # noqa: E402
from modulespack.io import read_wav  # noqa: E402
from modulespack.speech.metrics import f0_rmse, mel_cepstral_distortion  # noqa: E402
from modulespack.speech.sentences import make_sentences  # noqa: E402
from modulespack.speech.vc import FrequencyWarp  # noqa: E402
from modulespack.speech.world import SpToMcep, WorldAnalysis  # noqa: E402

GRAPHS = ROOT / "examples" / "graphs"
VOICES = ("rms", "slt", "awb")
# measured on this kind of machine, 20 sentences (see the module docstring for the set-up)
BASELINE = {
    "copy-synthesis MCD rms (dB)": 3.5, "copy-synthesis MCD slt (dB)": 3.6, "copy-synthesis MCD awb (dB)": 2.2,
    "source-target MCD rms vs slt, DTW (dB)": 9.35,
    "converter MCD, features (dB)": 7.3, "converter MCD, after synthesis (dB)": 8.0,
    "F0-only converter MCD, features (dB)": 9.3, "F0-only converter MCD, after synthesis (dB)": 9.75,
    "RTF resynth.yaml (harvest), one core": 0.23, "RTF vc.yaml (dio), one core": 0.058,
}
TARGET = {"copy-synthesis MCD rms (dB)": "<= 4.0", "converter MCD, after synthesis (dB)": "<= 8.5",
          "RTF vc.yaml (dio), one core": "< 0.1"}
NOTE = {"RTF resynth.yaml (harvest), one core": "baseline: plain pyworld harvest analysis+synthesis",
        "RTF vc.yaml (dio), one core": "baseline: plain pyworld dio analysis+synthesis"}


def flite(text: str, voice: str, out: Path) -> tuple[np.ndarray, int]:
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", str(out)], check=True, capture_output=True, timeout=60)
    return read_wav(out)


def vc_variant(warp: bool) -> mp.GraphSpec:
    """vc.yaml as written, or with the frequency warp switched off (ratio 1 = identity)."""
    data = yaml.safe_load((GRAPHS / "vc.yaml").read_text())
    if not warp:
        data = copy.deepcopy(data)
        for node in data["nodes"]:
            if node["name"] == "warp":
                node["params"] = {"ratio": 1.0}
    return mp.load_graph(data, path=GRAPHS / "vc.yaml")  # {path: ...} params are relative to the file


def warp_params() -> dict:
    data = yaml.safe_load((GRAPHS / "vc.yaml").read_text())
    return next(n["params"] for n in data["nodes"] if n["module"] == "frequency_warp")


def pyworld_direct(x: np.ndarray, sr: int, method: str) -> None:
    """Plain pyworld analysis + synthesis, the reference for the graphs' RTF."""
    import pyworld as pw

    d = x.astype(np.float64)
    if method == "dio":
        f0, t = pw.dio(d, sr, frame_period=5.0)
        f0 = pw.stonemask(d, f0, t, sr)
    else:
        f0, t = pw.harvest(d, sr, frame_period=5.0)
    sp = pw.cheaptrick(d, f0, t, sr, fft_size=1024)
    ap = pw.d4c(d, f0, t, sr, fft_size=1024)
    pw.synthesize(f0, sp, ap, sr, 5.0)


class Timer:
    def __init__(self):
        self.wall = self.cpu = self.audio = 0.0

    def run(self, sess, x: np.ndarray, sr: int):
        w, c = time.perf_counter(), time.process_time()
        out = sess(x, sr) if callable(sess) else sess.run({"wav": x, "sr": sr})
        self.wall += time.perf_counter() - w
        self.cpu += time.process_time() - c
        self.audio += len(x) / sr
        return out

    def rtf(self) -> tuple[float, float]:
        return self.wall / self.audio, self.cpu / self.audio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20, help="sentences (default 20)")
    ap.add_argument("--seed", type=int, default=1234, help="sentence seed (default 1234, as the tests)")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the process to one CPU")
    ap.add_argument("--rtf-only", action="store_true", help="measure only the real-time factors")
    args = ap.parse_args(argv)
    if shutil.which("flite") is None:
        print("flite is not installed (apt-get install flite)", file=sys.stderr)
        return 1
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    os.chdir(ROOT)  # vc.yaml's statistics paths are relative to the project root

    analysis = WorldAnalysis("harvest", frame_period=5.0, fft_size=1024)
    mcep = SpToMcep(order=24, alpha=0.42)
    warp = FrequencyWarp(**warp_params())
    resynth = mp.Session(GRAPHS / "resynth.yaml", parallel=False)
    vc = mp.Session(vc_variant(True), parallel=False)
    vc_f0 = mp.Session(vc_variant(False), parallel=False)
    t_resynth, t_vc, t_harvest, t_dio = Timer(), Timer(), Timer(), Timer()

    def feats(x, sr):
        p = analysis.run(wav=x, sr=sr)
        return p, mcep.run(sp=p["sp"])["mgc"]

    res: dict[str, list[float]] = {k: [] for k in BASELINE}
    f0_copy, f0_copy_vuv, f0_conv, f0_src = [], [], [], []
    sentences = make_sentences(args.n, args.seed)
    # warm up imports and caches so that the first sentence's timing is not the import time
    with tempfile.TemporaryDirectory() as tmp:
        warm, sr = flite("warm up", "rms", Path(tmp) / "warm.wav")
        resynth.run({"wav": warm, "sr": sr}), vc.run({"wav": warm, "sr": sr})
        for i, text in enumerate(sentences):
            if args.rtf_only:
                x, sr = flite(text, "rms", Path(tmp) / f"rms_{i}.wav")
                t_resynth.run(resynth, x, sr)
                t_vc.run(vc, x, sr)
                t_harvest.run(lambda x, sr: pyworld_direct(x, sr, "harvest"), x, sr)
                t_dio.run(lambda x, sr: pyworld_direct(x, sr, "dio"), x, sr)
                continue
            wav = {v: flite(text, v, Path(tmp) / f"{v}_{i}.wav") for v in VOICES}
            ana = {v: feats(*wav[v]) for v in VOICES}
            for v in VOICES:
                x, sr = wav[v]
                y = (t_resynth.run(resynth, x, sr) if v == "rms" else resynth.run({"wav": x, "sr": sr}))["wav"]
                p_y, mc_y = feats(y, sr)
                res[f"copy-synthesis MCD {v} (dB)"].append(mel_cepstral_distortion(ana[v][1], mc_y, dtw=False))
                if v == "rms":
                    e = f0_rmse(ana[v][0]["f0"], p_y["f0"])
                    f0_copy.append(e.rmse)
                    f0_copy_vuv.append(e.vuv_error)
            (p_s, mc_s), (p_t, mc_t) = ana["rms"], ana["slt"]
            st = mel_cepstral_distortion(mc_t, mc_s, details=True)
            res["source-target MCD rms vs slt, DTW (dB)"].append(st.mcd)
            f0_src.append(f0_rmse(p_t["f0"], p_s["f0"], unit="cents", path=st.path).rmse)
            mc_w = mcep.run(sp=warp.run(sp=p_s["sp"], sr=16000)["sp"])["mgc"]
            res["converter MCD, features (dB)"].append(mel_cepstral_distortion(mc_t, mc_w))
            res["F0-only converter MCD, features (dB)"].append(st.mcd)  # F0 does not touch the envelope
            x, sr = wav["rms"]
            t_harvest.run(lambda x, sr: pyworld_direct(x, sr, "harvest"), x, sr)
            t_dio.run(lambda x, sr: pyworld_direct(x, sr, "dio"), x, sr)
            out = t_vc.run(vc, x, sr)
            p_c, mc_c = feats(out["wav"], sr)
            conv = mel_cepstral_distortion(mc_t, mc_c, details=True)
            res["converter MCD, after synthesis (dB)"].append(conv.mcd)
            f0_conv.append(f0_rmse(p_t["f0"], p_c["f0"], unit="cents", path=conv.path).rmse)
            y0 = vc_f0.run({"wav": x, "sr": sr})["wav"]
            res["F0-only converter MCD, after synthesis (dB)"].append(mel_cepstral_distortion(mc_t, feats(y0, sr)[1]))
            print(f"  {i + 1}/{len(sentences)} {text!r}: copy rms {res['copy-synthesis MCD rms (dB)'][-1]:.2f}, "
                  f"source-target {st.mcd:.2f}, converted {conv.mcd:.2f} dB", flush=True)

    measured = {k: float(np.mean(v)) for k, v in res.items() if v}
    rtf = {"RTF resynth.yaml (harvest), one core": (t_resynth, t_harvest),
           "RTF vc.yaml (dio), one core": (t_vc, t_dio)}
    for k, (graph, _) in rtf.items():
        measured[k] = graph.rtf()[0]
    extra = [] if args.rtf_only else [
        ("F0 RMSE copy synthesis rms (Hz, voiced in both)", np.nanmean(f0_copy)),
        ("V/UV error copy synthesis rms", np.mean(f0_copy_vuv)),
        ("F0 RMSE source rms vs slt (cents, DTW path)", np.nanmean(f0_src)),
        ("F0 RMSE converted vs slt (cents, DTW path)", np.nanmean(f0_conv)),
    ]

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nspeech quality: {len(sentences)} sentences, seed {args.seed}, "
          f"{'pinned to CPU ' + str(min(os.sched_getaffinity(0))) if not args.no_pin else 'not pinned'}, "
          f"load average {load:.2f}")
    w = max(len(k) for k in [*BASELINE, *(e[0] for e in extra)])
    print(f"{'metric':<{w}}  {'baseline':>8}  {'measured':>8}  {'target':>7}  note")
    for k, b in BASELINE.items():
        if k not in measured:
            continue
        note = NOTE.get(k, "")
        if k in rtf:
            graph, direct = rtf[k]
            # the graph's cost relative to plain pyworld in the same run, scaled to the baseline
            # (which is plain pyworld's): what the graph would take on the baseline's quiet machine
            scaled = b * graph.rtf()[1] / direct.rtf()[1]
            note = (f"CPU {graph.rtf()[1]:.3f}; plain pyworld same run: wall {direct.rtf()[0]:.3f}, "
                    f"CPU {direct.rtf()[1]:.3f}; scaled to baseline {scaled:.3f}" + (f"; {note}" if note else ""))
        print(f"{k:<{w}}  {b:>8.3g}  {measured[k]:>8.3f}  {TARGET.get(k, ''):>7}  {note}")
    for k, v in extra:
        print(f"{k:<{w}}  {'-':>8}  {v:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
