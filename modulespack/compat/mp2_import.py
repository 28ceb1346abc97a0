"""modulespack2's ``module`` package, for the module files of a module folder only.

Original modulespack2 module files start with::

    from module import Module, ModuleDesc, InputDesc, OutputDesc

where ``module`` was modulespack2's own package. A module folder (its ``ModuleLibPath``, or a
graph's ``module_paths``) holds such files unchanged. Putting a ``module`` into ``sys.modules``
while they are imported would replace a user's own package of that name for every thread of the
process during that time, and the files' later (lazy) imports would miss it. So nothing global is
touched: each folder file runs with its own builtins, whose ``__import__`` answers

* ``from module import X, ...`` (or ``from module.base``, ``module.group``, ``module.module_desc``,
  mp2's files of that package) with modulespack2's names when every X is one of them
  (`API`, or ``*``); other names come from a real package named ``module``, as before;
* a bare ``import module`` with modulespack2's package only when no package of that name exists;
* ``import add`` / ``from add import add``, where ``add.py`` is a file of the importing file's
  folder, with that file, loaded and prepared as the registry loads folder files (under the same
  private name, so each file runs once, whether the registry or a sibling loads it first), at
  import and at run time, without touching ``sys.path``. modulespack2 had the folder on
  ``sys.path``, so its files shadow packages of the same name for the folder's files only.

Everything else is the normal import. The core registry calls `prepare` (through
`modulespack.core.registry.PREPARERS`) on each folder file before it runs.
"""
from __future__ import annotations

import builtins
import importlib.util
import sys
import threading
import types
from pathlib import Path
from typing import Any

from . import module as _mp2

#: the names of modulespack2's `module` package
API = ("Module", "ProxyModule", "ModuleFactory", "Modules", "ModuleDesc", "InputDesc", "OutputDesc")
#: its files, whose names were importable as `module.<file>`
SUBMODULES = ("base", "group", "module_desc")

_made: dict[str, Any] = {}
_lock = threading.Lock()


def package() -> types.ModuleType:
    """modulespack2's `module` package, made of modulespack.compat's classes (never in sys.modules)."""
    pkg = _made.get("package")
    if pkg is None:
        pkg = types.ModuleType("module", "modulespack2's `module` package, as modulespack.compat provides it "
                                         "to the files of module folders")
        for name in API:
            setattr(pkg, name, getattr(_mp2, name))
        pkg.__all__ = list(API)
        for sub in SUBMODULES:  # mp2 spread these names over three files; one namespace serves them all
            setattr(pkg, sub, pkg)
        _made["package"] = pkg
    return pkg


def _answer(name: str, fromlist: Any) -> types.ModuleType | None:
    parts = name.split(".")
    if parts[0] != "module" or any(p not in SUBMODULES for p in parts[1:]):
        return None
    if fromlist:
        return package() if all(n == "*" or n in API for n in fromlist) else None
    if "module" in sys.modules or importlib.util.find_spec("module") is not None:
        return None  # `import module` of a user's own package of that name
    return package()


#: a folder file's path -> its folder and the names its sibling files are imported by
_folders: dict[str, tuple[Path, frozenset[str]]] = {}
#: sibling files being run now (other threads wait for them rather than see half a module)
_running: set[str] = set()


def _sibling(name: str, globals: Any) -> types.ModuleType | None:
    file = globals.get("__file__") if isinstance(globals, dict) else None
    if not file:
        return None
    known = _folders.get(file)
    if known is None:
        folder = Path(file).resolve().parent
        known = _folders[file] = (folder, frozenset(p.stem for p in folder.glob("*.py") if p.stem != "__init__"))
    folder, stems = known
    top, dot, _ = name.partition(".")
    if top not in stems:
        return None
    if dot:
        raise ModuleNotFoundError(f"No module named '{name}'; '{top}' ({folder / top}.py) is not a package",
                                  name=name)
    return _load_sibling(folder, top)


def _load_sibling(folder: Path, stem: str) -> types.ModuleType:
    from ..core.registry import _FOLDER_LOCK, PREPARERS, folder_module_name

    modname = folder_module_name(folder, stem)
    mod = sys.modules.get(modname)
    if mod is not None and modname not in _running:
        return mod
    # the registry's lock: it runs folder files under it, and a file may import siblings
    with _FOLDER_LOCK:
        mod = sys.modules.get(modname)
        if mod is not None:  # loaded, or (re-entered from its own imports) a circular import
            return mod
        spec = importlib.util.spec_from_file_location(modname, folder / f"{stem}.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        for prep in PREPARERS:
            prep(mod)
        sys.modules[modname] = mod  # as the registry does: dataclasses and pickling look here
        _running.add(modname)
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[modname]
            raise
        finally:
            _running.discard(modname)
    return mod


def _import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level == 0:
        if name.startswith("module"):
            found = _answer(name, fromlist)
            if found is not None:
                return found
        found = _sibling(name, globals)
        if found is not None:
            return found
    return builtins.__import__(name, globals, locals, fromlist, level)


def _builtins() -> dict[str, Any]:
    b = _made.get("builtins")
    if b is None:
        with _lock:
            b = _made.get("builtins")
            if b is None:
                b = _made["builtins"] = {**vars(builtins), "__import__": _import}
    return b


def prepare(mod: types.ModuleType) -> None:
    """Give a module-folder file, before it runs, the builtins that answer `from module import ...`."""
    mod.__builtins__ = _builtins()  # type: ignore[attr-defined]


def register_preparer() -> None:
    """Let core registries give module-folder files modulespack2's `module` (idempotent)."""
    from ..core.registry import PREPARERS

    if prepare not in PREPARERS:
        PREPARERS.append(prepare)
