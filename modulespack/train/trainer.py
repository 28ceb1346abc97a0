"""The epoch loop: validation, best epoch, early stopping, checkpoints, resume, loss curve.

Files in the save folder, as the toolkit names them: `epoch_NNN.pt` after each epoch (NNN from
000; the dict of checkpoint.KEYS) and `trained_network.pt` (the best epoch's state dict), both
written atomically, and `loss_curve.png`.

Resuming is exact: each pass (training, validation) of an epoch seeds torch, numpy, `random` and
the loaders' samplers from (--seed, epoch), so an epoch's shuffling and dropout do not depend on whether
the epochs before it ran in this process. With the same seed, a run killed mid-epoch and resumed
from the last epoch file ends with the same weights as a run never interrupted.
"""
from __future__ import annotations

import argparse
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import checkpoint as ck
from .history import History
from .optim import Scheduler, make_optimizer
from .steps import run_pass


@dataclass
class TrainResult:
    epochs_run: list[int] = field(default_factory=list)
    best_epoch: int | None = None
    early_stopped: bool = False
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


def epoch_seed(seed: int, epoch: int, stream: int = 0) -> int:
    return (seed * 1_000_003 + epoch * 7_919 + stream * 104_729 + 17) % (2**31 - 1)


def prepare_loaders(seed: int, epoch: int, loaders) -> None:
    """Fix each loader's order for this epoch (before its iterator is made)."""
    s = epoch_seed(seed, epoch)
    for loader in loaders:
        if loader is None:
            continue
        for obj in (loader, getattr(loader, "sampler", None), getattr(loader, "batch_sampler", None)):
            gen = getattr(obj, "generator", None)
            if isinstance(gen, torch.Generator):
                gen.manual_seed(s)
            if hasattr(obj, "set_epoch"):
                obj.set_epoch(epoch)


def seed_globals(seed: int, epoch: int, stream: int) -> None:
    """Seed torch, numpy and random for one pass. Called after the pass's loader iterator exists:
    making one draws from torch's generator, but with persistent workers only the first time,
    which is epoch 0 in one run and the resumed epoch in another."""
    s = epoch_seed(seed, epoch, stream)
    torch.manual_seed(s)
    np.random.seed(s)
    random.seed(s)


def _set_flags(model: torch.nn.Module, validation: bool, epoch: int) -> None:
    # the toolkit tells models which pass runs through these optional attributes
    for name in ("flag_validation", "g_flag_validation", "validation"):
        if hasattr(model, name):
            setattr(model, name, validation)
    if hasattr(model, "g_epoch_idx"):
        model.g_epoch_idx = epoch


def _loss_text(loss: np.ndarray) -> str:
    if loss.shape[0] == 1:
        return f"{loss[0]:12.4f}"
    return " ".join(f"{v:6.2f}" if v > 1 else f"{v:1.4f}" for v in loss)


