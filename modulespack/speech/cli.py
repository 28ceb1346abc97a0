"""`modulespack corpus`: make a parallel multi-speaker corpus with flite and extract its features."""
from __future__ import annotations

import argparse

EPILOG = """\
examples:
  modulespack corpus make --voices rms slt --sentences 50 --out corpus/
  modulespack corpus make --voices rms slt awb --sentences 200 --out corpus/ --workers 2

Re-running the same command skips every file that already exists (an interrupted run resumes).
Sentences are generated from a seeded word list and grammar (--seed), so every machine makes the
same corpus. Features come from a graph (--features, default examples/graphs/features.yaml).
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("corpus", help="make speech corpora with flite (wav, features, file lists)",
                              description=__doc__, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    m = sub.add_parser("make", help="synthesise and analyse a parallel corpus", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--voices", nargs="+", default=["rms", "slt"], help="flite voices (slt rms awb kal kal16)")
    m.add_argument("--sentences", type=int, default=20, help="number of sentences per voice (default 20)")
    m.add_argument("--out", required=True, help="output folder")
    m.add_argument("--seed", type=int, default=0, help="seed of the sentence generator (default 0)")
    m.add_argument("--features", help="graph computing the features (default examples/graphs/features.yaml)")
    m.add_argument("--val", type=float, default=0.1, help="fraction of sentences for val.lst (default 0.1)")
    m.add_argument("--test", type=float, default=0.1, help="fraction of sentences for test.lst (default 0.1)")
    m.add_argument("--workers", type=int, help="processes (default: one per core)")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    import sys

    from ..core import GraphError
    from .corpus import make_corpus
    try:
        rep = make_corpus(args.out, args.voices, args.sentences, seed=args.seed, features=args.features,
                          val=args.val, test=args.test, workers=args.workers, progress=not args.quiet)
    except GraphError as e:
        print(f"error: the features graph does not validate:\n{e}", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    dims = ", ".join(f"{k} {v}" for k, v in sorted(rep.dims.items()))
    print(f"{rep.out}: {len(rep.utterances)} utterances ({rep.made} made, {rep.skipped} already there); "
          f"feature dims: {dims}")
    return 0
