"""`modulespack draw`: a graph as DOT, Mermaid, or an image rendered by Graphviz."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, add_command, err

EPILOG = """\
The format follows the -o file's suffix (.dot/.gv, .svg, .png, .pdf, .mmd/.mermaid) unless
--format says otherwise; without -o, DOT text goes to standard output. SVG, PNG and PDF need
Graphviz's `dot` program (Debian: apt-get install graphviz). Nested graphs are drawn as
clusters holding their own nodes.

examples:
  modulespack draw examples/graphs/arith.yaml                  # DOT on stdout
  modulespack draw examples/graphs/nested_demo.yaml -o nested.svg
  modulespack draw examples/graphs/arith.yaml --format mermaid > arith.mmd
  modulespack draw examples/graphs/arith.yaml | dot -Tpdf > arith.pdf
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = add_command(sub, "draw", cmd_draw, help="draw a graph as DOT, Mermaid, SVG or PNG",
                    description="Draw a graph: inputs and outputs as ellipses, nodes as boxes, constants "
                                "as notes, edges labelled out -> in, nested graphs as clusters.",
                    epilog=EPILOG)
    p.add_argument("file", metavar="FILE", help="graph file")
    p.add_argument("-o", "--output", metavar="OUT", help="output file: .dot, .svg, .png, .pdf or .mmd")
    p.add_argument("--format", choices=["dot", "mermaid", "svg", "png", "pdf"],
                   help="output format (default: from the -o suffix, else dot)")
    p.add_argument("--no-check", action="store_true", help="draw the graph as written, without validating it")
    return p


def cmd_draw(args: argparse.Namespace) -> int:
    from .. import GraphError, build_graph, load_graph
    from ..draw import FORMATS, GraphvizError, render, suffix_format, to_dot, to_mermaid
    from ..io import atomic_open

    fmt = args.format
    if fmt is None and args.output:
        fmt = suffix_format(args.output)
        if fmt is None:
            err(f"error: cannot tell the format from {args.output!r}: use a .dot, .svg, .png, .pdf or .mmd "
                "file name, or --format")
            return EXIT_USAGE
    fmt = fmt or "dot"
    try:
        graph = load_graph(args.file) if args.no_check else build_graph(args.file)
    except GraphError as e:
        for p in e.problems:
            err(str(p))
        if not args.no_check:
            err("(use --no-check to draw the graph as written without validating it)")
        return EXIT_FAIL
    if fmt == "mermaid":
        data = to_mermaid(graph).encode("utf-8")
    else:
        dot = to_dot(graph)
        if fmt in FORMATS:
            try:
                data = render(dot, fmt)
            except GraphvizError as e:
                err(f"error: {e}")
                return EXIT_FAIL
        else:
            data = dot.encode("utf-8")
    if args.output:
        out = Path(args.output)
        try:
            with atomic_open(out) as f:
                f.write(data)
        except OSError as e:
            err(f"error: cannot write {out}: {e.strerror or e}")
            return EXIT_FAIL
        err(f"wrote {out} ({fmt})")
    else:
        sys.stdout.flush()
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except AttributeError:  # a text-only stdout (some test harnesses)
            sys.stdout.write(data.decode("utf-8", "replace"))
    return EXIT_OK
