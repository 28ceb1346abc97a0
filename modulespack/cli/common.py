"""What every subcommand shares: exit statuses, the help layout and error printing."""
from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

#: a subcommand's parser hook: add_parser(subparsers) adds its parser and sets `func`
AddParser = Callable[[Any], argparse.ArgumentParser]

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the hand-wrapped epilogs as written and lines up option help a little further right."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], *, help: str,
                description: str, epilog: str) -> argparse.ArgumentParser:
    """A subcommand's parser in the shared help layout; `func(args)` runs the command."""
    p = sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=Formatter)
    p.set_defaults(func=func)
    return p


def err(msg: str) -> None:
    print(msg, file=sys.stderr)


def built_graph(path: str) -> Any:
    """The validated graph of a file, or None after printing each of its problems (for `run`, `batch`)."""
    from ..core import GraphError, build_graph
    try:
        return build_graph(path)
    except GraphError as e:
        for p in e.problems:
            err(str(p))
        return None
