"""Voice conversion network rms -> slt: mel-cepstrum in, mel-cepstrum out, frame by frame.

A stack of gated residual 1-D convolutions (kernel 5, dilations 1, 2, 4, 8, twice) sees about
+-60 frames (0.3 s) of the normalised source cepstrum around each frame, and a 1x1 convolution
gives the target cepstrum; a linear skip from the input means the network starts as (and refines)
a linear map, the least-squares baseline's form. Convolutions rather than a GRU: on 2 CPU cores a
bidirectional GRU of the same width trains about ten times slower per epoch. Normalisation (the
training set's mean/std, which the harness computes) is part of the model, so a checkpoint
converts raw cepstra. The toolkit's interface: forward returns normalised output, and the harness
or the graph module de-normalises it. Width and depth come from config.py's `options`.
"""
from __future__ import annotations

import torch
from torch import nn


class GatedConv(nn.Module):
    """h + tanh(a) * sigmoid(g), with a and g from one dilated convolution that keeps the length."""

    def __init__(self, channels, kernel, dilation):
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, kernel, padding=kernel // 2 * dilation, dilation=dilation)

    def forward(self, h):
        a, g = self.conv(h).chunk(2, dim=1)
        return h + torch.tanh(a) * torch.sigmoid(g)


class Model(nn.Module):
    def __init__(self, in_dim, out_dim, args, prj_conf, mean_std=None):
        super().__init__()
        options = getattr(prj_conf, "options", None) or {}
        hidden, blocks = int(options.get("hidden", 64)), int(options.get("blocks", 8))
        in_m, in_s, out_m, out_s = self.prepare_mean_std(in_dim, out_dim, args, mean_std)
        # buffers, not parameters: saved in the state dict and moved with .to(), never trained
        self.register_buffer("input_mean", in_m)
        self.register_buffer("input_std", in_s)
        self.register_buffer("output_mean", out_m)
        self.register_buffer("output_std", out_s)
        self.inp = nn.Conv1d(in_dim, hidden, 1)
        self.blocks = nn.ModuleList(GatedConv(hidden, 5, 2 ** (i % 4)) for i in range(blocks))
        self.out = nn.Conv1d(hidden, out_dim, 1)
        self.skip = nn.Linear(in_dim, out_dim)

    def prepare_mean_std(self, in_dim, out_dim, args, data_mean_std=None):
        if data_mean_std is None:
            return torch.zeros(in_dim), torch.ones(in_dim), torch.zeros(out_dim), torch.ones(out_dim)
        return tuple(torch.as_tensor(m, dtype=torch.float32).reshape(-1) for m in data_mean_std)

    def normalize_input(self, x):
        return (x - self.input_mean) / self.input_std

    def normalize_target(self, y):
        return (y - self.output_mean) / self.output_std

    def denormalize_output(self, y):
        return y * self.output_std + self.output_mean

    def forward(self, x):
        """x: [batch, frames, in_dim] raw cepstra -> [batch, frames, out_dim] normalised target."""
        x = self.normalize_input(x)
        h = self.inp(x.transpose(1, 2))
        for block in self.blocks:
            h = block(h)
        return self.out(h).transpose(1, 2) + self.skip(x)

    def loss(self, output, target):
        """Mean squared error on the normalised target over real frames only. The harness pads a
        batch's shorter utterances with all-zero frames, which no mel-cepstrum has (c0 is the log
        energy), so the raw target shows where the padding is; the toolkit calls this, when a model
        has it, with the un-normalised target instead of Loss.compute."""
        real = (target != 0).any(dim=-1)
        err = (output - self.normalize_target(target)) ** 2
        return err[real].mean()


class Loss:
    """Plain mean squared error on the normalised target: what a harness that ignores Model.loss uses."""

    def __init__(self, args):
        self.mse = nn.MSELoss()

    def compute(self, output, target):
        return self.mse(output, target)
