"""Speech modules: flite synthesis speed, pocketsphinx decoding speed and word error rates.

    python bench/speech_rtf.py [--n 20] [--seed 1234]

Sentences come from modulespack.speech.sentences (reproducible). Three tables; every comparison
is made in this run, on these sentences and this audio (no figure recorded elsewhere, on other
sentences or another machine, is printed beside them):

1. flite synthesis real-time factor (seconds of compute per second of audio) per voice,
   through the Flite module (one flite process per sentence, as in a graph).
2. pocketsphinx decode RTF on the same rms audio, one thread: pocketsphinx called directly
   (one Decoder, reset per utterance) vs the `examples/graphs/asr.yaml` Session, utterance by
   utterance alternately.
3. WER per voice (rms, slt, awb) with the default language model, direct vs asr.yaml on the
   same audio, and how many transcripts are identical.

RTF is seconds per second of audio, summed over utterances: wall-clock (includes the machine's
load) and, for decoding, this thread's CPU time (does not).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jiwer  # noqa: E402

import modulespack as mp  # noqa: E402
from modulespack.speech.asr import to_int16  # noqa: E402
from modulespack.speech.sentences import make_sentences  # noqa: E402
from modulespack.speech.tts import FLITE_VOICES, Flite  # noqa: E402

GRAPHS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples", "graphs")
WER_VOICES = ("rms", "slt", "awb")


def synthesise(voice: str, texts: list[str]) -> tuple[list[tuple], float]:
    tts = Flite(voice=voice)
    tts.setup()
    audio, compute, seconds = [], 0.0, 0.0
    for t in texts:
        t0 = time.perf_counter()
        out = tts.run(text=t)
        compute += time.perf_counter() - t0
        seconds += len(out["wav"]) / out["sr"]
        audio.append((out["wav"], out["sr"]))
    return audio, compute / seconds


class Timer:
    """Wall-clock and this thread's CPU seconds, summed over timed blocks.

    CPU time is the steadier figure on a shared machine: other processes stretch wall time,
    not the CPU a decode needs (both run in this thread: asr.yaml's one node runs inline).
    """

    def __init__(self):
        self.wall = self.cpu = 0.0

    def __enter__(self):
        self._w, self._c = time.perf_counter(), time.thread_time()

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._w
        self.cpu += time.thread_time() - self._c


def decode_both(sess: mp.Session, audio: list[tuple]) -> dict[str, tuple[list[str], Timer]]:
    """Each utterance direct, then through the Session, alternately, so load changes hit both alike."""
    import pocketsphinx

    d = pocketsphinx.Decoder(loglevel="ERROR")
    out = {"direct": ([], Timer()), "graph": ([], Timer())}
    for wav, sr in audio:
        pcm = to_int16(wav).tobytes()
        hyps, timer = out["direct"]
        with timer:
            d.reinit_feat()  # as PocketSphinx does: every utterance decodes as on a fresh decoder
            d.start_utt()
            d.process_raw(pcm, full_utt=True)
            d.end_utt()
            h = d.hyp()
        hyps.append(h.hypstr if h else "")
        hyps, timer = out["graph"]
        with timer:
            hyps.append(sess.run({"wav": wav, "sr": sr})["text"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20, help="sentences per voice (default 20)")
    ap.add_argument("--seed", type=int, default=1234, help="sentence generator seed (tests use 1234)")
    args = ap.parse_args()
    texts = make_sentences(args.n, seed=args.seed)
    words = sum(len(t.split()) for t in texts)
    print(f"{args.n} sentences, {words} words (make_sentences seed {args.seed})\n")

    audio: dict[str, list[tuple]] = {}
    print("1. flite synthesis (Flite module, one process per sentence)")
    print(f"{'voice':<8}{'audio s':>9}{'RTF':>9}")
    for voice in FLITE_VOICES:
        audio[voice], rtf = synthesise(voice, texts)
        secs = sum(len(w) / sr for w, sr in audio[voice])
        print(f"{voice:<8}{secs:>9.1f}{rtf:>9.4f}")

    with mp.Session(os.path.join(GRAPHS, "asr.yaml")) as sess:
        results = {voice: decode_both(sess, audio[voice]) for voice in WER_VOICES}

    secs = sum(len(w) / sr for w, sr in audio["rms"])
    print(f"\n2. pocketsphinx decode, rms audio ({secs:.1f} s), one thread")
    print(f"{'path':<22}{'RTF wall':>10}{'RTF cpu':>10}")
    for key, label in (("direct", "direct (Decoder)"), ("graph", "asr.yaml Session")):
        t = results["rms"][key][1]
        print(f"{label:<22}{t.wall / secs:>10.3f}{t.cpu / secs:>10.3f}")
    td, tg = results["rms"]["direct"][1], results["rms"]["graph"][1]
    print(f"graph overhead: {100 * (tg.cpu / td.cpu - 1):+.1f}% cpu, {100 * (tg.wall / td.wall - 1):+.1f}% wall")

    print(f"\n3. WER, default language model, the same {len(texts)} sentences both ways")
    print(f"{'voice':<8}{'direct':>9}{'asr.yaml':>10}{'same text':>11}")
    for voice in WER_VOICES:
        hd, hg = results[voice]["direct"][0], results[voice]["graph"][0]
        same = sum(a == b for a, b in zip(hd, hg))
        print(f"{voice:<8}{jiwer.wer(texts, hd):>9.1%}{jiwer.wer(texts, hg):>10.1%}{same:>7}/{len(texts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
