"""Batches of utterances of different lengths: zero padding, and the toolkit's length sampler.

Batches are ``(x, y, infos, idx)``: ``x`` float32 ``[B, T, in_dim]`` padded with zeros to the
longest item, ``y`` likewise, ``infos`` the items' info strings, ``idx`` their indices.

Sampling order per epoch:
- ``sampler="block_shuffle_by_length"`` (batch size > 1): the toolkit's SamplerBlockShuffleByLen:
  items sorted by length, shuffled within blocks of 4 x batch size, then whole blocks shuffled
  (a last partial block stays last), so a batch holds items of similar length;
- else ``shuffle=True``: a random permutation; else the set's order.
With ``seed=None`` the order draws from the global generators (Python's ``random`` for the length
sampler, torch's for shuffling), exactly as in the toolkit after its ``set_random_seed``. With a
seed, each epoch's order is a function of (seed, epoch) alone (call ``loader.sampler.set_epoch``),
so a run resumed at epoch N sees the batches an uninterrupted run would.
"""
from __future__ import annotations

import random

import numpy as np
import torch
import torch.utils.data

BLOCK_SHUFFLE = "block_shuffle_by_length"


class BlockShuffleByLength(torch.utils.data.Sampler):
    def __init__(self, lengths, batch_size: int, seed: int | None = None):
        if batch_size < 2:
            raise ValueError(f"{BLOCK_SHUFFLE} needs a batch size above 1, got {batch_size}")
        self.block = batch_size * 4
        # numpy's default sort, as the toolkit's: the same order for equal lengths.
        self.order = np.argsort(np.asarray(lengths)).tolist()
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rng(self):
        return random if self.seed is None else random.Random(f"{self.seed}:{self.epoch}")

    def __iter__(self):
        rng, order, b = self._rng(), list(self.order), self.block
        n = len(order)
        for lo in range(0, n, b):                       # shuffle inside each block
            hi = min(lo + b, n)
            for k in range(lo, hi - 1):
                j = rng.randrange(k, hi)
                order[k], order[j] = order[j], order[k]
        full = n // b                                   # then shuffle the whole blocks
        blocks = list(range(full))
        rng.shuffle(blocks)
        head = [order[blk * b + k] for blk in blocks for k in range(b)]
        return iter(head + order[full * b:])

    def __len__(self) -> int:
        return len(self.order)


class EpochShuffle(torch.utils.data.Sampler):
    """A random permutation per epoch, fixed by (seed, epoch)."""

    def __init__(self, n: int, seed: int):
        self.n, self.seed, self.epoch = n, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


def _pad(arrays, what: str, infos) -> torch.Tensor:
    arrays = [a.numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float32) for a in arrays]
    tail = arrays[0].shape[1:]
    if any(a.shape[1:] != tail for a in arrays):
        shapes = ", ".join(f"{i.split(',')[1]} {a.shape}" for a, i in zip(arrays, infos))
        raise ValueError(f"cannot batch {what}: items differ beyond their length: {shapes}")
    t = max(len(a) for a in arrays)
    if all(len(a) == t for a in arrays):
        return torch.from_numpy(np.stack(arrays).astype(np.float32, copy=False))
    out = np.zeros((len(arrays), t) + tail, np.float32)
    for k, a in enumerate(arrays):
        out[k, :len(a)] = a
    return torch.from_numpy(out)


def pad_collate(batch):
    xs, ys, infos, idx = zip(*batch)
    infos = list(infos)
    return _pad(xs, "inputs", infos), _pad(ys, "targets", infos), infos, list(idx)


def make_loader(ds, *, batch_size: int, shuffle: bool, num_workers: int, sampler=None,
                seed: int | None = None, drop_last: bool = False, log=print) -> torch.utils.data.DataLoader:
    """A DataLoader over an UtteranceSet (module docstring); ``sampler`` None/"None" or
    ``"block_shuffle_by_length"``."""
    chosen = None
    if sampler in (None, "None", ""):
        pass
    elif sampler == BLOCK_SHUFFLE:
        if batch_size > 1:
            chosen = BlockShuffleByLength(ds.lengths, batch_size, seed)
        else:
            log(f"{BLOCK_SHUFFLE} off as batch-size is 1")
    else:
        raise ValueError(f"--sampler {sampler!r}: unknown sampler (known: {BLOCK_SHUFFLE})")
    if chosen is None and shuffle and seed is not None:
        chosen = EpochShuffle(len(ds), seed)
    return torch.utils.data.DataLoader(
        ds, batch_size=batch_size, sampler=chosen, shuffle=shuffle if chosen is None else False,
        num_workers=num_workers, collate_fn=pad_collate, drop_last=drop_last,
        persistent_workers=num_workers > 0)
