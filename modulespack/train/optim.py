"""Optimizer and learning-rate scheduler from the toolkit's options.

`--lr-decay-factor` > 0 turns a scheduler on: type 0 ReduceLROnPlateau on the validation loss
(patience `--lr-patience`; early stopping is then off, as in the toolkit), 1 StepLR
(`--lr-steplr-size`), 2 ExponentialLR. Step and exponential decay per epoch with or without a
validation set; plateau needs one.
"""
from __future__ import annotations

import argparse

import torch


def make_optimizer(model: torch.nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    kw = {"lr": args.lr}
    if args.l2_penalty > 0:
        kw["weight_decay"] = args.l2_penalty
    cls = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD}[args.optimizer]
    return cls(model.parameters(), **kw)


class Scheduler:
    """The toolkit's LRScheduler: optional, stepped once per epoch."""

    def __init__(self, optimizer: torch.optim.Optimizer, args: argparse.Namespace):
        self.kind = args.lr_scheduler_type
        self.sched = None
        if args.lr_decay_factor > 0:
            if self.kind == 1:
                self.sched = torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.lr_steplr_size,
                                                             gamma=args.lr_decay_factor)
            elif self.kind == 2:
                self.sched = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay_factor)
            else:
                self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
                    optimizer, factor=args.lr_decay_factor, patience=args.lr_patience)
        self.optimizer = optimizer

    @property
    def active(self) -> bool:
        return self.sched is not None

    def allows_early_stopping(self) -> bool:
        # plateau decay keeps lowering the rate instead of stopping (the toolkit's rule)
        return self.sched is None or self.kind in (1, 2)

    def step(self, val_loss: float | None) -> None:
        if self.sched is None:
            return
        if self.kind in (1, 2):
            self.sched.step()
        elif val_loss is not None:
            self.sched.step(val_loss)

    def state_dict(self) -> dict | None:
        return self.sched.state_dict() if self.sched is not None else None

    def load_state_dict(self, state: dict | None) -> None:
        if self.sched is not None and state:
            self.sched.load_state_dict(state)

    def lrs(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]
