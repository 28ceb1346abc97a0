"""`modulespack --help`, `--version`, the installed script, and commands added by providers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from modulespack import cli

from cli_helpers import run


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for cmd in ("check", "run", "draw", "modules", "serve", "corpus"):
        assert cmd in out
    assert "examples:" in out
    for cmd in ("check", "run", "draw", "modules"):
        code, out, _ = run(capsys, cmd, "--help")
        assert code == 0 and "examples:" in out and f"modulespack {cmd}" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("modulespack ")
    code, _, err = run(capsys)
    assert code == 2


def test_installed_console_script_help():
    exe = Path(sys.executable).parent / "modulespack"
    assert exe.exists(), f"console script missing at {exe}"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage: modulespack" in proc.stdout and "check" in proc.stdout and "run" in proc.stdout
    assert proc.stderr == ""


def test_serve_and_corpus_say_when_not_available(capsys, monkeypatch):
    def unavailable(name):
        return None, "modulespack.serve is not installed in this environment (no module 'modulespack.serve')"
    monkeypatch.setattr(cli, "load_provider", unavailable)
    code, out, err = run(capsys, "serve", "examples/graphs")
    assert code == 1 and "not available" in err and "Traceback" not in err
    code, out, err = run(capsys, "serve", "--help")
    assert code == 1 and "not available" in err


def test_provider_commands_are_added(capsys, monkeypatch):
    def add_serve(sub):
        p = sub.add_parser("serve", help="fake serve")
        p.add_argument("folder")
        p.set_defaults(func=lambda args: print(f"serving {args.folder}") or 0)
        return p
    monkeypatch.setattr(cli, "load_provider", lambda name: (add_serve, ""))
    code, out, _ = run(capsys, "serve", "graphs/")
    assert code == 0 and out == "serving graphs/\n"


def test_a_new_provider_module_adds_a_command(capsys, monkeypatch):
    """The extension mechanism: a PROVIDERS entry names a module with `add_parser`, imported on use."""
    import types

    def add_parser(sub):
        p = sub.add_parser("hello", help="say hello")
        p.set_defaults(func=lambda args: print("hello") or 3)
        return p
    mod = types.ModuleType("hello_provider")
    mod.add_parser = add_parser
    monkeypatch.setitem(sys.modules, "hello_provider", mod)
    monkeypatch.setitem(cli.PROVIDERS, "hello", ("hello_provider", "hello_provider", "say hello"))
    code, out, _ = run(capsys, "hello")
    assert code == 3 and out == "hello\n"
    code, out, _ = run(capsys, "--help")
    assert "say hello" in out
    assert "hello_provider" in sys.modules
    assert not hasattr(cli, "register_command") and not hasattr(cli, "COMMAND_HOOKS")
