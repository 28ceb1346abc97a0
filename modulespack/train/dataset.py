"""The items of one data set (train, val or test) of a project, as the toolkit's NIIDataSet gives them.

Item ``i`` is ``(x, y, info, i)``: ``x`` float32 ``[T_in, in_dim]`` (input streams side by side),
``y`` float32 ``[T_out, out_dim]`` (``[0, out_dim]`` without output data), ``info`` the toolkit's
``"idx,name,seg_idx,length,start_pos"``. Building the set measures every utterance (file sizes
and WAV headers only; cached per sub-corpus as the toolkit's ``*.dic``), checks that its streams
agree in length, skips those shorter than ``minimum_len`` and cuts long ones into
``truncate_seq`` segments (training and validation only). Utterances whose files are missing
are left out with a message naming the file, as the toolkit leaves them out.

The object holds only plain data (no module, no open file), so DataLoader workers can take it.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import torch.utils.data

from . import lengths as L
from .loader import make_loader  # re-exported: the data API is importable from here
from .normstats import mean_std  # re-exported
from .project import ProjectConfig, Stream, SubSet
from .streams import DataError, frames_of, read_rows, stream_path


class DatasetError(ValueError):
    """A data set that cannot be used as a whole (no usable utterance); names the set and why."""


class UtteranceSet(torch.utils.data.Dataset):
    def __init__(self, conf: ProjectConfig, which: str, *, cache_dir, ignore_cache: bool = False,
                 inference: bool = False, truncate: bool = True, ignore_invalid: bool = False,
                 log=print):
        data = {"train": conf.train, "val": conf.val, "test": conf.test}.get(which)
        if data is None:
            raise DatasetError(f"{conf.path}: the config has no {which} set"
                               + ("" if which in ("train", "val", "test") else " (train, val or test)"))
        self.which, self.set_name = which, data.name
        self.inputs: list[Stream] = list(conf.inputs)
        self.outputs: list[Stream] = list(conf.outputs)
        self.in_dim, self.out_dim = conf.in_dim, conf.out_dim
        self.sr = conf.wav_samp_rate
        self.in_reso = self.inputs[0].reso
        self.out_reso = self.outputs[0].reso if self.outputs else 1
        self.reso_max = max(s.reso for s in self.inputs + self.outputs)
        self.subsets: list[SubSet] = data.subsets
        cut = truncate and not inference
        self.truncate = L.floor_to(conf.truncate_seq, self.reso_max) if cut and conf.truncate_seq else None
        self.minimum = (L.floor_to(conf.minimum_len, self.reso_max)
                        if not inference and conf.minimum_len else None)
        self._in_fns = [_fns_for(conf.input_trans_fns, conf.style, k, len(self.subsets), len(self.inputs))
                        for k in range(len(self.subsets))]
        self._out_fns = [_fns_for(conf.output_trans_fns, conf.style, k, len(self.subsets), len(self.outputs))
                         for k in range(len(self.subsets))]
        self._empty_y = np.zeros((0, self.out_dim), np.float32)

        self.names: list[str] = []
        self.lengths: list[int] = []
        self._sub: list[int] = []
        self._start: list[int] = []
        self._infos: list[str] = []
        self.present: list[list[str]] = []       # per sub-corpus: names whose files all exist
        self.skipped = self.missing = self.invalid = 0
        self.ignore_invalid = ignore_invalid     # the toolkit's --ignore-length-invalid-data
        for k, sub in enumerate(self.subsets):
            self._add_subset(k, sub, Path(cache_dir), ignore_cache, log)
        if not self.names:
            lists = ", ".join(s.list_file or s.cache_name for s in self.subsets)
            short = f", {self.skipped} shorter than minimum_len ({self.minimum} samples)" if self.minimum else ""
            bad = f", {self.invalid} whose streams disagree in length" if self.invalid else ""
            raise DatasetError(f"{conf.path}: the {which} set {self.set_name} ({lists}) has no usable "
                               f"utterance: {self.missing} left out for missing files{short}{bad}")

    # ------------------------------------------------------------------------ building

    def _measure(self, sub: SubSet, name: str) -> int | None:
        measured = []
        for dirs, streams in ((sub.input_dirs, self.inputs), (sub.output_dirs, self.outputs)):
            for d, s in zip(dirs, streams):
                p = stream_path(d, name, s)
                measured.append((p, frames_of(p, s, name, self.sr), s.reso))
        try:
            return L.combine(name, measured, self.reso_max)
        except ValueError as e:
            if self.ignore_invalid:
                return e
            raise DataError(name, None, f"{e} (--ignore-length-invalid-data leaves such "
                                        f"utterances out)") from None

    def _missing_file(self, sub: SubSet, name: str) -> str | None:
        for dirs, streams in ((sub.input_dirs, self.inputs), (sub.output_dirs, self.outputs)):
            for d, s in zip(dirs, streams):
                p = stream_path(d, name, s)
                if not os.path.isfile(p):
                    return p
        return None

    def _add_subset(self, k: int, sub: SubSet, cache_dir: Path, ignore_cache: bool, log) -> None:
        path = L.cache_path(cache_dir, sub.cache_name)
        cached = None if ignore_cache else L.read_cache(path, log, self.truncate)
        infos: list[L.SeqInfo] = []
        present, skipped, missing, invalid = [], 0, [], []
        # sorted and without repeats, as the toolkit takes a list (its common_members): the same
        # utterances in the same order, so a seed gives the same batches in both
        for name in sorted(set(sub.names)):
            length = cached.get(name) if cached else None
            if length is None:
                gone = self._missing_file(sub, name)
                if gone is not None:
                    missing.append((name, gone))
                    continue
                length = self._measure(sub, name)
            present.append(name)        # counted in the statistics even if left out below, as the toolkit
            if isinstance(length, ValueError):
                invalid.append((name, length))
                continue
            segs = L.segments(length, self.truncate, self.minimum) if length is not None else []
            if not segs:
                skipped += 1
            for seg, start, n in segs:
                info = L.SeqInfo(n, name, seg, start, len(infos))
                infos.append(info)
                self.names.append(name)
                self.lengths.append(n)
                self._sub.append(k)
                self._start.append(start)
                self._infos.append(L.SeqInfo(n, name, seg, start, len(self._infos)).print_to_str())
        for name, gone in missing[:10]:
            log(f"{sub.cache_name}: utterance {name} left out: {gone} does not exist")
        if len(missing) > 10:
            log(f"{sub.cache_name}: ... {len(missing)} utterances left out for missing files in all")
        for name, e in invalid[:10]:
            log(f"{sub.cache_name}: utterance {name} left out (--ignore-length-invalid-data): {e}")
        if len(invalid) > 10:
            log(f"{sub.cache_name}: ... {len(invalid)} utterances left out for streams of different lengths")
        if skipped:
            log(f"{sub.cache_name}: {skipped} of {len(present)} utterances shorter than "
                f"minimum_len ({self.minimum} samples) skipped")
        self.present.append(present)
        self.skipped += skipped
        self.missing += len(missing)
        self.invalid += len(invalid)
        if not ignore_cache and infos and not L.same_cache(path, infos):
            L.write_cache(path, infos)

    # ------------------------------------------------------------------------ items

    def __len__(self) -> int:
        return len(self.names)

    def _read(self, dirs, streams, name, start, length, reso, dim) -> np.ndarray:
        t, first = length // reso, start // reso
        if len(streams) == 1:
            data = read_rows(stream_path(dirs[0], name, streams[0]), streams[0], name, first, t)
            return _fit(data, t)
        out = np.empty((t, dim), np.float32)
        a = 0
        for d, s in zip(dirs, streams):
            out[:, a:a + s.dim] = _fit(read_rows(stream_path(d, name, s), s, name, first, t), t)
            a += s.dim
        return out

    def __getitem__(self, i: int):
        sub_k, name = self._sub[i], self.names[i]
        sub, start, length = self.subsets[sub_k], self._start[i], self.lengths[i]
        x = self._read(sub.input_dirs, self.inputs, name, start, length, self.in_reso, self.in_dim)
        if sub.output_dirs:
            y = self._read(sub.output_dirs, self.outputs, name, start, length, self.out_reso, self.out_dim)
        else:
            y = self._empty_y
        info = self._infos[i]
        if self._in_fns[sub_k] or self._out_fns[sub_k]:
            x, y, info = self._transform(sub_k, x, y, i)
        return x, y, info, i

    def _transform(self, k, x, y, i):
        seg = int(self._infos[i].split(",")[2])
        seq = L.SeqInfo(self.lengths[i], self.names[i], seg, self._start[i], i)
        length = seq.length
        x, length = _apply(self._in_fns[k], x, self.inputs, seq, length)
        if len(y):
            y, _ = _apply(self._out_fns[k], y, self.outputs, seq, None)
        seq.length = length
        return x, y, seq.print_to_str()


def _fit(data: np.ndarray, t: int) -> np.ndarray:
    if len(data) == 1 and t != 1:
        return np.repeat(data, t, axis=0)
    return data[:t] if len(data) > t else data


def _fns_for(fns, style: str, k: int, n_subsets: int, n_streams: int):
    """The transformation functions of sub-corpus k: merge style gives one list per sub-corpus."""
    if not fns:
        return None
    if style == "merge" and len(fns) == n_subsets and all(f is None or isinstance(f, (list, tuple)) for f in fns):
        return list(fns[k]) if fns[k] else None
    return list(fns)


def _apply(fns, data, streams, seq, length):
    """The toolkit's rules: one stream -> the function may change the length (or return
    ``{"data", "length"}``); several -> each function on its columns, kept only if the length holds."""
    if not fns:
        return data, length
    if len(streams) == 1:
        f = fns[0]
        try:
            two = len(inspect.signature(f).parameters) == 2
        except (TypeError, ValueError):
            two = False
        out = f(data, seq) if two else f(data)
        if isinstance(out, dict):
            length = out.get("length", length)
            out = out["data"]
        elif isinstance(out, np.ndarray) and length is not None and out.shape[0] < length:
            length = out.shape[0]
        return out, length
    out, a = np.array(data, copy=True), 0
    for f, s in zip(fns, streams):
        part = f(out[:, a:a + s.dim])
        if part.shape[0] == out.shape[0]:
            out[:, a:a + s.dim] = part
        a += s.dim
    return out, length


__all__ = ["DataError", "DatasetError", "UtteranceSet", "make_loader", "mean_std"]
