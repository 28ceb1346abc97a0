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
cycles, unconnected inputs, parameters, nested graphs, the input names and files of its
`examples:`); nothing runs, unless --examples: then every example of every valid graph is run
once and its time or its error printed. A folder stands for the graph files directly inside it.
Exit status 1 if any file has a problem or any example fails.

examples:
  modulespack check examples/graphs/arith.yaml
  modulespack check examples/graphs            # every .yaml/.yml/.json in the folder
  modulespack check --examples examples/graphs/tts.yaml
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = add_command(sub, "check", cmd_check, help="validate graph files and print every problem",
                    description="Validate graph files and print every problem found.", epilog=EPILOG)
    p.add_argument("files", nargs="+", metavar="FILE", help="graph file (.yaml, .yml, .json) or folder of them")
    p.add_argument("--examples", action="store_true",
                   help="also run each graph's examples (its `examples:` inputs) and report failures")
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
    bad = bad_examples = 0
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
        if getattr(args, "examples", False):
            failed = run_examples(g, f)
            bad_examples += failed
            bad += bool(failed)
    if bad_examples:
        err(f"{bad_examples} example{'s' if bad_examples != 1 else ''} failed")
    if len(files) > 1:
        err(f"{len(files) - bad} of {len(files)} graph files OK" if bad else f"all {len(files)} graph files OK")
    return EXIT_FAIL if bad else EXIT_OK


def run_examples(graph: Any, file: str) -> int:
    """Run every example of `graph` once; print a line each; return how many failed."""
    from time import perf_counter

    from .. import GraphError, Session
    from ..core.examples import example_file, file_ref
    from .values import InputError, parse_inputs

    examples = graph.spec.examples
    if not examples:
        print(f"  no examples in {file}")
        return 0
    try:
        session = Session(graph)
    except GraphError as e:  # a module's setup() failed: no example can run
        for p in e.problems:
            print(f"FAIL {file}: examples not run: {p}")
        return len(examples)
    failed = 0
    with session:
        for name, values in examples.items():
            items = [f"{k}=@{example_file(graph.spec.base_dir, ref)}" if (ref := file_ref(v)) is not None
                     else f"{k}={_as_text(v, graph.inputs.get(k))}" for k, v in values.items()]
            t0 = perf_counter()
            try:
                session.run(parse_inputs(items, graph))
            except InputError as e:
                failed += 1
                print(f"FAIL {file}: example '{name}': {e}")
                continue
            except Exception as e:  # a module's error, or feeds that do not fit: each names its node or input
                failed += 1
                print(f"FAIL {file}: example '{name}': {type(e).__name__}: {e}")
                continue
            print(f"  example '{name}' ran in {perf_counter() - t0:.2f} s")
    return failed


def _as_text(value: Any, port: Any) -> str:
    """An example's value as `--input` text (see `modulespack run --help`), so examples and the
    command line read values, WAV files and their rates alike."""
    import json

    if isinstance(value, str) and getattr(port, "dtype", None) == "str":
        return "@" + value if value.startswith("@") else value   # "@@x" is the literal "@x"
    return json.dumps(value)


def _count_nested(g: Any) -> int:
    n = 0
    for node in g.nodes.values():
        if node.subgraph is not None:
            n += len(node.subgraph.nodes) + _count_nested(node.subgraph)
    return n
