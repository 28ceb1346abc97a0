"""Wiring: options -> project -> data -> model -> trainer or inference (the toolkit's main.py).

Exit status: 0 done; 1 the run failed (NaN loss, a model error); 2 a user error (options, config,
data, checkpoint), reported as one message naming the file, variable, utterance or option, not
as a traceback. A model.py that raises keeps its traceback: that is the project author's bug.

Where files go (the toolkit writes to the working directory, which its recipes set to the project
folder; the defaults here mean the same wherever the command is started):
checkpoints and the loss curve in --save-model-dir (default: the project folder), the length
cache and mean/std files in --path-cache-file (default: the project folder), generated files in
--output-dir (default: PROJECT/output).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

from .options import OptionError, build_parser, check_options, resolve_device


class DataSetupError(ValueError):
    """A data set that cannot be built (no usable utterance, unreadable statistics...)."""


def _data(build, *args, **kw):
    # building the data sets runs no project code but the config's, so any ValueError there is a
    # problem with the data or the config, reported as such
    try:
        return build(*args, **kw)
    except ValueError as e:
        if isinstance(e, _user_errors()):
            raise
        raise DataSetupError(str(e)) from None


def _log(msg: str) -> None:
    print(msg, flush=True)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _user_errors() -> tuple[type, ...]:
    from . import dataset, project
    from .checkpoint import CheckpointError
    from .history import HistoryError
    from .infer import InferenceError
    errors: list[type] = [OptionError, DataSetupError, project.ConfigError, CheckpointError, HistoryError, InferenceError]
    for mod in (dataset, project):
        for name in ("DataError", "DatasetError"):
            cls = getattr(mod, name, None)
            if isinstance(cls, type) and issubclass(cls, Exception) and cls not in errors:
                errors.append(cls)
    return tuple(errors)


def main(argv: Sequence[str] | None = None, project_dir=None) -> int:
    """A project's main.py: options as the toolkit's; the project is main.py's folder by default."""
    parser = build_parser(prog=os.path.basename(sys.argv[0]) or "main.py")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code) if isinstance(e.code, int) else 2
    if project_dir is None:
        project_dir = os.path.dirname(os.path.abspath(sys.argv[0])) if sys.argv and sys.argv[0] else os.getcwd()
    return run(args, project_dir)


