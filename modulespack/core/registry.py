"""Finding module classes: registered short names, folders of .py files, entry points, dotted paths."""
from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.util
import inspect
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from .module import Module

ENTRY_POINT_GROUP = "modulespack.modules"
BROKEN = "<files that failed to import>"  # key in a folder's table; never a valid module name

#: Functions turning a foreign class (e.g. a modulespack2 module) into a Module class, or None.
#: compat/ adds its adapter here so that core does not need to know the old API.
ADAPTERS: list[Callable[[Any], type[Module] | None]] = []

#: Called with each module object of a module folder before its file runs. compat/ gives
#: modulespack2 files their `from module import Module, ...` this way, inside those files only.
PREPARERS: list[Callable[[Any], None]] = []


def as_module_class(obj: Any) -> type[Module] | None:
    if inspect.isclass(obj) and issubclass(obj, Module) and obj is not Module:
        return obj
    for adapt in ADAPTERS:
        cls = adapt(obj)
        if cls is not None:
            return cls
    return None


class Registry:
    """Where module names in graph files are looked up.

    Lookup order: names registered in this registry, then modules in the folders given as
    `paths` (each `.py` file; a class is found by its class name or, when the file holds one
    module class, by the file's stem), then the `modulespack.modules` entry points of installed
    packages, then a dotted path `package.module:Class` or `package.module.Class`.

    >>> reg = Registry(paths=["examples/modules"])           # doctest: +SKIP
    >>> reg.resolve("flite")                                   # doctest: +SKIP
    """

    def __init__(self, paths: Iterable[str | Path] = (), parent: "Registry | None" = None,
                 use_entry_points: bool = True):
        self.paths = [Path(p) for p in paths]
        self.parent = parent
        self.use_entry_points = use_entry_points
        self._names: dict[str, type[Module]] = {}
        self._folder_cache: dict[Path, dict[str, type[Module]]] = {}
        self._lock = threading.Lock()

    def register(self, cls: Any, name: str | None = None) -> Any:
        """Register a module class under a short name (default: its class name). Usable as a decorator."""
        if isinstance(cls, str):
            return lambda c: self.register(c, cls)
        mcls = as_module_class(cls)
        if mcls is None:
            raise TypeError(f"{cls!r} is not a Module class")
        name = name or getattr(cls, "__name__", None)
        if not name:
            raise TypeError(f"register({cls!r}) needs a name")
        self._names[name] = mcls
        return cls

    def child(self, paths: Iterable[str | Path] = ()) -> "Registry":
        """A registry that adds folders and falls back on this one."""
        return Registry(paths, parent=self, use_entry_points=False) if paths else self

    def resolve(self, ref: str) -> type[Module]:
        """The module class for a name; raises LookupError saying where it looked."""
        cls = self._lookup(ref)
        if cls is None:
            raise LookupError(self._not_found(ref))
        return cls

    def _lookup(self, ref: str) -> type[Module] | None:
        if ref in self._names:
            return self._names[ref]
        for folder in self.paths:
            found = self._folder(folder).get(ref)
            if found is not None:
                return found
        if self.parent is not None:
            found = self.parent._lookup(ref)
            if found is not None:
                return found
        if self.use_entry_points:
            found = _entry_point(ref)
            if found is not None:
                return found
        if self.parent is None and ("." in ref or ":" in ref):
            return _dotted(ref)
        return None

    def _not_found(self, ref: str) -> str:
        looked = ["registered names"]
        reg: Registry | None = self
        while reg is not None:
            looked += [f"folder {p}" for p in reg.paths]
            reg = reg.parent
        looked.append(f"entry points '{ENTRY_POINT_GROUP}'")
        broken = {}
        reg = self
        while reg is not None:
            for p in reg.paths:
                broken.update({str(p / f): err for f, err in reg._folder(p).get(BROKEN, {}).items()})
            reg = reg.parent
        try:
            names = list(self.available())
        except LookupError:
            names = []
        close = difflib.get_close_matches(ref, names, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        bad = "".join(f"; cannot import module file {f}: {err}" for f, err in broken.items())
        return f"unknown module '{ref}' (looked in {', '.join(looked)} and dotted paths){hint}{bad}"

    def available(self) -> dict[str, type[Module] | str]:
        """Every name this registry can resolve without a dotted path (entry points not loaded)."""
        out: dict[str, Any] = {}
        if self.parent is not None:
            out.update(self.parent.available())
        if self.use_entry_points:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                out.setdefault(ep.name, ep.value)
        for folder in self.paths:
            out.update({k: v for k, v in self._folder(folder).items() if k != BROKEN})
        out.update(self._names)
        return out

    def _folder(self, folder: Path) -> dict[str, type[Module]]:
        key = folder.resolve()
        with self._lock:
            if key not in self._folder_cache:
                self._folder_cache[key] = _load_folder(key)
            return self._folder_cache[key]


def _load_folder(folder: Path) -> dict[str, type[Module]]:
    """Import every .py file of a folder under a private name.

    The folder is on sys.path only while its files execute, so modules there can import their
    siblings (as modulespack2's ModuleLib did) without the edit outliving this call.
    """
    if not folder.is_dir():
        raise LookupError(f"module folder {folder} does not exist")
    found: dict[str, Any] = {}
    broken: dict[str, str] = {}
    with _FOLDER_LOCK:  # sys.path is process-wide: one folder at a time
        before = set(sys.modules)
        sys.path.insert(0, str(folder))
        try:
            _exec_folder(folder, found, broken)
        finally:
            try:
                sys.path.remove(str(folder))
            except ValueError:
                pass
            # siblings imported by bare name (helper_lib) would otherwise shadow another folder's
            # file of the same name; the modules that imported them keep their references
            for name in set(sys.modules) - before:
                f = getattr(sys.modules[name], "__file__", None) or ""
                if not name.startswith("_modulespack_lib_") and Path(f).resolve().parent == folder:
                    del sys.modules[name]
    if broken:
        found[BROKEN] = broken
    return found


def folder_module_name(folder: Path, stem: str) -> str:
    """The private sys.modules name of the file `stem`.py of the (resolved) module folder `folder`."""
    return f"_modulespack_lib_{hashlib.sha1(str(folder).encode()).hexdigest()[:10]}_{stem}"


def _exec_folder(folder: Path, found: dict[str, Any], broken: dict[str, str]) -> None:
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        modname = folder_module_name(folder, path.stem)
        mod = sys.modules.get(modname)
        if mod is None:
            spec = importlib.util.spec_from_file_location(modname, path)
            assert spec and spec.loader
            mod = importlib.util.module_from_spec(spec)
            for prepare in PREPARERS:
                prepare(mod)
            sys.modules[modname] = mod  # dataclasses and pickling look classes up here
            try:
                spec.loader.exec_module(mod)
            except Exception as e:
                # one broken file must not hide the rest of the folder; its error is shown
                # when a name is not found
                del sys.modules[modname]
                broken[path.name] = f"{type(e).__name__}: {e}"
                continue
        classes = {}
        for attr, obj in vars(mod).items():
            if inspect.isclass(obj) and getattr(obj, "__module__", None) == modname:
                cls = as_module_class(obj)
                if cls is not None:
                    classes[attr] = cls
        found.update(classes)
        if len(classes) == 1:
            found.setdefault(path.stem, next(iter(classes.values())))


def entry_points(**kw):
    # importlib.metadata costs ~35 ms to import; only graphs that name an unknown module pay it
    from importlib.metadata import entry_points as eps
    return eps(**kw)


def _entry_point(ref: str) -> type[Module] | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=ref):
        try:
            return as_module_class(ep.load())
        except Exception as e:
            raise LookupError(f"module '{ref}' from entry point {ep.value} failed to import: "
                              f"{type(e).__name__}: {e}") from e
    return None


def _dotted(ref: str) -> type[Module] | None:
    if ":" in ref:
        modname, _, attr = ref.partition(":")
    else:
        modname, _, attr = ref.rpartition(".")
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        if e.name and modname.startswith(e.name):
            return None
        raise LookupError(f"module '{ref}': importing {modname} failed: {e}") from e
    obj = mod
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    cls = as_module_class(obj)
    if cls is None:
        raise LookupError(f"'{ref}' is not a Module class")
    return cls


_FOLDER_LOCK = threading.RLock()  # re-entrant: a module file may itself load a graph
default_registry = Registry()
register = default_registry.register
