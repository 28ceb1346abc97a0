"""One pass over a data loader: forward, loss, backward, update (the toolkit's f_run_one_epoch).

The per-batch work is what the toolkit does and no more: one `.item()` per loss term (the
toolkit's own sync, which also gives the NaN check for free), a list append for the history and
a progress-bar tick. The forward call follows the toolkit's flags: `model(x)`, `model(x, target)`
with --model-forward-with-target, `model(x, file_info)` with --model-forward-with-file-name.
The loss is `model.loss(output, target)` when the model has one, else
`Loss.compute(output, model.normalize_target(target))`.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import torch

from .history import History

DTYPE = torch.float32


class NanLossError(RuntimeError):
    """A loss that is NaN or infinite; the message names the epoch and the utterances."""


def utterance_names(infos) -> list[str]:
    """Names from the toolkit's seq-info strings "idx,name,seg_idx,length,start_pos"."""
    out = []
    for s in infos:
        parts = str(s).split(",")
        out.append(parts[1] if len(parts) > 1 else str(s))
    return out


def to_device(t, device) -> Any:
    if isinstance(t, torch.Tensor):
        return t.to(device, dtype=DTYPE)
    if isinstance(t, list) and t:
        return [to_device(x, device) for x in t]
    return t


def forward_fn(model: torch.nn.Module, args: argparse.Namespace, func: Callable | None = None) -> Callable:
    """f(x, target, infos) calling the model as the toolkit's flags say."""
    f = func or model
    if args.model_forward_with_target:
        if args.model_forward_with_file_name:
            return lambda x, y, infos: f(x, y, infos)
        return lambda x, y, infos: f(x, y)
    if args.model_forward_with_file_name:
        return lambda x, y, infos: f(x, infos)
    return lambda x, y, infos: f(x)


def split_loss(out) -> tuple[torch.Tensor, list[float], list]:
    """(sum for backward, value of each term, early-stopping flag of each term)."""
    if isinstance(out, (list, tuple)) and len(out) == 2 and isinstance(out[0], (list, tuple)):
        terms, flags = out
        total = terms[0]
        for t in terms[1:]:
            total = total + t
        return total, [float(t.item()) for t in terms], list(flags)
    return out, [float(out.item())], [True]


def progress(total: int, desc: str, quiet: bool):
    """A tqdm bar on stderr (silent when stderr is not a terminal), or a no-op."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the train extra
        quiet = True
    if quiet:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False, disable=None,
                dynamic_ncols=True)


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def run_pass(args: argparse.Namespace, model: torch.nn.Module, loss_obj: Any, device, loader,
             history: History, epoch: int, optimizer: torch.optim.Optimizer | None = None,
             label: str = "train", reseed: Callable[[], None] | None = None) -> None:
    """Run `loader` once (training when `optimizer` is given), logging each batch's losses.

    `reseed` runs once the loader's iterator exists, before the first batch."""
    forward = forward_fn(model, args)
    model_loss = getattr(model, "loss", None)
    accum, clip = args.size_accumulate_grad, args.grad_clip_norm
    limit = args.minibatch_num_train if optimizer is not None else args.minibatch_num_val
    if args.debug_batch_num > 0:
        limit = args.debug_batch_num if limit <= 0 else min(limit, args.debug_batch_num)
    bar = progress(len(loader) if limit <= 0 else min(limit, len(loader)), f"epoch {epoch} {label}",
                   args.quiet or args.verbose == 0)
    params = [p for p in model.parameters()] if clip > 0 else None
    batches = iter(loader)
    if reseed is not None:
        reseed()
    start = time.perf_counter()
    try:
        for step, (x, y, infos, idx) in enumerate(batches):
            if optimizer is not None and (accum == 1 or step % accum == 0):
                optimizer.zero_grad()
            x = to_device(x, device)
            y = to_device(y, device)
            out = forward(x, y, infos)
            if model_loss is not None:
                loss_out = model_loss(out, y)
            else:
                loss_out = loss_obj.compute(out, model.normalize_target(y))
            total, values, flags = split_loss(loss_out)
            if not all(math.isfinite(v) for v in values):
                names = utterance_names(infos)
                raise NanLossError(f"epoch {epoch}: {label} loss is {values} on utterance"
                                   f"{'s' if len(names) > 1 else ''} {', '.join(names[:8])}; "
                                   f"training stopped (the best checkpoint is left as it was)")
            if optimizer is not None and total.requires_grad:
                if accum > 1:
                    (total / accum).backward()
                    if (step + 1) % accum == 0:
                        if clip > 0:
                            torch.nn.utils.clip_grad_norm_(params, clip)
                        optimizer.step()
                else:
                    total.backward()
                    if clip > 0:
                        torch.nn.utils.clip_grad_norm_(params, clip)
                    optimizer.step()
            now = time.perf_counter()
            history.add(idx, values, flags, now - start)
            start = now
            bar.update(1)
            if limit > 0 and step + 1 >= limit:
                break
    finally:
        bar.close()
    history.end_epoch(epoch)
