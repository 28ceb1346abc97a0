"""`modulespack check`: validate graph files without running them."""
from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, Sequence

from .common import EXIT_FAIL, EXIT_OK, add_command, err

GRAPH_SUFFIXES = (".yaml", ".yml", ".json")

EPILOG = """\
Each graph is loaded and validated completely (modules, ports, dtypes and shapes along edges,
cycles, unconnected inputs, parameters, nested graphs); nothing runs. A folder stands for the
graph files directly inside it. Exit status 1 if any file has a problem.

examples:
  modulespack check examples/graphs/arith.yaml
  modulespack check examples/graphs            # every .yaml/.yml/.json in the folder
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = add_command(sub, "check", cmd_check, help="validate graph files and print every problem",
                    description="Validate graph files and print every problem found.", epilog=EPILOG)
    p.add_argument("files", nargs="+", metavar="FILE", help="graph file (.yaml, .yml, .json) or folder of them")
    return p


def _graph_files(paths: Sequence[str]) -> list[str]:
    """The files to check: each FILE, and every graph file directly inside each folder."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).iterdir() if f.suffix in GRAPH_SUFFIXES and f.is_file())
            # an empty folder stays in the list so that it is reported rather than silently passing
            out += found or [p]
        else:
            out.append(p)
    return out


def cmd_check(args: argparse.Namespace) -> int:
    from .. import GraphError, build_graph

    files = _graph_files(args.files)
    bad = 0
    for f in files:
        try:
            if os.path.isdir(f):
                raise OSError(f"{f}: folder holds no graph files ({', '.join(GRAPH_SUFFIXES)})")
            g = build_graph(f)
        except GraphError as e:
            bad += 1
            for p in e.problems:
                print(p)
            continue
        except OSError as e:
            bad += 1
            print(f"{f}: {e.strerror or e}" if getattr(e, "filename", None) is None else
                  f"{e.filename}: {e.strerror or e}")
            continue
        nested = _count_nested(g)
        extra = f", {nested} more in nested graphs" if nested else ""
        print(f"OK {f} ({len(g.nodes)} nodes{extra})")
    if len(files) > 1:
        err(f"{len(files) - bad} of {len(files)} graph files OK" if bad else f"all {len(files)} graph files OK")
    return EXIT_FAIL if bad else EXIT_OK


def _count_nested(g: Any) -> int:
    n = 0
    for node in g.nodes.values():
        if node.subgraph is not None:
            n += len(node.subgraph.nodes) + _count_nested(node.subgraph)
    return n
