"""Inference over the test set: the toolkit's f_inference_wrapper and its file writing.

Each utterance's output, de-normalised by the model (`model.denormalize_output`), is cut into the
config's output streams and written to `<output-dir>/<prefix><name><ext>`: 16-bit PCM WAV at
`wav_samp_rate` for `.wav` streams, raw little-endian float32 otherwise, each file atomically.
With --trunc-input-length-for-inference N the input goes through the model in chunks of at most
N frames sharing --trunc-input-overlap frames, and the outputs are cross-faded linearly over the
shared part (scaled by the model's up-sampling factor).
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from ..io import write_raw, write_wav
from .steps import forward_fn, to_device, utterance_names


class InferenceError(RuntimeError):
    """An output that cannot be written; names the utterance."""


def split_chunks(x: torch.Tensor, max_len: int, overlap: int) -> tuple[list[torch.Tensor], int]:
    """Slices of x [B, T, ...] along T, each at most max_len long, neighbours sharing `overlap`."""
    overlap = max(0, min(overlap, max_len - 1))
    hop = max_len - overlap
    n_frames = x.shape[1]
    count = n_frames // hop
    rest = n_frames % hop
    # a tail no longer than the overlap is already inside the previous chunk
    if (count > 0 and rest > overlap) or (count == 0 and rest > 0):
        count += 1
    return [x[:, i * hop:i * hop + max_len] for i in range(count)], overlap


def crossfade(chunks: list[torch.Tensor], overlap: int) -> torch.Tensor:
    """Join output chunks [B, L, D] (or [B, L]) with a linear cross-fade over `overlap` steps."""
    parts = [c.unsqueeze(-1) if c.dim() == 2 else c for c in chunks]
    out = parts[0].clone()
    for part in parts[1:]:
        win = min(out.shape[1], overlap, part.shape[1])
        if win > 0:
            ramp = (torch.arange(win, dtype=part.dtype, device=part.device) / win).view(1, win, 1)
            mixed = out[:, -win:] * (1.0 - ramp) + part[:, :win] * ramp
            out = torch.cat([out[:, :-win], mixed, part[:, win:]], dim=1)
        else:
            out = torch.cat([out, part], dim=1)
    return out


def _read_names(path: str) -> set[str]:
    if not os.path.isfile(path):
        raise InferenceError(f"--inference-data-list {path}: no such file")
    with open(path, encoding="utf-8") as f:
        return {line.strip() for line in f if line.strip()}


def write_outputs(data: np.ndarray, info: str, streams, out_dir: str, prefix: str, sr: int | None) -> list[str]:
    """Write one utterance's [T, D] output as the config's output streams; returns the paths."""
    parts = str(info).split(",")
    name = parts[1] if len(parts) > 1 else str(info)
    length = int(parts[3]) if len(parts) > 3 and parts[3].lstrip("-").isdigit() else 0
    if data.ndim == 1:
        data = data[:, None]
    total = sum(s.dim for s in streams)
    if data.shape[1] != total:
        raise InferenceError(f"{name}: the model's output has dimension {data.shape[1]}, the config's "
                             f"output streams {total} ({', '.join(s.ext for s in streams)})")
    paths, start = [], 0
    for s in streams:
        part = data[:, start:start + s.dim]
        start += s.dim
        if length > 0:
            part = part[:length // max(1, s.reso)]
        path = os.path.join(out_dir, prefix + name + s.ext)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        if s.ext.lower() == ".wav":
            if sr is None:
                raise InferenceError(f"{name}: a .wav output needs wav_samp_rate in config.py")
            if not np.isfinite(part).all():
                raise InferenceError(f"{name}: the generated waveform has NaN or infinite samples")
            write_wav(path, part[:, 0] if s.dim == 1 else part, int(sr), "PCM_16")
        else:
            write_raw(np.ascontiguousarray(part, dtype=np.float32), path)
        paths.append(path)
    return paths


def run_inference(args: argparse.Namespace, model: torch.nn.Module, device, loader, streams,
                  wav_samp_rate: int | None, out_dir: str, log: Callable[[str], None] = print) -> int:
    """Generate every (selected) utterance of `loader`; returns the number of utterances written."""
    wanted = _read_names(args.inference_data_list) if args.inference_data_list else None
    first, last = args.inference_sample_start_index, args.inference_sample_end_index
    func = model.inference if hasattr(model, "inference") else model.forward
    forward = forward_fn(model, args, func)
    trunc, written = args.trunc_input_length_for_inference, 0
    if trunc > 0:
        log(f"Generating in chunks of at most {trunc} frames, overlap {args.trunc_input_overlap}")
    model.eval()
    t0 = time.perf_counter()
    with torch.no_grad():
        for i, (x, y, infos, _idx) in enumerate(loader):
            if i < first:
                continue
            if 0 <= last <= i:
                break
            names = utterance_names(infos)
            if wanted is not None and not any(n in wanted for n in names):
                continue
            x = to_device(x, device)
            y = to_device(y, device) if isinstance(y, torch.Tensor) and y.numel() else y
            if trunc > 0:
                xs, overlap = split_chunks(x, trunc, args.trunc_input_overlap)
                ys = split_chunks(y, trunc, overlap)[0] if isinstance(y, torch.Tensor) and y.numel() \
                    else [y] * len(xs)
                outs = [forward(xc, yc, infos) for xc, yc in zip(xs, ys)]
                up = max(1, outs[0].shape[1] // xs[0].shape[1]) if outs else 1
                gen = crossfade(outs, up * overlap) if outs else None
            else:
                gen = forward(x, y, infos)
            if gen is None:
                log(f"No output for {', '.join(names)}")
                continue
            if not isinstance(gen, torch.Tensor):
                raise InferenceError(f"{', '.join(names)}: model.{func.__name__} returned a "
                                     f"{type(gen).__name__}, not a tensor")
            gen = model.denormalize_output(gen).to("cpu").numpy()
            for k, info in enumerate(infos):
                if wanted is not None and names[k] not in wanted:
                    continue
                item = gen[k]
                write_outputs(item, info, streams, out_dir, args.output_filename_prefix, wav_samp_rate)
                written += 1
                log(f"Generated {written}, {names[k]}")
    log(f"Inference time: {time.perf_counter() - t0:.2f} s; output in {out_dir}")
    if hasattr(model, "finish_up_inference"):
        model.finish_up_inference()
    return written
