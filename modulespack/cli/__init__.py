"""The `modulespack` command: check, run and draw graph files, list modules, and (when installed) serve.

Subcommands come from two places:

- the built-in ones in this package (check, run, draw, modules), one file each;
- provider modules imported only when their command is asked for (`PROVIDERS`): `modulespack serve`
  imports `modulespack.serve.cli`, `modulespack corpus` imports `modulespack.speech.cli`. A provider
  module defines `add_parser(subparsers) -> argparse.ArgumentParser`, which adds a parser named after
  the command and sets its `func` default to a callable `func(args) -> int` (the exit code). When
  the provider cannot be imported the command prints why it is not available.

Nothing heavy is imported at start-up, so `modulespack --help` stays fast: the command files import
numpy, the graph machinery and modulespack.io inside the functions that need them.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from . import check, draw, modules, run
from .check import GRAPH_SUFFIXES, cmd_check
from .common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, AddParser, Formatter, err
from .draw import cmd_draw
from .modules import cmd_modules, list_modules, port_text_from_info
from .outputs import WAV_SUBTYPES, describe, summarise, write_outputs
from .run import cmd_run
from .values import InputError, coerce, parse_inputs, parse_value, read_input_file

__all__ = [
    "main", "build_parser", "load_provider", "PROVIDERS", "BUILTIN",
    "AddParser", "EXIT_OK", "EXIT_FAIL", "EXIT_USAGE", "GRAPH_SUFFIXES", "WAV_SUBTYPES",
    "InputError", "read_input_file", "parse_value", "coerce", "parse_inputs",
    "summarise", "describe", "write_outputs", "list_modules", "port_text_from_info",
    "cmd_check", "cmd_run", "cmd_draw", "cmd_modules",
]

#: commands whose parser lives in another module, imported only when the command is used:
#: name -> (provider module, package that must be importable, one-line help)
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "serve": ("modulespack.serve.cli", "modulespack.serve",
              "serve the graphs of a folder over HTTP (one endpoint per graph, demo page)"),
    "corpus": ("modulespack.speech.cli", "modulespack.speech",
               "prepare and inspect speech corpora (file lists, features)"),
    "batch": ("modulespack.cli.batch", "modulespack.engines",
              "run a graph over every utterance of a list, writing its outputs to files"),
    "train": ("modulespack.cli.train", "modulespack.train",
              "train a project of the NII toolkit's shape (config.py, model.py), or resume one"),
    "infer": ("modulespack.cli.infer", "modulespack.train",
              "generate a project's test set with a trained model"),
}

BUILTIN: list[tuple[str, AddParser]] = [("check", check.add_parser), ("run", run.add_parser),
                                        ("draw", draw.add_parser), ("modules", modules.add_parser)]

EPILOG = """\
examples:
  modulespack check examples/graphs/*.yaml
  modulespack run examples/graphs/arith.yaml --input a=1 --input b=2
  modulespack draw examples/graphs/nested_demo.yaml -o nested.svg
  modulespack modules --path examples/modules

Run `modulespack COMMAND --help` for the options of a command.
"""


def load_provider(name: str) -> tuple[AddParser | None, str]:
    """(add_parser, "") for a provider command, or (None, why it is not available)."""
    import importlib
    modname, package, _help = PROVIDERS[name]
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        # tell "not written yet" and "not installed" apart from a provider that is itself broken
        missing = getattr(e, "name", None) or ""
        if missing == modname:
            return None, f"{package} provides no command-line part yet (no module {modname!r})"
        if missing and (modname.startswith(missing + ".") or package == missing):
            return None, f"{package} is not installed in this environment (no module {missing!r})"
        return None, f"importing {modname} failed: {type(e).__name__}: {e}"
    add = getattr(mod, "add_parser", None)
    if add is None:
        return None, f"{modname} defines no add_parser(subparsers)"
    return add, ""


def build_parser(command: str | None = None, provider: AddParser | None = None) -> argparse.ArgumentParser:
    """The argument parser; `provider` adds the parser of `command`, a PROVIDERS command about to run."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="modulespack",
        description="Compose speech-processing modules into validated graphs; check, run, draw and serve them.",
        epilog=EPILOG, formatter_class=Formatter)
    parser.add_argument("--version", action="version", version=f"modulespack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    added: set[str] = set()
    for name, add in BUILTIN:
        add(sub)
        added.add(name)
    for name, (_mod, _pkg, help_text) in PROVIDERS.items():
        if name in added:
            continue
        add = provider if name == command else None
        if add is not None:
            add(sub)
        else:  # listed in --help only; its module is imported when the command is used
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modulespack` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    provider = None
    if command in PROVIDERS and command not in {n for n, _ in BUILTIN}:
        provider, why = load_provider(command)
        if provider is None:
            err(f"modulespack {command} is not available: {why}")
            return EXIT_FAIL
    parser = build_parser(command, provider)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `modulespack draw g.yaml | head`
        # stdout is gone; pointing it at devnull keeps the interpreter's exit-time flush quiet
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK
