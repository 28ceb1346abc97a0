"""The modulespack2 module API, and the adapter that makes its modules core Modules.

A modulespack2 ("mp2") module, as written in its ``ModuleLib`` folder::

    import numpy as np
    from modulespack.compat import Module, ModuleDesc, InputDesc, OutputDesc

    class add(Module):
        @staticmethod
        def make_module_description():
            return ModuleDesc({"x1": InputDesc(np.float32, (None,)), "x2": InputDesc(np.float32, (None,))},
                              {"y": OutputDesc(np.float32, (None,))})

        @staticmethod
        def run(inputs):
            return {"y": inputs["x1"] + inputs["x2"]}

Such a class is found by a core `Registry` (its folder is the mp2 ``ModuleLibPath``) or registered
with `Registry.register`; `adapt` (added to `modulespack.core.registry.ADAPTERS` when
`modulespack.compat` is imported) turns it into a core `Module` subclass:

* one mp2 instance is made per node, with no arguments, as mp2 did (``module()``); graph files
  give mp2 modules no parameters;
* ``run(**inputs)`` hands the inputs to the mp2 ``run(inputs)`` as one dict (a fresh dict per
  call, so concurrent runs share nothing) and returns its dict; a staticmethod, classmethod or
  plain method ``run`` all work;
* ports come from ``make_module_description()``. mp2 never checked values against them at run
  time: it fed Python ints to ``np.float32`` ports and ``{"x2": 8}`` constants to any port. So
  the adapted class's ``inputs``/``outputs`` (what the core checks feeds, constants and edges
  against) are all ``Port("any")``, each with the declared type in its ``doc``, and
  ``check_outputs`` is False. The declared types, mapped to core Ports for display, are kept in
  ``declared_inputs``/``declared_outputs`` (a dtype the core does not know, such as
  ``'HttpRequest'``, becomes ``"any"``), and the mp2 description itself in ``mp2_description``.
  What mp2 did check, that the two ends of every edge are described alike (its ``CheckDesc``),
  `modulespack.compat.Session.build_graph` checks once at build time (`desc_mismatches`);
* the adapted class keeps the mp2 class's name, module and docstring (or, when the class has
  none, its file's docstring), and ``mp2_class`` points back at it. Adapting the same class twice gives the same class.
"""
from __future__ import annotations

import inspect
import sys
import threading
from collections import namedtuple
from collections.abc import Mapping
from typing import Any, Callable, ClassVar

from ..core.module import Module as CoreModule
from ..core.ports import ANY, Port, normalise_dtype
from ..core.registry import ADAPTERS

__all__ = ["InputDesc", "OutputDesc", "ModuleDesc", "Module", "ProxyModule", "ModuleFactory", "Modules",
           "LegacyModule", "adapt", "mp2_dtype", "desc_key"]


class InputDesc(namedtuple("InputDescTuple", ["datatype", "datashape"])):
    """Metadata about one input of a module: its data type and shape (``(None,)`` if unknown).

    >>> InputDesc(datatype="np.float32", datashape=[None, 26])
    InputDesc(datatype='np.float32', datashape=(None, 26))
    """

    __slots__ = ()

    def __new__(cls, datatype: Any, datashape: Any):
        return super().__new__(cls, datatype, tuple(datashape))  # a tuple, so the desc is hashable


class OutputDesc(namedtuple("OutputDescTuple", ["datatype", "datashape"])):
    """Metadata about one output of a module: its data type and shape (``(None,)`` if unknown)."""

    __slots__ = ()

    def __new__(cls, datatype: Any, datashape: Any):
        return super().__new__(cls, datatype, tuple(datashape))


class ModuleDesc:
    """A module's description: ``{name: InputDesc}`` and ``{name: OutputDesc}``."""

    def __init__(self, InputDesc: Mapping[str, Any], OutputDesc: Mapping[str, Any]):  # noqa: N803 (mp2 names)
        if InputDesc is None:
            raise ValueError("InputDesc can't be None")
        if OutputDesc is None:
            raise ValueError("OutputDesc can't be None")
        self.inputDesc = InputDesc
        self.outputDesc = OutputDesc

    def get_inputs_desc(self) -> Mapping[str, Any]:
        """The inputs: name -> InputDesc."""
        return self.inputDesc

    def get_outputs_desc(self) -> Mapping[str, Any]:
        """The outputs: name -> OutputDesc."""
        return self.outputDesc

    def input_names(self) -> list[str]:
        return list(self.inputDesc.keys())

    def output_names(self) -> list[str]:
        return list(self.outputDesc.keys())

    def __repr__(self) -> str:
        return f"ModuleDesc({dict(self.inputDesc)!r}, {dict(self.outputDesc)!r})"


