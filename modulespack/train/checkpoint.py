"""Checkpoints in the NII toolkit's format, written atomically and read without running pickled code.

An epoch file (`epoch_NNN.pt`) is a dict with the keys of :data:`KEYS`; `trained_network.pt` is a
bare state dict. The toolkit keeps its loss logs as numpy arrays (and the best loss as a numpy
float), which torch's weights-only loader refuses by default. Those few numpy types, under both
the names numpy 1.x and 2.x pickle them with, are allowed for the load and nothing else: a file
that holds any other object is refused, never loaded with `weights_only=False`.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import re
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import torch

from ..io.atomic import atomic_path

#: the toolkit's epoch-file keys (nn_manager_conf.CheckPointKey)
STATE_DICT, INFO, OPTIMIZER, TRAIN_LOG, VAL_LOG, LR_SCHEDULER = (
    "state_dict", "info", "optimizer", "train_log", "val_log", "lr_scheduler")
KEYS = (STATE_DICT, INFO, OPTIMIZER, TRAIN_LOG, VAL_LOG, LR_SCHEDULER)


class CheckpointError(ValueError):
    """A checkpoint that is missing, corrupt, unsafe or does not fit the model; names the file."""


def save_atomic(obj: Any, path) -> None:
    """torch.save to a temporary file beside `path`, then rename: a kill leaves the old file whole."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def remove_stale_temps(save_dir, epoch_prefix: str, trained_name: str, ext: str) -> int:
    """Delete the temporary files a killed run left in `save_dir` (save_atomic's
    `.<name>.<hex>.tmp`, as big as a checkpoint), of this run's checkpoint names only."""
    stem = re.compile(r"^\.(" + re.escape(epoch_prefix) + r"_\d+|" + re.escape(trained_name) + r")"
                      + re.escape(ext) + r"\.[0-9a-f]{12}\.tmp$")
    try:
        entries = os.listdir(save_dir)
    except OSError:
        return 0
    removed = 0
    for e in entries:
        if stem.match(e):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(save_dir, e))
                removed += 1
    return removed


def _numpy_safe_globals() -> list:
    """Exactly what the toolkit's loss logs pickle: float arrays, their dtype, a numpy scalar."""
    import numpy as np
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:                              # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    # the logs are float64 (np.zeros' default); a dtype is rebuilt through its class
    allowed: list = [np.ndarray, np.dtype, type(np.dtype(np.float64)), multiarray._reconstruct,
                     multiarray.scalar]
    # files written under the other numpy major version name the same functions differently
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed.append((multiarray._reconstruct, f"{mod}._reconstruct"))
        allowed.append((multiarray.scalar, f"{mod}.scalar"))
    return allowed


def load_checkpoint(path) -> dict:
    """The dict in a checkpoint file (an epoch dict or a bare state dict), loaded safely, on the CPU."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with torch.serialization.safe_globals(_numpy_safe_globals()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        text = str(e)
        if "Unsupported global" in text or "weights_only" in text.lower():
            bad = torch.serialization.get_unsafe_globals_in_checkpoint(path) if _is_zip(path) else []
            extra = [g for g in bad if not g.startswith("numpy.")] or bad
            raise CheckpointError(f"{path}: holds objects other than tensors and the toolkit's numpy "
                                  f"logs ({', '.join(extra) or 'unknown'}); refusing to unpickle it "
                                  f"(it could run code)") from None
        raise CheckpointError(f"{path}: corrupt checkpoint ({_first_line(e)})") from None
    except Exception as e:  # zip, EOF, storage errors: all mean a damaged or foreign file
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(e).__name__}: {_first_line(e)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: holds a {type(obj).__name__}, not a checkpoint dict or state dict")
    return obj


def _is_zip(path: str) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__


def is_epoch_dict(ckpt: dict) -> bool:
    return isinstance(ckpt.get(STATE_DICT), dict)


def state_dict_of(ckpt: dict, path: str = "checkpoint") -> OrderedDict[str, torch.Tensor]:
    """The model weights of an epoch dict or a bare state dict, without DataParallel's `module.`."""
    sd = ckpt[STATE_DICT] if is_epoch_dict(ckpt) else ckpt
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, v in sd.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{path}: entry {k!r} is a {type(v).__name__}, not a tensor: "
                                  f"not a state dict or an epoch checkpoint")
        out[k.removeprefix("module.")] = v
    return out


def load_weights(model: torch.nn.Module, sd: dict, path: str, allow_mismatch: bool = False) -> list[str]:
    """Load `sd` into `model`; returns the model's keys left as they were (allow_mismatch only)."""
    own = model.state_dict()
    if allow_mismatch:
        fit = {k: v for k, v in sd.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
        own.update(fit)
        model.load_state_dict(own)
        return [k for k in own if k not in fit]
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k} {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
              for k in own if k in sd and tuple(sd[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if items:
                parts.append(f"{label}: {_few(items)}")
        raise CheckpointError(f"{path}: does not fit the model ({'; '.join(parts)}); "
                              f"--allow-mismatched-pretrained-model loads the matching tensors only")
    model.load_state_dict(sd)
    return []


def _few(items: Iterable[str], n: int = 4) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")
