"""Reading and checking config.py's variables: the streams and the data sets, both styles.

Problems are collected, not raised one by one, so that one run of a broken config names every
variable at fault (`project.load_config` raises them together as a ConfigError).
"""
from __future__ import annotations

import os
from pathlib import Path

from ..io import read_list, scan_dir
from .project import DataSet, Stream, SubSet


class Checker:
    def __init__(self, module, project_dir: Path):
        self.module, self.dir, self.problems = module, project_dir, []
        self.style = "merge"

    def bad(self, var: str, msg: str) -> None:
        # the validation set reads input_dirs/output_dirs again when it has none of its own:
        # one fault, one line
        if (var, msg) not in self.problems:
            self.problems.append((var, msg))

    def get(self, var: str, default=None, required: bool = False):
        if not hasattr(self.module, var):
            if required:
                self.bad(var, "is not set")
            return default
        return getattr(self.module, var)

    def path(self, var: str, value) -> str | None:
        if not isinstance(value, (str, os.PathLike)):
            self.bad(var, f"must be a path string, got {value!r}")
            return None
        return os.path.normpath(os.path.join(self.dir, os.path.expanduser(os.fspath(value))))

    def directory(self, var: str, value) -> str | None:
        p = self.path(var, value)
        if p is not None and not os.path.isdir(p):
            self.bad(var, f"{p} does not exist" if not os.path.exists(p) else f"{p} is not a directory")
        return p

    def names(self, var: str, value, scan: tuple[str, str] | None) -> tuple[list[str], str | None]:
        """Names from a list-file path, an inline list of names, or (None) the first input folder."""
        if value is None and scan is not None:
            return (scan_dir(*scan) if scan[0] and os.path.isdir(scan[0]) else []), None
        if isinstance(value, list) and all(isinstance(n, str) for n in value):
            if not value:
                self.bad(var, "is an empty list of names")
            return list(value), None
        p = self.path(var, value)
        if p is None:
            return [], None
        if not os.path.isfile(p):
            self.bad(var, f"{p} does not exist" if not os.path.exists(p) else f"{p} is not a file")
            return [], p
        names = read_list(p)
        if not names:
            self.bad(var, f"{p} holds no names")
        return names, p


def streams(c: Checker, side: str, required: bool) -> list[Stream]:
    dims = c.get(f"{side}_dims", [] if not required else None, required)
    exts = c.get(f"{side}_exts", [] if not required else None, required)
    if not isinstance(dims, list) or not isinstance(exts, list):
        for var, v in ((f"{side}_dims", dims), (f"{side}_exts", exts)):
            if v is not None and not isinstance(v, list):
                c.bad(var, f"must be a list, got {v!r}")
        return []
    n = len(dims)
    reso = c.get(f"{side}_reso") or [1] * n
    norm = c.get(f"{side}_norm")
    norm = [True] * n if norm is None else norm
    for var, v in ((f"{side}_exts", exts), (f"{side}_reso", reso), (f"{side}_norm", norm)):
        if not isinstance(v, list) or len(v) != n:
            c.bad(var, f"has {len(v) if isinstance(v, list) else 'no list of'} entries, "
                       f"{side}_dims has {n}")
            return []
    out = []
    for i, (d, e, r, z) in enumerate(zip(dims, exts, reso, norm)):
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            c.bad(f"{side}_dims[{i}]", f"must be a whole number above 0, got {d!r}")
        if not isinstance(e, str) or not e.startswith("."):
            c.bad(f"{side}_exts[{i}]", f"must be a file extension such as '.mgc', got {e!r}")
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            c.bad(f"{side}_reso[{i}]", f"must be a whole number above 0 (samples per frame), got {r!r}"
                  + (" (unaligned streams, reso < 0, are not supported)" if isinstance(r, int) and r < 0 else ""))
        out.append(Stream(e, d, r, bool(z)))
    if len({s.reso for s in out}) > 1:
        c.bad(f"{side}_reso", f"all {side} streams must share one resolution (as in the toolkit), "
                              f"got {[s.reso for s in out]}")
    return out


def dataset(c: Checker, which: str, set_var: str, list_var: str, in_var: str, out_var: str,
             n_in: int, n_out: int, need_out: bool) -> DataSet | None:
    set_name = c.get(set_var, required=True)
    lists = c.get(list_var, required=True)
    in_dirs = c.get(in_var, required=True)
    out_dirs = c.get(out_var, [] if not need_out else None, need_out)
    if in_dirs is None:
        return None
    if not isinstance(in_dirs, list) or not in_dirs:
        c.bad(in_var, f"must be a list of directories, got {in_dirs!r}")
        return None
    merge = isinstance(in_dirs[0], list)
    c.style = "merge" if merge else "flat"
    if merge:
        n = len(in_dirs)
        if not isinstance(lists, list) or len(lists) != n:
            c.bad(list_var, f"must be a list with one entry per sub-corpus ({in_var} has {n}), got {lists!r}")
            return None
        if out_dirs in ([], None):
            out_dirs = [[] for _ in range(n)]
        if not isinstance(out_dirs, list) or len(out_dirs) != n or not all(isinstance(o, list) for o in out_dirs):
            c.bad(out_var, f"must be a list of {n} lists of directories (one per sub-corpus), got {out_dirs!r}")
            return None
        if isinstance(set_name, list):
            if len(set_name) != n or len(set(set_name)) != n or not all(isinstance(s, str) for s in set_name):
                c.bad(set_var, f"must be a string or {n} distinct names, got {set_name!r}")
                return None
            cache = list(set_name)
        elif isinstance(set_name, str):
            cache = [f"{set_name}_sub_{i}" for i in range(n)]
        else:
            c.bad(set_var, f"must be a string or a list of strings, got {set_name!r}")
            return None
        groups = [(f"[{i}]", in_dirs[i], out_dirs[i], lists[i], cache[i]) for i in range(n)]
    else:
        if isinstance(set_name, list) and len(set_name) == 1:
            set_name = set_name[0]
        if not isinstance(set_name, str):
            c.bad(set_var, f"must be a string, got {set_name!r}")
            return None
        if out_dirs is None or not isinstance(out_dirs, list) or (out_dirs and isinstance(out_dirs[0], list)):
            c.bad(out_var, f"must be a flat list of directories like {in_var}, got {out_dirs!r}")
            return None
        groups = [("", in_dirs, out_dirs, lists, set_name)]
    subsets = []
    for tag, ins, outs, lst, cache_name in groups:
        if not isinstance(ins, list) or len(ins) != n_in:
            c.bad(in_var + tag, f"has {len(ins) if isinstance(ins, list) else 'no list of'} directories, "
                                f"input_exts has {n_in}")
            continue
        if outs and len(outs) != n_out:
            c.bad(out_var + tag, f"has {len(outs)} directories, output_exts has {n_out}")
            continue
        if need_out and not outs:
            c.bad(out_var + tag, "is empty: training needs the output (target) directories")
            continue
        idirs = [c.directory(f"{in_var}{tag}[{j}]", d) for j, d in enumerate(ins)]
        odirs = [c.directory(f"{out_var}{tag}[{j}]", d) for j, d in enumerate(outs)]
        scan = (idirs[0], c.module.input_exts[0]) if idirs and idirs[0] else None
        names, list_file = c.names(list_var + tag, lst, scan)
        subsets.append(SubSet(names, idirs, odirs, list_file, cache_name))
    if not subsets:
        return None
    return DataSet(subsets[0].cache_name, subsets)


def int_or_none(c: Checker, var: str):
    v = c.get(var)
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
        c.bad(var, f"must be a whole number above 0 or None, got {v!r}")
        return None
    return v
