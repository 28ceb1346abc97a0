"""Command-line options of the training harness: the NII toolkit's names, defaults and meanings.

Every option of the toolkit's own parser is accepted, even those this harness does not act on,
because projects' model.py files read them from `args` (e.g. `args.temp_flag`). Added here:
`--device` (the toolkit only knew `--no-cuda`) and `--quiet`.

No torch import: `modulespack --help` must stay fast. The device default is resolved in
:func:`resolve_device`, when a command runs.
"""
from __future__ import annotations

import argparse
from typing import Any

SCHEDULER_NAMES = {0: "ReduceLROnPlateau", 1: "StepLR", 2: "ExponentialLR"}
OPTIMIZERS = ("Adam", "AdamW", "SGD")


def _flag(g: Any, name: str, help: str) -> None:
    g.add_argument(name, action="store_true", default=False, help=help)


def add_options(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the toolkit's options (and ours) to `p`."""
    g = p.add_argument_group("project modules")
    g.add_argument("--module-model", default="model", metavar="NAME",
                   help="module holding Model and Loss (default model, i.e. model.py; a.b means a/b.py)")
    g.add_argument("--module-config", default="config", metavar="NAME",
                   help="module holding the data configuration (default config, i.e. config.py)")
    g.add_argument("--module-model-aux", default="", metavar="NAME", help="auxiliary model module (unused here)")
    g.add_argument("--module-dataset", default="datasets", metavar="NAME", help="dataset module (unused here)")

    g = p.add_argument_group("training")
    g.add_argument("--batch-size", type=int, default=1, metavar="N", help="batch size (default 1)")
    g.add_argument("--size-accumulate-grad", type=int, default=1, metavar="N",
                   help="mini-batches whose gradients are summed before one update (default 1)")
    g.add_argument("--epochs", type=int, default=50, metavar="N", help="number of epochs (default 50)")
    g.add_argument("--no-best-epochs", type=int, default=5, metavar="N",
                   help="stop after N epochs without a better validation loss (default 5)")
    _flag(g, "--force-save-lite-trained-network-per-epoch",
          "write trained_network.pt after every epoch, best or not")
    g.add_argument("--sampler", default="None", metavar="NAME",
                   help="None (random shuffle) or block_shuffle_by_length (default None)")
    g.add_argument("--lr", type=float, default=0.0001, help="learning rate (default 0.0001)")
    g.add_argument("--lr-decay-factor", type=float, default=-1.0, metavar="F",
                   help="learning-rate decay factor; > 0 turns the scheduler on (default -1, off)")
    g.add_argument("--lr-scheduler-type", type=int, default=0, choices=sorted(SCHEDULER_NAMES), metavar="T",
                   help="0 ReduceLROnPlateau (no early stopping), 1 StepLR, 2 ExponentialLR (default 0)")
    g.add_argument("--lr-patience", type=int, default=5, metavar="N", help="patience of ReduceLROnPlateau (default 5)")
    g.add_argument("--lr-steplr-size", type=int, default=5, metavar="N", help="step size of StepLR (default 5)")
    g.add_argument("--l2-penalty", type=float, default=-1.0, metavar="F",
                   help="weight decay of the optimizer (default -1, none)")
    g.add_argument("--grad-clip-norm", type=float, default=-1.0, metavar="F",
                   help="clip the gradient norm to F (default -1, no clipping)")
    g.add_argument("--optimizer", default="Adam", choices=OPTIMIZERS, help="Adam, AdamW or SGD (default Adam)")
    g.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    _flag(g, "--eval-mode-for-validation", "call model.eval() for the validation pass")
    _flag(g, "--model-forward-with-target", "the model's forward takes (input, target)")
    _flag(g, "--model-forward-with-file-name", "the model's forward takes (input, file_info)")
    g.add_argument("--shuffle", action="store_false", default=True,
                   help="given, turns shuffling of the training data OFF (the toolkit's meaning)")
    g.add_argument("--num-workers", type=int, default=0, metavar="N", help="data-loading processes (default 0)")
    _flag(g, "--multi-gpu-data-parallel", "use DataParallel over several GPUs (not supported here)")
    g.add_argument("--way-to-merge-datasets", default="concatenate", metavar="HOW", help="only concatenate is supported")
    _flag(g, "--ignore-length-invalid-data",
          "leave out utterances whose streams disagree in length by over 10 %% (default: an error)")
    _flag(g, "--ignore-cached-file-infor", "rescan the data instead of reading the length cache")
    g.add_argument("--path-cache-file", default="", metavar="DIR",
                   help="folder of the length cache and mean/std files (default: the project folder)")
    _flag(g, "--force-skip-datadir-scanning", "accepted for compatibility (no effect)")
    g.add_argument("--minibatch-num-train", type=int, default=0, metavar="N", help="at most N training batches per epoch")
    g.add_argument("--minibatch-num-val", type=int, default=0, metavar="N", help="at most N validation batches per epoch")
    g.add_argument("--debug-batch-num", type=int, default=0, metavar="N", help="at most N batches per pass (debugging)")

    g = p.add_argument_group("device")
    g.add_argument("--device", default=None, metavar="DEV",
                   help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda when available, else cpu)")
    _flag(g, "--no-cuda", "run on the CPU even when CUDA is available")
    g.add_argument("--cudnn-deterministic-toggle", action="store_false", default=True,
                   help="given, turns cudnn's deterministic mode off")
    _flag(g, "--cudnn-benchmark-toggle", "turn cudnn's benchmark mode on")

    g = p.add_argument_group("saving")
    g.add_argument("--save-model-dir", default=None, metavar="DIR",
                   help="folder of epoch_NNN.pt, trained_network.pt and the loss curve "
                        "(default: the project folder)")
    _flag(g, "--not-save-each-epoch", "do not write epoch_NNN.pt after each epoch")
    _flag(g, "--not-save-anything", "write no checkpoint at all")
    g.add_argument("--save-epoch-name", default="epoch", metavar="NAME", help="epoch file prefix (default epoch)")
    g.add_argument("--save-trained-name", default="trained_network", metavar="NAME",
                   help="best-model file name (default trained_network)")
    g.add_argument("--save-model-ext", default=".pt", metavar="EXT", help="checkpoint extension (default .pt)")
    g.add_argument("--save-model-every-n-minibatches", type=int, default=0, metavar="N",
                   help="accepted for compatibility (no effect)")

    g = p.add_argument_group("loading")
    g.add_argument("--trained-model", default="", metavar="FILE",
                   help="checkpoint to resume from (epoch_NNN.pt) or to start from / infer with")
    _flag(g, "--ignore-training-history-in-trained-model",
          "load weights and optimizer state, but start the epoch count and loss history afresh")
    _flag(g, "--ignore-optimizer-statistics-in-trained-model", "do not load the optimizer's state")
    _flag(g, "--allow-mismatched-pretrained-model",
          "load only the tensors whose name and shape match the model; start a fresh history")
    _flag(g, "--epoch2pt", "accepted for compatibility (no effect)")

    g = p.add_argument_group("inference")
    _flag(g, "--inference", "run inference on the test set instead of training")
    g.add_argument("--inference-sample-start-index", type=int, default=0, metavar="N",
                   help="first batch index to generate (default 0)")
    g.add_argument("--inference-sample-end-index", type=int, default=-1, metavar="N",
                   help="batch index to stop before (default -1, to the end)")
    g.add_argument("--inference-data-list", default="", metavar="FILE",
                   help="generate only the utterances named in this list")
    g.add_argument("--output-dir", default=None, metavar="DIR",
                   help="folder of generated files (default: PROJECT/output)")
    g.add_argument("--output-filename-prefix", default="", metavar="TEXT", help="prefix of generated file names")
    g.add_argument("--trunc-input-length-for-inference", type=int, default=-1, metavar="N",
                   help="generate in chunks of at most N input frames (default -1, whole utterances)")
    g.add_argument("--trunc-input-overlap", type=int, default=5, metavar="N",
                   help="frames shared by neighbouring chunks, cross-faded (default 5)")

    g = p.add_argument_group("other")
    g.add_argument("--verbose", type=int, default=1, help="0 quiet, 1 per-epoch lines (default 1)")
    _flag(g, "--quiet", "no progress bar")
    g.add_argument("--temp-flag", default="", help="free-form value for models that read args.temp_flag")
    _flag(g, "--flag-reverse-data-loading-order", "accepted for compatibility (no effect)")
    _flag(g, "--force-update-seq-length", "accepted for compatibility (no effect)")
    g.add_argument("--opt-wav-silence-handler", type=int, default=0, help="accepted for compatibility (only 0)")
    g.add_argument("--wait-warmup-active-repeat", default="1-1-3-2", help=argparse.SUPPRESS)
    g.add_argument("--profile-output-dir", default="./log_profile", help=argparse.SUPPRESS)
    for name in ("--active-learning-cycle-num", "--active-learning-new-sample-per-cycle",
                 "--active-learning-pre-train-epoch-num"):
        g.add_argument(name, type=int, default=0, help=argparse.SUPPRESS)
    for name in ("--active-learning-use-new-data-only", "--active-learning-train-model-for-retrieval",
                 "--active-learning-with-replacement"):
        g.add_argument(name, action="store_true", default=False, help=argparse.SUPPRESS)
    g.add_argument("--active-learning-cache-dataname-save", default="cache_al_data_log", help=argparse.SUPPRESS)
    g.add_argument("--active-learning-cache-dataname-path", default="", help=argparse.SUPPRESS)
    return p


def build_parser(prog: str = "modulespack train") -> argparse.ArgumentParser:
    """The parser of a project's main.py (no positional argument: the project is main.py's folder)."""
    p = argparse.ArgumentParser(prog=prog, description="Train (or, with --inference, run) a project of "
                                "the NII toolkit's shape: config.py, model.py.")
    return add_options(p)


class OptionError(ValueError):
    """Options that cannot work together; the message names them."""


def check_options(args: argparse.Namespace) -> None:
    """Refuse values argparse lets through but training cannot use."""
    positive = {"--batch-size": args.batch_size, "--size-accumulate-grad": args.size_accumulate_grad}
    for name, value in positive.items():
        if value < 1:
            raise OptionError(f"{name} must be at least 1, got {value}")
    for name, value in (("--epochs", args.epochs), ("--no-best-epochs", args.no_best_epochs),
                        ("--num-workers", args.num_workers)):
        if value < 0:
            raise OptionError(f"{name} must not be negative, got {value}")
    if args.lr <= 0:
        raise OptionError(f"--lr must be positive, got {args.lr}")
    if args.sampler not in ("None", "block_shuffle_by_length"):
        raise OptionError(f"--sampler {args.sampler!r}: use None or block_shuffle_by_length")
    if args.way_to_merge_datasets != "concatenate":
        raise OptionError(f"--way-to-merge-datasets {args.way_to_merge_datasets!r}: only concatenate is supported")
    if args.inference and args.trunc_input_length_for_inference > 0 and args.trunc_input_overlap < 0:
        raise OptionError("--trunc-input-overlap must not be negative")
    first, end = args.inference_sample_start_index, args.inference_sample_end_index
    if args.inference and 0 <= end <= first:
        # the toolkit refuses this too: it would generate nothing
        raise OptionError(f"--inference-sample-start-index {first} must be below "
                          f"--inference-sample-end-index {end}")


def resolve_device(args: argparse.Namespace) -> str:
    """The torch device: --no-cuda wins, then --device, then cuda when there is one."""
    import torch

    if args.no_cuda:
        return "cpu"
    if args.device:
        dev = str(args.device)
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise OptionError(f"--device {dev}: this torch has no CUDA device (use --device cpu)")
        try:
            torch.device(dev)
        except (RuntimeError, ValueError) as e:
            raise OptionError(f"--device {dev!r}: {e}") from None
        return dev
    return "cuda" if torch.cuda.is_available() else "cpu"