def run(args: argparse.Namespace, project_dir) -> int:
    """Train or (args.inference) generate; returns the exit status."""
    from .steps import NanLossError
    user_errors = _user_errors()
    try:
        project = Path(project_dir).resolve()
        if not project.is_dir():
            raise OptionError(f"{project_dir}: no such project folder")
        check_options(args)
        return _infer(args, project) if args.inference else _train(args, project)
    except user_errors as e:
        _err(f"error: {e}")
        return 2
    except NanLossError as e:
        _err(f"error: {e}")
        return 1
    except RuntimeError as e:
        # a data error in a loader worker comes back as a RuntimeError holding its traceback
        last = _worker_user_error(e, user_errors)
        if last is None:
            raise
        _err(f"error: {last}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


def _worker_user_error(e: RuntimeError, user_errors: tuple[type, ...]) -> str | None:
    text = str(e)
    if "DataLoader worker process" not in text:
        return None
    last = text.strip().splitlines()[-1]
    for cls in user_errors:
        for prefix in (f"{cls.__module__}.{cls.__name__}: ", f"{cls.__name__}: "):
            if last.startswith(prefix):
                return last[len(prefix):]
    return None


def _seed(args: argparse.Namespace) -> None:
    import numpy as np
    import torch
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    os.environ["PYTHONHASHSEED"] = str(args.seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(args.seed)
        torch.backends.cudnn.deterministic = args.cudnn_deterministic_toggle
        torch.backends.cudnn.benchmark = args.cudnn_benchmark_toggle


def _folder(value: str | None, default: Path) -> Path:
    # explicit paths are the user's, relative to where the command runs
    return Path(value).resolve() if value else default


def _setup(args: argparse.Namespace, project: Path):
    from .project import load_config, load_model_module
    device = resolve_device(args)
    conf = load_config(project, args.module_config, for_inference=args.inference)
    mod = load_model_module(project, args.module_model)
    if not hasattr(mod, "Model"):
        raise OptionError(f"{project}: module {args.module_model!r} defines no Model class")
    _seed(args)
    return device, conf, mod


def _loader(ds, args: argparse.Namespace, train: bool):
    from .dataset import make_loader
    sampler = args.sampler if (train and args.sampler != "None") else None
    return make_loader(ds, batch_size=args.batch_size, shuffle=bool(train and args.shuffle),
                       num_workers=args.num_workers, sampler=sampler, seed=args.seed)


def _train(args: argparse.Namespace, project: Path) -> int:
    import torch

    from .checkpoint import load_checkpoint
    from .dataset import UtteranceSet, mean_std
    from .trainer import Trainer

    device, conf, mod = _setup(args, project)
    cache = _folder(args.path_cache_file, project)
    save_dir = _folder(args.save_model_dir, project)
    if conf.train is None:
        raise OptionError(f"{conf.path}: no training set (trn_list)")
    common = dict(cache_dir=cache, ignore_cache=args.ignore_cached_file_infor,
                  ignore_invalid=args.ignore_length_invalid_data, log=_log)
    trn = _data(UtteranceSet, conf, "train", **common)
    val = _data(UtteranceSet, conf, "val", **common) if conf.val is not None else None
    stats = _data(mean_std, conf, trn, cache, log=_log)
    model = mod.Model(conf.in_dim, conf.out_dim, args, conf.module, stats)
    loss_obj = mod.Loss(args) if hasattr(mod, "Loss") else None
    if loss_obj is None and not hasattr(model, "loss"):
        raise OptionError(f"{project}: module {args.module_model!r} has no Loss class and Model no loss()")
    model.to(device, dtype=torch.float32)
    n_par = sum(p.numel() for p in model.parameters() if p.requires_grad)
    _log(f"Project {project} on {device}: {len(trn)} training items"
         f"{f', {len(val)} validation items' if val is not None else ', no validation set'}; "
         f"{n_par} trainable parameters")
    trainer = Trainer(args, model, loss_obj, device, _loader(trn, args, True),
                      _loader(val, args, False) if val is not None and len(val) else None, save_dir, _log)
    if args.trained_model:
        trainer.load(load_checkpoint(args.trained_model), args.trained_model)
    trainer.run()
    return 0


def _infer(args: argparse.Namespace, project: Path) -> int:
    import torch

    from .checkpoint import load_checkpoint, load_weights, state_dict_of
    from .dataset import UtteranceSet
    from .infer import run_inference

    device, conf, mod = _setup(args, project)
    cache = _folder(args.path_cache_file, project)
    if conf.test is None:
        raise OptionError(f"{conf.path}: no test set (test_list) to run inference on")
    path = args.trained_model or str(_folder(args.save_model_dir, project) /
                                     f"{args.save_trained_name}{args.save_model_ext}")
    ckpt = load_checkpoint(path)
    test = _data(UtteranceSet, conf, "test", cache_dir=cache, ignore_cache=args.ignore_cached_file_infor,
                 ignore_invalid=args.ignore_length_invalid_data, inference=True, truncate=False, log=_log)
    model = mod.Model(conf.in_dim, conf.out_dim, args, conf.module)
    model.to(device, dtype=torch.float32)
    load_weights(model, state_dict_of(ckpt, path), path)
    out_dir = str(_folder(args.output_dir, project / "output"))
    n = run_inference(args, model, device, _loader(test, args, False), conf.outputs, conf.wav_samp_rate,
                      out_dir, _log)
    _log(f"{n} utterance{'s' if n != 1 else ''} written to {out_dir}")
    return 0
