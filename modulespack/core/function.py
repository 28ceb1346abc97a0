"""A plain function as a module: `@module` reads ports from its type hints and arguments."""
from __future__ import annotations

import inspect
import typing
from typing import Any, Callable, Mapping

from .module import Module
from .ports import PY_KINDS, Port
from .registry import default_registry


def _hint_port(hint: Any) -> Port:
    if isinstance(hint, Port):
        return hint
    if typing.get_origin(hint) is typing.Annotated:
        for extra in typing.get_args(hint)[1:]:
            if isinstance(extra, Port):
                return extra
        hint = typing.get_args(hint)[0]
    if isinstance(hint, type):
        for kind, types in PY_KINDS.items():
            if hint is types[0]:
                return Port(kind)
        try:
            return Port(hint)
        except ValueError:
            return Port()
    return Port()


def module(fn: Callable | None = None, *, outputs: Any = None, inputs: Mapping[str, Port] | None = None,
           name: str | None = None, batchable: bool = False, resources: Mapping[str, Any] | None = None) -> Any:
    """Make a plain function a Module class.

    Positional-or-keyword arguments become inputs (typed from hints, optional if they have a
    default); keyword-only arguments become parameters set in the graph file. `outputs` is a
    name, a list of names (the function returns a tuple) or a dict of Ports; by default one output `out`.
    `resources` sets the class's `resources` (see `Module`).

    With `batchable=True` the function takes a batch: each input argument is a list (one value per
    run; ports and hints still describe one value) and it returns a list with one result per run,
    each as the function would return for one run (or an exception failing that run alone).

    >>> @module(outputs={"y": Port("int")})
    ... def add(x: int, *, k: int = 1):
    ...     return x + k
    >>> add(k=2).run(x=1)
    {'y': 3}
    """
    def wrap(f: Callable) -> type[Module]:
        sig = inspect.signature(f)
        try:
            hints = typing.get_type_hints(f, include_extras=True)
        except Exception:
            hints = {}
        in_ports: dict[str, Port] = {}
        optional: set[str] = set()
        param_names: list[str] = []
        for p in sig.parameters.values():
            if p.kind == p.KEYWORD_ONLY:
                param_names.append(p.name)
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.POSITIONAL_ONLY):
                in_ports[p.name] = (inputs or {}).get(p.name) or _hint_port(hints.get(p.name))
                if p.default is not p.empty:
                    optional.add(p.name)
        if outputs is None:
            out_ports = {"out": _hint_port(hints.get("return"))}
        elif isinstance(outputs, str):
            out_ports = {outputs: _hint_port(hints.get("return"))}
        elif isinstance(outputs, Mapping):
            out_ports = {k: Port.from_spec(v) for k, v in outputs.items()}
        else:
            out_ports = {k: Port() for k in outputs}
        out_names = tuple(out_ports)
        single = out_names[0] if len(out_names) == 1 else None
        params_sig = inspect.Signature([sig.parameters[n] for n in param_names])

        def __init__(self, **params):
            bound = params_sig.bind(**params)
            bound.apply_defaults()
            self._params = dict(bound.arguments)

        __init__.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD), *params_sig.parameters.values()])
        __init__.__annotations__ = {n: hints[n] for n in param_names if n in hints}

        def as_outputs(r):
            if single is not None:
                return {single: r}
            return r if isinstance(r, dict) else dict(zip(out_names, r))

        if batchable:
            defaults = {n: p.default for n, p in sig.parameters.items() if n in optional}

            def run_batch(self, items):
                cols = {n: [x[n] if n in x else defaults[n] for x in items] for n in in_ports}
                return [r if isinstance(r, BaseException) else as_outputs(r) for r in f(**cols, **self._params)]
            methods = {"run_batch": run_batch}
        elif single is not None:
            def run(self, **kw):
                return {single: f(**kw, **self._params)}
            methods = {"run": run}
        else:
            def run(self, **kw):
                return as_outputs(f(**kw, **self._params))
            methods = {"run": run}

        cls = type(f.__name__, (Module,), {
            "__init__": __init__, **methods, "inputs": in_ports, "outputs": out_ports,
            "batchable": bool(batchable), "resources": dict(resources or {}),
            "__doc__": f.__doc__, "__module__": f.__module__, "__qualname__": f.__qualname__,
            "optional_inputs": classmethod(lambda c, params: set(optional)),
            "function": staticmethod(f),
        })
        if name:
            default_registry.register(cls, name)
        return cls

    return wrap(fn) if fn is not None else wrap
