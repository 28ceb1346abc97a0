"""`modulespack modules`: the modules graph files can name, with their ports."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .common import EXIT_OK, add_command

EPILOG = """\
Lists registered module names, the '%s' entry points of installed packages, and the module
classes in each --path folder, with their input and output ports (dtype [shape]; '?' marks an
optional input) and a one-line description. A module file that fails to import is listed with
its error.

examples:
  modulespack modules --path examples/modules
  modulespack modules --path examples/modules --json
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from .. import ENTRY_POINT_GROUP
    p = add_command(sub, "modules", cmd_modules, help="list available modules and their ports",
                    description="List the modules graph files can name, with their ports.",
                    epilog=EPILOG % ENTRY_POINT_GROUP)
    p.add_argument("--path", action="append", metavar="DIR", help="a folder of module .py files (repeatable)")
    p.add_argument("--import", dest="imports", action="append", metavar="PACKAGE",
                   help="import a Python package first, so the modules it registers are listed (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    return p


def _port_info(port: Any) -> dict[str, Any]:
    d = {"dtype": getattr(port, "dtype", "any")}
    shape = getattr(port, "shape", None)
    d["shape"] = None if shape is None else list(shape)
    if getattr(port, "doc", ""):
        d["doc"] = port.doc
    return d


def _module_entry(name: str, cls: Any, source: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "source": source, "class": f"{cls.__module__}.{cls.__qualname__}"}
    try:
        entry["description"] = cls.describe()
    except Exception:
        entry["description"] = ""
    try:
        ins, outs = cls.ports({})
        try:
            optional = set(cls.optional_inputs({}))
        except Exception:
            optional = set()
        entry["inputs"] = {k: {**_port_info(p), **({"optional": True} if k in optional else {})}
                           for k, p in ins.items()}
        entry["outputs"] = {k: _port_info(p) for k, p in outs.items()}
    except Exception as e:  # ports that need parameters
        entry["error"] = f"ports depend on parameters: {type(e).__name__}: {e}"
    return entry


def _folder_modules(folder: Path) -> list[dict[str, Any]]:
    """Every module class in the .py files of a folder; a file that fails to import is one entry
    carrying the error. Uses a private import name, like the registry, so nothing is shadowed.

    Not the registry's own folder loader: that one merges a folder into one name table, and a
    listing needs to say which file each class (or import error) comes from.
    """
    import hashlib
    import importlib.util

    from .. import Registry

    if not folder.is_dir():
        return [{"name": str(folder), "group": str(folder), "source": str(folder), "error": "no such folder"}]
    out: list[dict[str, Any]] = []
    tag = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    # on sys.path while the files execute, so that they can import their siblings
    sys.path.insert(0, str(folder))
    try:
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            modname = f"_modulespack_cli_{tag}_{path.stem}"
            try:
                mod = sys.modules.get(modname)
                if mod is None:
                    spec = importlib.util.spec_from_file_location(modname, path)
                    assert spec and spec.loader
                    mod = importlib.util.module_from_spec(spec)
                    sys.modules[modname] = mod
                    try:
                        spec.loader.exec_module(mod)
                    except BaseException:
                        del sys.modules[modname]
                        raise
            except Exception as e:
                out.append({"name": path.stem, "group": str(path), "source": str(path),
                            "error": f"cannot import: {type(e).__name__}: {e}"})
                continue
            except SystemExit as e:  # a script that exits at import must not end the listing
                out.append({"name": path.stem, "group": str(path), "source": str(path),
                            "error": f"cannot import: exits ({e.code})"})
                continue
            scratch = Registry(use_entry_points=False)
            for attr, obj in vars(mod).items():
                if isinstance(obj, type) and getattr(obj, "__module__", None) == modname:
                    try:
                        scratch.register(obj, attr)  # accepts Module classes and adapted foreign ones
                    except TypeError:
                        continue
            for attr, cls in scratch.available().items():
                if not isinstance(cls, str):
                    out.append({"group": str(path), **_module_entry(attr, cls, str(path))})
    finally:
        try:
            sys.path.remove(str(folder))
        except ValueError:
            pass
    return out


def list_modules(paths: Sequence[str] = (), imports: Sequence[str] = ()) -> list[dict[str, Any]]:
    import importlib
    from importlib.metadata import entry_points

    from .. import ENTRY_POINT_GROUP, Registry, default_registry

    out: list[dict[str, Any]] = []
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as e:
            out.append({"name": name, "group": "--import", "source": f"--import {name}",
                        "error": f"cannot import: {type(e).__name__}: {e}"})
    for name, cls in sorted(default_registry.available().items()):
        if not isinstance(cls, str):
            out.append({"group": "registered", **_module_entry(name, cls, "registered")})
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"entry point {ep.value}"
        group = f"entry points '{ENTRY_POINT_GROUP}'"
        try:
            obj = ep.load()
            # a scratch registry adapts foreign (modulespack2) classes the way graph loading does
            scratch = Registry(use_entry_points=False)
            scratch.register(obj, ep.name)
            cls = scratch.available()[ep.name]
        except Exception as e:
            out.append({"name": ep.name, "group": group, "source": source,
                        "error": f"cannot load: {type(e).__name__}: {e}"})
            continue
        out.append({"group": group, **_module_entry(ep.name, cls, source)})
    for p in paths:
        out += _folder_modules(Path(p))
    return out


def port_text_from_info(p: dict) -> str:
    """`float32 [*, 80]` for a port as `list_modules` describes it; '' for a port taking anything."""
    from types import SimpleNamespace

    from ..draw import port_text
    return port_text(SimpleNamespace(dtype=p.get("dtype", "any"), shape=p.get("shape")))


def _ports_text(ports: dict[str, dict]) -> str:
    if not ports:
        return "(none)"
    return ", ".join(f"{k}{'?' if p.get('optional') else ''}: {port_text_from_info(p) or 'any'}"
                     for k, p in ports.items())


def cmd_modules(args: argparse.Namespace) -> int:
    entries = list_modules(args.path or [], args.imports or [])
    if args.json:
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    if not entries:
        print("no modules found (give folders of module files with --path DIR)")
        return EXIT_OK
    group = None
    for e in entries:
        if e["group"] != group:
            group = e["group"]
            print(f"{group}:")
        where = f"  ({e['source'].removeprefix('entry point ')})" if e["source"].startswith("entry point") else ""
        if "inputs" not in e:
            print(f"  {e['name']}{where}  ERROR {e.get('error', '')}")
            continue
        desc = f"  -- {e['description']}" if e.get("description") else ""
        print(f"  {e['name']}{where}{desc}")
        print(f"      in:  {_ports_text(e['inputs'])}")
        print(f"      out: {_ports_text(e['outputs'])}")
    return EXIT_OK
