"""`modulespack train PROJECT_DIR` and `modulespack infer PROJECT_DIR`: the NII toolkit's main.py.

Both take every option of the toolkit's main.py (modulespack.train.options); `infer` is
`train --inference`. torch is imported only when the command runs.
"""
from __future__ import annotations

import argparse
from typing import Any

from .common import EXIT_FAIL, add_command, err

TRAIN_EPILOG = """\
Files (as the toolkit's): epoch_NNN.pt after each epoch and trained_network.pt (best epoch) in
--save-model-dir (default: the project folder), with loss_curve.png; <set>_mean_std_*.bin and the
length cache in --path-cache-file (default: the project folder).

Exit status: 0 done, 1 training failed (e.g. NaN loss), 2 bad options, config, data or checkpoint.

examples:
  modulespack train examples/projects/vc-rms-slt --epochs 20 --batch-size 4 --lr 3e-4
  modulespack train PRJ --trained-model PRJ/epoch_004.pt            # resume after epoch 4
  modulespack train PRJ --trained-model other.pt --allow-mismatched-pretrained-model
"""

INFER_EPILOG = """\
Writes <output-dir>/<prefix><name><ext> per output stream of config.py for the test set:
16-bit PCM WAV at wav_samp_rate for .wav streams, raw float32 otherwise.

examples:
  modulespack infer PRJ --trained-model PRJ/trained_network.pt --output-dir out
  modulespack infer PRJ --trained-model PRJ/epoch_009.pt --output-dir out \\
      --trunc-input-length-for-inference 400 --trunc-input-overlap 10
"""


def _run(args: argparse.Namespace) -> int:
    try:
        import torch  # noqa: F401
    except ImportError:
        err(f"modulespack {args.command} needs torch: pip install torch==2.13.0")
        return EXIT_FAIL
    from ..train.harness import run
    project = args.project
    del args.project
    return run(args, project)


def _parser(sub: Any, name: str, help: str, description: str, epilog: str) -> argparse.ArgumentParser:
    from ..train.options import add_options
    p = add_command(sub, name, _run, help=help, description=description, epilog=epilog)
    p.add_argument("project", metavar="PROJECT_DIR", help="project folder holding config.py and model.py")
    add_options(p)
    return p


def add_parser(sub: Any) -> argparse.ArgumentParser:
    return _parser(sub, "train", "train a project of the NII toolkit's shape (config.py, model.py)",
                   "Train a model from a project folder as the NII toolkit's main.py does, with its "
                   "options; resume from an epoch checkpoint with --trained-model.", TRAIN_EPILOG)


def add_infer_parser(sub: Any) -> argparse.ArgumentParser:
    p = _parser(sub, "infer", "generate the test set of a project with a trained model",
                "Run a trained model over the project's test set (the toolkit's --inference).",
                INFER_EPILOG)
    p.set_defaults(inference=True)
    return p
