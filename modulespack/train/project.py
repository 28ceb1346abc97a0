"""A project folder of the NII toolkit's shape: `config.py` (data) and `model.py` (model and loss).

`load_config` imports config.py as the toolkit does (a module, `__file__` set) and reads its
variables in either style:

- *merge*: ``trn_list``/``val_list`` a list of list files (one per sub-corpus), ``input_dirs`` /
  ``output_dirs`` lists of lists, set names a string or a list; ``test_list`` may hold the names
  inline as a list of lists.
- *flat*: ``trn_list`` a list-file path (or a list of names), flat lists of directories.

Relative paths are taken from the project folder (the toolkit resolves them against the working
directory, which its recipes set to the project folder). Every problem found is reported at once,
each naming the variable (``input_dirs[0][1]: /x/y does not exist``).

Cache file names follow the toolkit (`SubSet.cache_name`): in merge style a string set name
``x`` becomes ``x_sub_0``, ``x_sub_1``...; a list gives each sub-corpus its own name; in flat style
the name is used as it is.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config.py that cannot be used; the message names the file and the variable(s) at fault."""

    def __init__(self, path, problems: list[tuple[str, str]]):
        self.path = str(path)
        self.problems = problems
        self.variable = problems[0][0] if problems else None
        lines = [f"{var}: {msg}" if var else msg for var, msg in problems]
        super().__init__(f"{self.path}: " + ("\n  ".join(lines) if len(lines) == 1 else
                                             "\n  " + "\n  ".join(lines)))


@dataclass
class Stream:
    ext: str
    dim: int
    reso: int
    norm: bool

    @property
    def is_wav(self) -> bool:
        return self.ext == ".wav"

    @property
    def is_f0(self) -> bool:
        # The toolkit's F0 convention (conf.f0_unvoiced_dic): '.f0', 0 = unvoiced.
        return self.ext == ".f0"


@dataclass
class SubSet:
    names: list[str]
    input_dirs: list[str]
    output_dirs: list[str]
    list_file: str | None
    cache_name: str = ""


@dataclass
class DataSet:
    name: str                      # the first sub-corpus' cache name (the toolkit's stats files)
    subsets: list[SubSet]

    @property
    def names(self) -> list[str]:
        return [n for s in self.subsets for n in s.names]


@dataclass
class ProjectConfig:
    path: Path
    module: types.ModuleType
    inputs: list[Stream]
    outputs: list[Stream]
    wav_samp_rate: int | None
    truncate_seq: int | None
    minimum_len: int | None
    train: DataSet | None
    val: DataSet | None
    test: DataSet | None
    input_trans_fns: Any = None
    output_trans_fns: Any = None
    optional_argument: Any = None
    options: Any = None
    style: str = "merge"
    project_dir: Path = field(default_factory=Path)

    @property
    def in_dim(self) -> int:
        return sum(s.dim for s in self.inputs)

    @property
    def out_dim(self) -> int:
        return sum(s.dim for s in self.outputs)


# ---------------------------------------------------------------------------- importing


def _module_file(project_dir: Path, module_name: str, what: str) -> Path:
    path = project_dir / (module_name.replace(".", os.sep) + ".py")
    if not path.is_file():
        raise ConfigError(path, [(f"--module-{what} {module_name}", f"{path} does not exist")])
    return path


def _import_file(path: Path, project_dir: Path, module_name: str) -> types.ModuleType:
    # A unique module name per file: several projects (a graph with two trained models, a test
    # run) load in one process, and each has its own 'config' and 'model'.
    tag = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    unique = f"_modulespack_project_{tag}_{module_name.replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(unique, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module      # so that pickling and dataclasses inside it work
    sys.path.insert(0, str(project_dir))   # sibling imports, as when run from the project folder
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(unique, None)
        raise
    finally:
        try:
            sys.path.remove(str(project_dir))
        except ValueError:
            pass
    return module


