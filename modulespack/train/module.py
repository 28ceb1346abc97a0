"""`module: torch` — a trained project (config.py, model.py, a checkpoint) as a graph module.

Ports come from config.py: one input per input stream, one output per output stream, named after
the file extension (".mgc" -> `mgc`; a ".wav" stream is the audio convention `wav` + `sr`).
Streams of dimension 1 are vectors `(frames,)` (as WORLD's `f0`), others `(frames, dim)`. Each
port carries what the model was trained on as attributes: `dim`, `sr` (wav_samp_rate) and, for
frame streams, `frame_shift` (the stream's resolution, samples per frame) and `frame_period_ms`;
so the build refuses an upstream extractor whose rate, frame shift or dimension differs, naming
both nodes, instead of the model making garbled audio at run time. A resolution of 1 on a stream
other than a waveform (frames with no waveform in the config) says nothing of timing: such
streams carry only `dim` and `sr`.

A run does what the toolkit's inference does for one utterance: streams cut to a common length
(lengths.combine: within 10 %), stacked as the dataset stacks them, `model.inference` (or
`forward`) under no_grad, `model.denormalize_output`, the result cut into the output streams. The
model's own normalisation (its mean/std parameters, in the checkpoint) applies inside.

Checkpoints: ours or the original toolkit's (`trained_network.pt`, a bare state dict, or an
`epoch_NNN.pt` dict), loaded safely (checkpoint.load_checkpoint: weights only).
Relative `project`/`checkpoint` paths are taken from the working directory; a graph file writes
`{path: ...}` to have them taken from the graph file's folder.
"""
from __future__ import annotations

import functools
import logging
import os
import re
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..core.errors import InputError
from ..core.module import Module
from ..core.ports import Port
from .project import ConfigError, ProjectConfig, Stream, _Checker, _import_file, _module_file, _streams, load_config

log = logging.getLogger(__name__)


def port_name(ext: str) -> str:
    """A port name from a stream's file extension: ".mgc" -> "mgc", ".lf0" -> "lf0"."""
    name = re.sub(r"\W", "_", ext.lstrip("."))
    return name if name and not name[0].isdigit() else f"x{name}"


def _names(streams: list[Stream]) -> list[str]:
    out: list[str] = []
    for s in streams:
        base = "wav" if s.is_wav else port_name(s.ext)
        name, k = base, 2
        while name in out:  # two streams with one extension (from different folders)
            name, k = f"{base}_{k}", k + 1
        out.append(name)
    return out


def _attrs(s: Stream, sr: int | None) -> dict[str, Any]:
    if s.is_wav:
        return {"sr": sr} if sr else {}
    out: dict[str, Any] = {"dim": s.dim}
    if sr:
        out["sr"] = sr
        if s.reso > 1:
            out["frame_shift"] = s.reso
            out["frame_period_ms"] = s.reso / sr * 1000.0
    return out


def _port(s: Stream, sr: int | None, what: str) -> Port:
    shape = (None,) if s.dim == 1 else (None, s.dim)
    return Port("float32", shape, f"{what} stream {s.ext} ({s.dim} per frame, reso {s.reso})", _attrs(s, sr))


def _light_config(project: Path, module_config: str) -> ProjectConfig:
    """Only the streams and the rate, for where a model is served without its data folders."""
    path = _module_file(project, module_config, "config")
    c = _Checker(_import_file(path, project, module_config), project)
    inputs, outputs = _streams(c, "input", True), _streams(c, "output", True)
    sr = c.get("wav_samp_rate")
    if c.problems:
        raise ConfigError(path, c.problems)
    return ProjectConfig(path=path, module=c.module, inputs=inputs, outputs=outputs,
                         wav_samp_rate=sr if isinstance(sr, int) and not isinstance(sr, bool) else None,
                         truncate_seq=None, minimum_len=None, train=None, val=None, test=None,
                         input_trans_fns=getattr(c.module, "test_input_trans_fns", None),
                         output_trans_fns=getattr(c.module, "test_output_trans_fns", None),
                         project_dir=project)


def read_config(project: str | os.PathLike, module_config: str = "config") -> ProjectConfig:
    """config.py as inference reads it; without its test data, just its streams and rate."""
    key = Path(project).resolve()
    f = key / (module_config.replace(".", os.sep) + ".py")
    return _cached_config(key, module_config, f.stat().st_mtime_ns if f.is_file() else 0)