class Trainer:
    def __init__(self, args: argparse.Namespace, model: torch.nn.Module, loss_obj: Any, device,
                 train_loader, val_loader, save_dir: Path, log: Callable[[str], None] = print):
        self.args, self.model, self.loss_obj, self.device = args, model, loss_obj, device
        self.train_loader, self.val_loader = train_loader, val_loader
        self.save_dir, self.log = Path(save_dir), log
        self.optimizer = make_optimizer(model, args)
        self.scheduler = Scheduler(self.optimizer, args)
        self.hist_trn = History(args.epochs, len(train_loader.dataset))
        self.hist_val = History(args.epochs, len(val_loader.dataset)) if val_loader is not None else None
        self.info = ""                  # the toolkit's text log, kept in each epoch file

    # -- file names (the toolkit's f_save_epoch_name / f_save_trained_name)
    def epoch_path(self, epoch: int) -> Path:
        return self.save_dir / f"{self.args.save_epoch_name}_{epoch:03d}{self.args.save_model_ext}"

    @property
    def best_path(self) -> Path:
        return self.save_dir / f"{self.args.save_trained_name}{self.args.save_model_ext}"

    # -- resume
    def load(self, ckpt: dict, path: str) -> None:
        """Start from a checkpoint as the toolkit's --trained-model and ignore-* options say."""
        a = self.args
        sd = ck.state_dict_of(ckpt, path)
        if a.allow_mismatched_pretrained_model:
            kept = ck.load_weights(self.model, sd, path, allow_mismatch=True)
            self.log(f"Loaded matching tensors of {path}; left as initialised: {', '.join(kept) or 'none'}")
            return
        ck.load_weights(self.model, sd, path)
        if not ck.is_epoch_dict(ckpt):
            self.log(f"Loaded the weights of {path}")
            return
        if ckpt.get(ck.OPTIMIZER) and not a.ignore_optimizer_statistics_in_trained_model:
            try:
                self.optimizer.load_state_dict(ckpt[ck.OPTIMIZER])
            except (ValueError, KeyError) as e:
                raise ck.CheckpointError(f"{path}: its optimizer state does not fit --optimizer "
                                         f"{a.optimizer} and this model ({e}); "
                                         f"use --ignore-optimizer-statistics-in-trained-model") from None
        if a.ignore_training_history_in_trained_model:
            self.log(f"Loaded weights{'' if a.ignore_optimizer_statistics_in_trained_model else ' and optimizer'}"
                     f" of {path}; training history ignored")
            return
        if ckpt.get(ck.TRAIN_LOG):
            self.hist_trn.load_state_dict(ckpt[ck.TRAIN_LOG], f"{path} ({ck.TRAIN_LOG})")
        if ckpt.get(ck.VAL_LOG) and self.hist_val is not None:
            self.hist_val.load_state_dict(ckpt[ck.VAL_LOG], f"{path} ({ck.VAL_LOG})")
        self.scheduler.load_state_dict(ckpt.get(ck.LR_SCHEDULER))
        self.info = str(ckpt.get(ck.INFO) or "")
        self.log(f"Resuming from {path}: next epoch {self.hist_trn.next_epoch}")

    # -- the loop
    def run(self) -> TrainResult:
        a, res = self.args, TrainResult()
        model = self.model
        if hasattr(model, "other_setups"):
            model.other_setups()
        start = self.hist_trn.next_epoch
        if not a.not_save_anything:
            ck.remove_stale_temps(self.save_dir, a.save_epoch_name, a.save_trained_name, a.save_model_ext)
        if start >= a.epochs:
            self.log(f"Nothing to do: {start} of --epochs {a.epochs} epochs already trained")
        head = f"{'Epoch':>7s} | {'Duration(s)':>12s} | {'Train loss':>12s} | {'Dev loss':>12s} | {'Best':>5s}"
        self.log("-" * 62 + "\n" + head + "\n" + "-" * 62)
        if self.info:       # the epochs before a resume, as the checkpoint recorded them
            self.log(self.info.rstrip("\n"))
        for epoch in range(start, a.epochs):
            prepare_loaders(a.seed, epoch, (self.train_loader, self.val_loader))
            model.train()
            _set_flags(model, False, epoch)
            run_pass(a, model, self.loss_obj, self.device, self.train_loader, self.hist_trn, epoch,
                     self.optimizer, "train", reseed=lambda e=epoch: seed_globals(a.seed, e, 0))
            loss_trn, seconds = self.hist_trn.shown_loss(epoch), self.hist_trn.seconds(epoch)
            if self.hist_val is not None:
                if a.eval_mode_for_validation:
                    model.eval()
                _set_flags(model, True, epoch)
                with torch.no_grad():
                    run_pass(a, model, self.loss_obj, self.device, self.val_loader, self.hist_val, epoch,
                             None, "val", reseed=lambda e=epoch: seed_globals(a.seed, e, 1))
                loss_val, seconds = self.hist_val.shown_loss(epoch), seconds + self.hist_val.seconds(epoch)
                self.scheduler.step(self.hist_val.stopping_loss(epoch))
                new_best = self.hist_val.is_new_best()
            else:
                loss_val = np.zeros_like(loss_trn)
                # no scheduler step without a validation set, as the toolkit's (its step sits in the
                # validation branch): the same options give the same learning rates in both
                new_best = True
            if new_best:
                res.best_epoch = epoch
            line = f"{epoch:>7d} | {seconds:>12.1f} | {_loss_text(loss_trn)} | {_loss_text(loss_val)} | " \
                   f"{'yes' if new_best else 'no':>5s}"
            lrs = [lr for lr in self.scheduler.lrs() if abs(lr - a.lr) > 1e-7]
            if self.scheduler.active and lrs:
                line += " LR -> " + " ".join(f"{lr:.2e}" for lr in lrs)
            self.info += line + "\n"
            self.log(line)
            self._save(epoch, new_best)
            res.epochs_run.append(epoch)
            if (self.hist_val is not None and self.scheduler.allows_early_stopping()
                    and self.hist_val.should_stop(a.no_best_epochs)):
                res.early_stopped = True
                break
        self.log("-" * 62)
        last = res.epochs_run[-1] if res.epochs_run else start - 1
        res.train_loss = self.hist_trn.curve(last) if last >= 0 else []
        res.val_loss = self.hist_val.curve(last) if (self.hist_val is not None and last >= 0) else []
        if res.best_epoch is None and self.hist_val is not None:
            res.best_epoch = self.hist_val.best_epoch
        self.log("Training finished by early stopping" if res.early_stopped else "Training finished")
        if not a.not_save_anything:
            self.log(f"Model is saved to {self.best_path}")
        return res

    def _save(self, epoch: int, new_best: bool) -> None:
        a = self.args
        if a.not_save_anything:
            return
        if new_best or a.force_save_lite_trained_network_per_epoch:
            ck.save_atomic(self.model.state_dict(), self.best_path)
        if not a.not_save_each_epoch:
            ck.save_atomic({
                ck.STATE_DICT: self.model.state_dict(),
                ck.INFO: self.info,
                ck.OPTIMIZER: self.optimizer.state_dict(),
                ck.TRAIN_LOG: self.hist_trn.state_dict(),
                ck.VAL_LOG: self.hist_val.state_dict() if self.hist_val is not None else None,
                ck.LR_SCHEDULER: self.scheduler.state_dict(),
            }, self.epoch_path(epoch))
        self._plot(epoch)

    def _plot(self, epoch: int) -> None:
        from .plot import plot_losses
        try:
            plot_losses(self.save_dir / "loss_curve.png", self.hist_trn.curve(epoch),
                        self.hist_val.curve(epoch) if self.hist_val is not None else None,
                        self.hist_val.best_epoch if self.hist_val is not None else None)
        except ImportError as e:   # the curve is a convenience: never stop training for it
            if epoch == 0:
                self.log(f"no loss curve: {e}")