def load_model_module(project_dir, module_name: str = "model") -> types.ModuleType:
    """Import PROJECT_DIR/model.py (dotted names are sub-folders) with the project on sys.path."""
    project_dir = Path(project_dir).resolve()
    return _import_file(_module_file(project_dir, module_name, "model"), project_dir, module_name)


def __getattr__(name: str):
    # The checking helpers moved to configvars.py; module.py imported them from here by these names.
    aliases = {"_Checker": "Checker", "_streams": "streams", "_dataset": "dataset"}
    if name in aliases:
        from . import configvars
        return getattr(configvars, aliases[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_config(project_dir, module_name: str = "config", *, for_inference: bool = False,
                data: bool = True) -> ProjectConfig:
    """Import and check PROJECT_DIR/config.py; see the module docstring. ConfigError if unusable.

    ``for_inference`` checks only the test set (``test_*``); otherwise the training and
    validation sets (``val_list = None``: no validation set). ``data=False`` reads only the
    streams and settings (train, val and test None): enough to build and run a trained model
    where its data folders are absent.
    """
    project_dir = Path(project_dir).resolve()
    if not project_dir.is_dir():
        raise ConfigError(project_dir, [("project", f"{project_dir} is not a directory")])
    path = _module_file(project_dir, module_name, "config")
    module = _import_file(path, project_dir, module_name)
    from .configvars import Checker, dataset, int_or_none, streams  # it needs the classes above

    c = Checker(module, project_dir)
    inputs = streams(c, "input", True)
    outputs = streams(c, "output", not for_inference or not data)
    n_in, n_out = len(inputs), len(outputs)
    train = val = test = None
    if not data:
        pass
    elif inputs and not c.problems:
        if for_inference:
            test = dataset(c, "test", "test_set_name", "test_list", "test_input_dirs",
                           "test_output_dirs", n_in, n_out, need_out=False)
        else:
            train = dataset(c, "train", "trn_set_name", "trn_list", "input_dirs", "output_dirs",
                            n_in, n_out, need_out=True)
            if c.get("val_list") is not None:
                in_var = "val_input_dirs" if hasattr(module, "val_input_dirs") else "input_dirs"
                out_var = "val_output_dirs" if hasattr(module, "val_output_dirs") else "output_dirs"
                val = dataset(c, "val", "val_set_name", "val_list", in_var, out_var,
                              n_in, n_out, need_out=True)
    sr = c.get("wav_samp_rate")
    if sr is not None and (isinstance(sr, bool) or not isinstance(sr, int) or sr < 1):
        c.bad("wav_samp_rate", f"must be a whole number of Hz or None, got {sr!r}")
    if any(s.is_wav for s in inputs + outputs) and sr is None:
        c.bad("wav_samp_rate", "is None, but a stream is '.wav': set the waveform's sample rate")
    truncate_seq = int_or_none(c, "truncate_seq")
    minimum_len = int_or_none(c, "minimum_len")
    frame = max((s.reso for s in inputs + outputs), default=1)
    if truncate_seq is not None and truncate_seq < frame and not for_inference:
        # cut to whole frames of the slowest stream, it would be 0: segments that never advance
        c.bad("truncate_seq", f"{truncate_seq} is shorter than one frame of the slowest stream "
                              f"({frame} samples, the largest *_reso): use a multiple of {frame}")
    if c.problems:
        raise ConfigError(path, c.problems)
    prefix = "test_" if for_inference else ""
    return ProjectConfig(
        path=path, module=module, inputs=inputs, outputs=outputs, wav_samp_rate=sr,
        truncate_seq=truncate_seq, minimum_len=minimum_len, train=train, val=val, test=test,
        # the toolkit's main.py hands the test set test_*_trans_fns, never the training ones
        # (those are often augmentation)
        input_trans_fns=getattr(module, f"{prefix}input_trans_fns", None),
        output_trans_fns=getattr(module, f"{prefix}output_trans_fns", None),
        optional_argument=getattr(module, "optional_argument", None),
        options=getattr(module, "options", None),
        style=c.style, project_dir=project_dir)