@functools.lru_cache(maxsize=16)
def _cached_config(project: Path, module_config: str, _mtime: int) -> ProjectConfig:
    # ports() runs at every build: import config.py once per version of the file
    try:
        return load_config(project, module_config, for_inference=True)
    except ConfigError as e:
        light = _light_config(project, module_config)
        log.debug("%s: test set not usable here (%s); using its streams only", light.path, e)
        return light


class TorchModel(Module):
    """A model trained with `modulespack train` (or the NII toolkit) on a project folder; ports from its config.py.

    Params: `project` (the folder with config.py and model.py), `checkpoint` (trained_network.pt
    or epoch_NNN.pt), `module_model`/`module_config` (as --module-model/--module-config),
    `device` ("cpu", "cuda"...), `args` (toolkit options the model reads, e.g.
    ["--model-forward-with-file-name"]).
    """

    # torch releases the GIL in its kernels and the weights are read-only at inference, so threads
    # share one instance; one CPU, not torch's thread count, so a graph still fits a 2-core Ray
    # actor (a graph file's `resources:` asks for more, or for a GPU with device: cuda)
    resources = {"num_cpus": 1.0, "memory_mb": 512, "needs_processes": False}

    def __init__(self, project: str, checkpoint: str, module_model: str = "model",
                 module_config: str = "config", device: str = "cpu", args: list[str] | None = None):
        self.project = Path(project).resolve()
        self.checkpoint = str(Path(checkpoint).resolve())
        self.module_model, self.module_config = module_model, module_config
        self.device, self.extra_args = device, list(args or [])
        self.conf = read_config(self.project, module_config)
        self.in_names, self.out_names = _names(self.conf.inputs), _names(self.conf.outputs)
        self.model = None

    @classmethod
    def param_problems(cls, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        out = super().param_problems(params)
        for name, test in (("project", os.path.isdir), ("checkpoint", os.path.isfile)):
            v = params.get(name)
            if isinstance(v, str) and not test(v):
                kind = "folder" if name == "project" else "file"
                out.append((name, f"{os.path.abspath(v)} does not exist"
                                  + (f" as a {kind}" if os.path.exists(v) else "")))
        return out

    @classmethod
    def ports(cls, params: Mapping[str, Any]) -> tuple[dict[str, Port], dict[str, Port]]:
        conf = read_config(params["project"], params.get("module_config", "config"))
        sr = conf.wav_samp_rate
        ins = {n: _port(s, sr, "input") for n, s in zip(_names(conf.inputs), conf.inputs)}
        outs = {n: _port(s, sr, "output") for n, s in zip(_names(conf.outputs), conf.outputs)}
        if any(s.is_wav for s in conf.inputs):
            ins["sr"] = Port("int", doc=f"sample rate of the audio; must be {sr} Hz (wav_samp_rate)")
        if any(s.is_wav for s in conf.outputs):
            outs["sr"] = Port("int", doc="sample rate of the audio (wav_samp_rate)")
        return ins, outs

    @classmethod
    def optional_inputs(cls, params: Mapping[str, Any]) -> set[str]:
        return {"sr"}

    def setup(self) -> None:
        import torch

        from .checkpoint import load_checkpoint, load_weights, state_dict_of
        from .options import build_parser
        from .project import load_model_module
        mod = load_model_module(self.project, self.module_model)
        if not hasattr(mod, "Model"):
            raise ValueError(f"{self.project}: module {self.module_model!r} defines no Model class")
        args = build_parser().parse_args(self.extra_args)
        args.module_model, args.module_config = self.module_model, self.module_config
        args.inference, args.trained_model, args.device = True, self.checkpoint, self.device
        self.args = args
        model = mod.Model(self.conf.in_dim, self.conf.out_dim, args, self.conf.module)
        model.to(self.device, dtype=torch.float32)
        load_weights(model, state_dict_of(load_checkpoint(self.checkpoint), self.checkpoint), self.checkpoint)
        model.eval()
        from .steps import forward_fn
        self._forward = forward_fn(model, args, model.inference if hasattr(model, "inference") else model.forward)
        self.model = model

    def _stack(self, inputs: dict[str, Any]) -> tuple[np.ndarray, int]:
        """The streams as the dataset stacks them: [frames, in_dim] float32, and the length in samples."""
        from .lengths import combine
        rows = []
        for name, s in zip(self.in_names, self.conf.inputs):
            a = np.asarray(inputs[name], dtype=np.float32)
            if a.ndim == 1 and s.dim == 1:
                a = a[:, None]
            if a.ndim != 2 or a.shape[1] != s.dim:
                raise InputError(f"TorchModel: {name} must be (frames, {s.dim}) for stream {s.ext}, "
                                 f"got shape {a.shape}", port=name)
            if len(a) == 0:
                raise InputError(f"TorchModel: {name} has no frames", port=name)
            if not np.isfinite(a).all():
                raise InputError(f"TorchModel: {name} contains NaN or infinity", port=name)
            rows.append(a)
        # whole frames of the slowest stream, inputs and outputs, as the dataset cuts them
        reso = max(s.reso for s in self.conf.inputs + self.conf.outputs)
        try:
            length = combine("input", [(n, len(a), s.reso) for n, a, s in zip(self.in_names, rows, self.conf.inputs)],
                             reso)
        except ValueError as e:
            raise InputError(f"TorchModel: inputs {', '.join(self.in_names)} disagree in length: {e}",
                             port=self.in_names[0]) from None
        if length is None:  # every stream is a single frame (an utterance-level vector)
            length = reso
        parts = []
        for name, a, s in zip(self.in_names, rows, self.conf.inputs):
            n = length // s.reso
            parts.append(np.repeat(a, n, axis=0) if len(a) == 1 else a[:n])  # one-frame files repeat, as in the toolkit
        if length // reso == 0:
            raise InputError(f"TorchModel: inputs too short ({length} samples, one frame is {reso})",
                             port=self.in_names[0])
        x = np.concatenate(parts, axis=1)
        if self.conf.input_trans_fns:   # the test set's, as the toolkit's inference applies them
            from .dataset import _apply, _fns_for
            from .lengths import SeqInfo
            subsets = len(self.conf.test.subsets) if self.conf.test else 1
            fns = _fns_for(self.conf.input_trans_fns, self.conf.style, 0, subsets, len(self.conf.inputs))
            x, _ = _apply(fns, x, self.conf.inputs, SeqInfo(length, "graph"), length)
            x = np.asarray(x, dtype=np.float32)
        return x, length

    def run(self, **inputs: Any) -> dict[str, Any]:
        import torch
        if self.model is None:
            self.setup()
        sr = inputs.pop("sr", None)
        if sr is not None and self.conf.wav_samp_rate and int(sr) != self.conf.wav_samp_rate:
            raise InputError(f"TorchModel: the model was trained on {self.conf.wav_samp_rate} Hz audio, "
                             f"got sr {sr}: resample it first", port="sr")
        x, length = self._stack(inputs)
        xt = torch.from_numpy(x)[None].to(self.device)
        empty = torch.zeros(1, 0, self.conf.out_dim, device=self.device)
        info = [f"0,graph,0,{length},0"]  # the toolkit's seq-info string, for --model-forward-with-file-name
        with torch.no_grad():
            y = self._forward(xt, empty, info)
            if not isinstance(y, torch.Tensor):
                raise RuntimeError(f"TorchModel {self.project}: the model returned a {type(y).__name__}, not a tensor")
            y = self.model.denormalize_output(y).to("cpu").numpy()
        y = y[0] if y.ndim == 3 or (y.ndim == 2 and y.shape[0] == 1) else y
        if y.ndim == 1:
            y = y[:, None]
        if y.shape[1] != self.conf.out_dim:
            raise RuntimeError(f"TorchModel {self.project}: the model's output has dimension {y.shape[1]}, the "
                               f"config's output streams {self.conf.out_dim}")
        # at most the frames the input stands for, as the toolkit writes them (a model may pad)
        out_reso = self.conf.outputs[0].reso if self.conf.outputs else 1
        y = y[:max(1, length // out_reso)]
        out: dict[str, Any] = {}
        start = 0
        for name, s in zip(self.out_names, self.conf.outputs):
            part = np.ascontiguousarray(y[:, start:start + s.dim], dtype=np.float32)
            start += s.dim
            out[name] = part[:, 0].copy() if s.dim == 1 else part
        if any(s.is_wav for s in self.conf.outputs):
            out["sr"] = int(self.conf.wav_samp_rate)
        return out