class Module:
    """Base class of modulespack2 modules: override `make_module_description` and `run`."""

    @staticmethod
    def make_module_description() -> ModuleDesc:
        """Return the module's `ModuleDesc` (usually a staticmethod)."""
        raise NotImplementedError("override make_module_description() in your subclass and return a ModuleDesc")

    @staticmethod
    def run(inputs: dict) -> dict:
        """Take a dict of inputs (named as in the description), return a dict of outputs."""
        raise NotImplementedError("override run() in your subclass")

    def __str__(self) -> str:
        return type(self).__name__

    @property
    def name(self) -> str:
        return type(self).__name__


class ProxyModule(Module):
    """A module that proxies another one (a base for decorating modules), as in mp2."""

    def __init__(self, cb: Module, *args: Any, **kwargs: Any):
        if not isinstance(cb, Module):
            raise TypeError(f"ProxyModule wraps a Module, not {type(cb).__name__}")
        self.cb = cb

    def make_module_description(self) -> ModuleDesc:
        return self.cb.make_module_description()

    def run(self, inputs: dict) -> dict:
        return self.cb.run(inputs)

    def __str__(self) -> str:
        return "Proxy-" + str(self.cb)


class ModuleFactory(Module):
    """A module made from two functions, as in mp2.

    ``make_module_description(self)`` receives the factory; ``run(inputs)`` receives the inputs.
    Register an instance: ``registry.register(ModuleFactory(desc_fn, run_fn), "name")``.
    """

    def __init__(self, make_module_description: Callable[[Any], ModuleDesc] | None = None,
                 run: Callable[[dict], dict] | None = None):
        self._cb_make_module_description = make_module_description
        self._cb_run = run

    def make_module_description(self) -> ModuleDesc | None:  # type: ignore[override]
        if self._cb_make_module_description:
            return self._cb_make_module_description(self)
        return None

    def run(self, inputs: dict) -> dict | None:  # type: ignore[override]
        if self._cb_run:
            return self._cb_run(inputs)
        return None


class Modules(Module):
    """A container of Module instances, as in mp2 (its ``module/group.py``); runs nothing itself."""

    def __init__(self, modules: list):
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"Modules holds Module instances, not {type(m).__name__}")
        self.modules = modules

    def get_modules(self) -> list:
        return self.modules


# --- types -------------------------------------------------------------------------------------

_DTYPE_WORDS = {"string": "str", "{}": "dict", "dict": "dict", "[]": "list", "list": "list"}


def mp2_dtype(datatype: Any) -> str:
    """The core dtype name for an mp2 ``datatype`` (``np.float32``, ``'np.int32'``, ``'string'``...), or "any".

    >>> mp2_dtype("np.float32"), mp2_dtype(float), mp2_dtype("string"), mp2_dtype("HttpRequest")
    ('float32', 'float', 'str', 'any')
    """
    if isinstance(datatype, str):
        word = datatype.strip()
        for prefix in ("numpy.", "np."):
            if word.startswith(prefix):
                word = word[len(prefix):]
        word = _DTYPE_WORDS.get(word, word)
        datatype = word
    try:
        return normalise_dtype(datatype)
    except (ValueError, TypeError):
        return ANY


def _shape(datashape: Any) -> tuple | None:
    try:
        shape = tuple(datashape)
    except TypeError:
        return None
    if all(d is None or (isinstance(d, (int, str)) and not isinstance(d, bool)) for d in shape):
        return shape
    return None


def declared_port(desc: Any) -> Port:
    """The core Port an InputDesc/OutputDesc declares (for display; not enforced)."""
    dtype = mp2_dtype(desc[0])
    try:
        return Port(dtype, _shape(desc[1]))
    except ValueError:
        return Port(dtype)


def desc_key(desc: Any) -> tuple:
    """What mp2's CheckDesc compared, with dtype spellings unified (np.float32 == 'np.float32').

    A datatype the core does not know (``'HttpRequest'``) is compared as written.
    """
    dtype = mp2_dtype(desc[0])
    if dtype == ANY:
        dtype = desc[0] if isinstance(desc[0], str) else repr(desc[0])
    try:
        shape = tuple(desc[1])
    except TypeError:
        shape = desc[1]
    return dtype, shape


def _describe_desc(desc: Any) -> str:
    dt = desc[0]
    name = dt if isinstance(dt, str) else getattr(dt, "__name__", repr(dt))
    return f"modulespack2: {name} {tuple(desc[1]) if _shape(desc[1]) is not None else desc[1]!r}"


