"""Mean and standard deviation of the training data, in the toolkit's files.

``<cache_dir>/<set>_mean_std_input.bin`` and ``_output.bin``: raw float32, the means then the
stds (``2 * dim`` values). As the toolkit does:
- statistics over whole files of every listed utterance whose files exist (also those too short
  to train on), of the first training sub-corpus only (the toolkit's NII_MergeDataSetLoader hands
  the model its first sub-corpus' statistics, and a project folder must give the same model
  either way);
- ``.f0`` streams count voiced frames (value > 0) only;
- streams with ``*_norm = False`` get mean 0 and std 1 (and are not read);
- a std below 1e-8 (a constant dimension) becomes 1;
- existing files of the right size are used as they are; with no normalised stream at all,
  nothing is computed or written.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io import MeanStd, read_raw, write_raw
from ..io.errors import FormatError
from .streams import DataError, read_rows, stream_path

STD_FLOOR = 1e-8
INPUT_SUFFIX = "_mean_std_input.bin"
OUTPUT_SUFFIX = "_mean_std_output.bin"


def stats_paths(cache_dir, set_name: str) -> tuple[Path, Path]:
    d = Path(cache_dir)
    return d / (set_name + INPUT_SUFFIX), d / (set_name + OUTPUT_SUFFIX)


def _load(path: Path, dim: int, log):
    try:
        v = read_raw(path, 1)[:, 0]
    except (FormatError, OSError) as e:
        log(f"{path}: unreadable ({e}); mean/std will be recomputed")
        return None
    if v.size != 2 * dim:
        log(f"{path}: holds {v.size} values, {2 * dim} expected (dim {dim}); mean/std will be recomputed")
        return None
    return v[:dim].copy(), v[dim:].copy()


def _stream_stats(stream, dirs_names, log) -> tuple[np.ndarray, np.ndarray]:
    acc = MeanStd(stream.dim, voiced_only=stream.is_f0)
    for d, name in dirs_names:
        path = stream_path(d, name, stream)
        try:
            acc.update(read_rows(path, stream, name))
        except DataError:
            raise
        except ValueError as e:
            raise DataError(name, path, str(e)) from None
    if not acc.count.all():
        # The toolkit's accumulator gives 0 and 1 when it saw nothing (all frames unvoiced, say).
        log(f"mean/std of {stream.ext}: no {'voiced ' if stream.is_f0 else ''}frames counted in "
            f"dimension(s) {np.flatnonzero(acc.count == 0).tolist()}; using mean 0, std 1")
        return np.zeros(stream.dim), np.ones(stream.dim)
    mean, std = acc.mean, acc.std
    std[std < STD_FLOOR] = 1.0
    return mean, std


def _compute(streams, dirs, names, log):
    means, stds = [], []
    for j, s in enumerate(streams):
        if s.norm:
            m, sd = _stream_stats(s, [(dirs[j], n) for n in names], log)
        else:
            m, sd = np.zeros(s.dim), np.ones(s.dim)
        means.append(m)
        stds.append(sd)
    if not streams:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(means), np.concatenate(stds)


def mean_std(conf, train_set, cache_dir, log=print) -> tuple[np.ndarray, ...]:
    """``(in_mean, in_std, out_mean, out_std)`` float32, read from or written to ``cache_dir``."""
    in_dim, out_dim = conf.in_dim, conf.out_dim
    in_path, out_path = stats_paths(cache_dir, train_set.set_name)
    if in_path.is_file() and out_path.is_file():
        i, o = _load(in_path, in_dim, log), _load(out_path, out_dim, log)
        if i is not None and o is not None:
            log(f"mean/std from {in_path} and {out_path}")
            return tuple(a.astype(np.float32) for a in (*i, *o))
    if not any(s.norm for s in conf.inputs + conf.outputs):
        return (np.zeros(in_dim, np.float32), np.ones(in_dim, np.float32),
                np.zeros(out_dim, np.float32), np.ones(out_dim, np.float32))
    sub, names = train_set.subsets[0], train_set.present[0]
    log(f"computing mean/std over {len(names)} utterances of {sub.cache_name}")
    im, isd = _compute(conf.inputs, sub.input_dirs, names, log)
    om, osd = _compute(conf.outputs, sub.output_dirs, names, log)
    os.makedirs(cache_dir, exist_ok=True)
    # each file is written atomically, the pair is not: with the old pair gone first, a kill
    # between the two writes leaves one file (recomputed next time), never a new and an old one
    for path in (in_path, out_path):
        path.unlink(missing_ok=True)
    write_raw(np.concatenate([im, isd]), in_path)
    write_raw(np.concatenate([om, osd]), out_path)
    return tuple(a.astype(np.float32) for a in (im, isd, om, osd))
