"""The module contract: a class with typed ports, parameters in `__init__`, and `run(**inputs) -> dict`.

A plain function becomes a module with the `module` decorator (`function.py`). What engines need
to place and batch a module (`batchable`, `run_batch`, `resources`) is declared on the class and
may be overridden per node in the graph file (`batch:`, `resources:`, `deploy:`; see `node_options.py`).
"""
from __future__ import annotations

import functools
import inspect
import typing
from typing import Any, Callable, ClassVar, Mapping

from .ports import Port


class Module:
    """Base class of every node.

    Ports are declared on the class, parameters arrive in `__init__` from the graph file,
    `run` receives inputs as keyword arguments and returns a dict with exactly the declared outputs.
    An input whose `run` parameter has a default is optional.

    >>> class AddOne(Module):
    ...     inputs = {"x": Port("int")}
    ...     outputs = {"y": Port("int")}
    ...     def run(self, x):
    ...         return {"y": x + 1}
    >>> AddOne().run(x=1)
    {'y': 2}
    """

    inputs: ClassVar[Mapping[str, Port]] = {}
    outputs: ClassVar[Mapping[str, Port]] = {}
    #: set False for modules whose outputs must not be checked at run time (e.g. legacy adapters)
    check_outputs: ClassVar[bool] = True
    #: True when `run_batch` really batches (one model call for many inputs): only then may a graph
    #: file give the node `batch:` (concurrent runs grouped by `core.batching.Batcher`)
    batchable: ClassVar[bool] = False
    #: what one instance needs, for engines placing it: num_cpus (float), num_gpus (float),
    #: memory_mb (int), needs_processes (bool: holds the GIL, so threads cannot run it in parallel).
    #: Missing keys take `RESOURCE_DEFAULTS`; a graph file's `resources:` overrides them per node.
    resources: ClassVar[Mapping[str, Any]] = {}
    #: output -> input: that output carries the attributes arriving at that input (a filter's `wav`
    #: keeps the rate of the `wav` it was given); what `port_attrs` does unless overridden
    attrs_through: ClassVar[Mapping[str, str]] = {}

    def attach(self, session: Any) -> None:
        """Called once by the Session that will run this module, after `__init__` and before
        `setup`. A module that runs a graph of its own makes its inner Session here, with
        `session.sub_session(graph)`, so that it shares the outer Session's options."""

    def setup(self) -> None:
        """Heavy one-time set-up (load a model); called once by the Session after `__init__`."""

    def run(self, **inputs: Any) -> dict[str, Any]:
        if type(self).run_batch is not Module.run_batch:  # a module written as run_batch alone
            out = self.run_batch([inputs])[0]
            if isinstance(out, BaseException):
                raise out
            return out
        raise NotImplementedError(f"{type(self).__name__}.run is not implemented")

    def run_batch(self, items: list[dict[str, Any]]) -> list[Any]:
        """Outputs for many runs at once: `items` are `run`'s keyword arguments, one dict per run;
        returns one output dict per item, in order.

        A batchable module overrides it with one model call for all items (stacked or padded).
        An item whose input values are wrong fails alone if its slot holds the exception (an
        `InputError`) instead of an output dict; anything raised fails every item of the batch.
        """
        return [self.run(**x) for x in items]

    def runner(self, outputs: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
        """What a Session calls, instead of `run`, where a graph uses only `outputs` of this node.

        It may return only those outputs (or more of the declared ones). Modules that can skip
        work for unused outputs (a nested graph computes only what is fetched) override it; asked
        once per run plan. The Session's run-time check (`check_outputs`) then checks the outputs
        asked for: each present, of its port's type, and no undeclared output. `run` itself (what
        this default returns) must return exactly the declared outputs.
        """
        return self.run

    def close(self) -> None:
        """Release resources; called by `Session.close()`."""

    @classmethod
    def ports(cls, params: Mapping[str, Any]) -> tuple[dict[str, Port], dict[str, Port]]:
        """Input and output ports for these parameters. Override when ports depend on parameters."""
        return dict(cls.inputs), dict(cls.outputs)

    @classmethod
    def port_attrs(cls, params: Mapping[str, Any],
                   in_attrs: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Mapping[str, Any]]:
        """Attributes of outputs, worked out at build time: {output: attrs}.

        `params` are the node's parameters with `__init__` defaults filled in; `in_attrs` holds,
        for every connected input, the attributes arriving there (its source's, with the input's
        own declared ones): empty when nothing is known. The attrs returned for an output are
        merged over those its port declares (a None value drops one); outputs left out keep
        their declared attrs. Values must be int, float or str. Called once per node per build.
        """
        return {out: in_attrs[inp] for out, inp in cls.attrs_through.items() if in_attrs.get(inp)}

    @classmethod
    def optional_inputs(cls, params: Mapping[str, Any]) -> set[str]:
        """Inputs that may stay unconnected: those whose `run` parameter has a default."""
        return set(_defaults(cls.run))

    @classmethod
    def describe(cls) -> str:
        doc = inspect.getdoc(cls) or ""
        return doc.strip().split("\n")[0] if doc else ""

    @classmethod
    def param_problems(cls, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(parameter, problem) pairs for parameters that `__init__` would not accept."""
        return check_params(cls.__init__, params, skip_first=True)


RESOURCE_DEFAULTS: Mapping[str, Any] = {"num_cpus": 1.0, "num_gpus": 0.0, "memory_mb": 0, "needs_processes": False}


@functools.lru_cache(maxsize=4096)
def _defaults(fn: Callable) -> dict[str, Any]:
    # inspect.signature costs tens of microseconds; graphs use the same class many times
    if fn is object.__init__:
        return {}
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {}
    return {n: p.default for n, p in sig.parameters.items() if p.default is not inspect.Parameter.empty}


def init_defaults(cls: type) -> dict[str, Any]:
    """Default values of a class's `__init__` parameters."""
    return _defaults(cls.__init__)


def check_params(fn: Callable, params: Mapping[str, Any], skip_first: bool = False) -> list[tuple[str, str]]:
    """Check `params` against a callable's signature and simple type hints without calling it."""
    if not params and not any(True for _ in _required(fn, skip_first)):
        return []
    if fn is object.__init__:
        return [(k, "unknown parameter (the module takes no parameters)") for k in params]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    plist = list(sig.parameters.values())[1 if skip_first else 0:]
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    named = {p.name: p for p in plist if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    has_varkw = any(p.kind == p.VAR_KEYWORD for p in plist)
    out = []
    for k, v in params.items():
        if k not in named:
            if not has_varkw:
                accepted = ", ".join(named) or "none"
                out.append((k, f"unknown parameter (accepted: {accepted})"))
            continue
        if k in hints and not _value_fits(v, hints[k]):
            out.append((k, f"expected {_hint_name(hints[k])}, got {type(v).__name__} {v!r}"))
    for name, p in named.items():
        if p.default is p.empty and name not in params:
            out.append((name, "required parameter missing"))
    return out


@functools.lru_cache(maxsize=4096)
def _required(fn: Callable, skip_first: bool) -> tuple[str, ...]:
    if fn is object.__init__:
        return ()
    try:
        plist = list(inspect.signature(fn).parameters.values())[1 if skip_first else 0:]
    except (TypeError, ValueError):
        return ()
    return tuple(p.name for p in plist if p.default is p.empty
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def _value_fits(v: Any, hint: Any) -> bool:
    """Loose check of a value against a type hint; unknown hint shapes are accepted."""
    if hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        return any(_value_fits(v, a) for a in typing.get_args(hint))
    if origin is typing.Literal:
        return v in typing.get_args(hint)
    if hint is type(None):
        return v is None
    target = origin or hint
    if not isinstance(target, type):
        return True
    if target is float:
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if target is int:
        return isinstance(v, int) and not isinstance(v, bool)
    if target in (list, tuple, typing.Sequence):
        return isinstance(v, (list, tuple))
    try:
        return isinstance(v, target)
    except TypeError:
        return True


def _hint_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