def _check_desc(desc: Any, owner: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    if not (hasattr(desc, "get_inputs_desc") and hasattr(desc, "get_outputs_desc")):
        raise TypeError(f"{owner}.make_module_description() must return a ModuleDesc, "
                        f"returned {type(desc).__name__}")
    ins, outs = desc.get_inputs_desc(), desc.get_outputs_desc()
    for what, table in (("inputs", ins), ("outputs", outs)):
        if not isinstance(table, Mapping):
            raise TypeError(f"{owner}: the {what} of its ModuleDesc must be a dict name -> "
                            f"{'InputDesc' if what == 'inputs' else 'OutputDesc'}, not {type(table).__name__}")
        for k, d in table.items():
            if not isinstance(d, tuple) or len(d) != 2:
                raise TypeError(f"{owner}: {what[:-1]} '{k}' must be described by "
                                f"{'InputDesc' if what == 'inputs' else 'OutputDesc'}(datatype, datashape), "
                                f"not {d!r}")
    return ins, outs


# --- the adapter -------------------------------------------------------------------------------

class LegacyModule(CoreModule):
    """Base of the core Module classes made from modulespack2 modules (see the module docstring)."""

    check_outputs = False
    mp2_class: ClassVar[type | None] = None
    mp2_description: ClassVar[Any] = None
    declared_inputs: ClassVar[dict[str, Port]] = {}
    declared_outputs: ClassVar[dict[str, Port]] = {}
    _mp2_make: ClassVar[Callable[[], Any]]
    _lock: ClassVar[threading.Lock]
    _described: ClassVar[bool] = False

    def __init__(self) -> None:
        self.mp2 = type(self)._mp2_make()

    def run(self, **inputs: Any) -> dict[str, Any]:
        out = self.mp2.run(inputs)
        if not isinstance(out, Mapping):
            raise TypeError(f"modulespack2 module {type(self).__name__}.run() must return a dict-like object, "
                            f"returned {type(out).__name__}")
        return out  # type: ignore[return-value]

    @classmethod
    def describe_mp2(cls) -> Any:
        """The mp2 ModuleDesc; fills in the ports the first time (instantiating if it needs `self`)."""
        if not cls._described:
            with cls._lock:
                if not cls._described:
                    target = cls.mp2_class
                    if target is None or not _static_desc(target):
                        target = cls._mp2_make()
                    desc = target.make_module_description()
                    ins, outs = _check_desc(desc, cls.__name__)
                    cls.mp2_description = desc
                    cls.inputs = {k: Port(ANY, doc=_describe_desc(d)) for k, d in ins.items()}
                    cls.outputs = {k: Port(ANY, doc=_describe_desc(d)) for k, d in outs.items()}
                    cls.declared_inputs = {k: declared_port(d) for k, d in ins.items()}
                    cls.declared_outputs = {k: declared_port(d) for k, d in outs.items()}
                    cls._described = True
        return cls.mp2_description

    @classmethod
    def ports(cls, params: Mapping[str, Any]) -> tuple[dict[str, Port], dict[str, Port]]:
        cls.describe_mp2()
        return dict(cls.inputs), dict(cls.outputs)


def _static_desc(cls: type) -> bool:
    """Can make_module_description be called on the class itself (staticmethod or classmethod)?"""
    try:
        raw = inspect.getattr_static(cls, "make_module_description")
    except AttributeError:
        return False
    return isinstance(raw, (staticmethod, classmethod))


_BASES = (Module, ProxyModule, ModuleFactory, Modules)
_cache: dict[Any, type[LegacyModule]] = {}
_cache_lock = threading.Lock()


def adapt(obj: Any) -> type[LegacyModule] | None:
    """The core Module class for an mp2 Module class or instance (e.g. a ModuleFactory), else None."""
    if inspect.isclass(obj):
        if not issubclass(obj, Module) or obj in _BASES:
            return None
    elif not isinstance(obj, Module):
        return None
    try:
        hit = _cache.get(obj)
    except TypeError:  # unhashable instance
        hit = None
    if hit is not None:
        return hit
    with _cache_lock:
        hit = _cache.get(obj)
        if hit is None:
            hit = _make_class(obj)
            try:
                _cache[obj] = hit
            except TypeError:
                pass
    return hit


def _make_class(obj: Any) -> type[LegacyModule]:
    if inspect.isclass(obj):
        cls_obj, make = obj, obj
        name = obj.__name__
    else:
        cls_obj = None
        name = type(obj).__name__
        make = lambda obj=obj: obj  # noqa: E731  (one shared instance, as registered)
    src = cls_obj or type(obj)
    doc = inspect.getdoc(src) if src.__doc__ else None
    if not doc and cls_obj is not None:  # mp2 modules documented their file rather than their class
        doc = inspect.getdoc(sys.modules.get(src.__module__)) if src.__module__ in sys.modules else None
    adapted = type(name, (LegacyModule,), {
        "__doc__": doc or f"modulespack2 module {name}",
        "__module__": src.__module__,
        "__qualname__": getattr(src, "__qualname__", name),
        "mp2_class": cls_obj,
        "_mp2_make": staticmethod(make),
        "_lock": threading.Lock(),
        "inputs": {},
        "outputs": {},
    })
    try:  # the usual case (a staticmethod description): ports are known at once
        if cls_obj is not None and _static_desc(cls_obj):
            adapted.describe_mp2()
    except Exception:
        pass  # reported when a graph is built with it ("cannot determine ports")
    return adapted  # type: ignore[return-value]


def register_adapter() -> None:
    """Let core registries accept mp2 module classes (idempotent)."""
    if adapt not in ADAPTERS:
        ADAPTERS.append(adapt)
