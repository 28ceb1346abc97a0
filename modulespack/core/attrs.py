"""Port attributes at build time: worked out node by node in topological order, checked along every edge.

An attribute (`Port.attrs`: sample rate, frame shift, feature dimension...) set on an output travels
down the graph through the modules that carry it (`Module.port_attrs`), so a disagreement is found
where the two meet, however far apart the nodes that set them are. Each value remembers where it
was set, so the message names the edge and that place.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .module import Module, init_defaults
from .ports import NO_ATTRS, Attrs, Port, attrs_agree
from .spec import Edge, GraphInput

_DEFAULT_HOOK = Module.port_attrs.__func__


def propagate_attrs(nodes: Mapping[str, Any], order: list[str], graph_inputs: Mapping[str, Port | None],
                    problem: Callable[..., None]) -> None:
    """Give each node's outputs the attributes its module works out from what arrives at its
    inputs, and report every edge along which a source and a destination disagree (kind "attrs").

    `nodes` are build's BuiltNodes (their `outputs` are replaced in place), `order` a topological
    order, `graph_inputs` the graph's declared input ports.
    """
    origin: dict[tuple[str, str], dict[str, str]] = {}  # (node, output) -> attr -> where it was set
    for name in order:
        node = nodes[name]
        in_attrs: dict[str, Mapping[str, Any]] = {}
        in_origin: dict[str, dict[str, str]] = {}
        for port, src in node.sources.items():
            dst = node.inputs.get(port)
            if dst is None:
                continue
            if isinstance(src, Edge):
                up = nodes.get(src.node)
                if up is None or src.port not in up.outputs:
                    continue
                have = up.outputs[src.port].attrs
            elif isinstance(src, GraphInput):
                gp = graph_inputs.get(src.name)
                have = gp.attrs if gp else NO_ATTRS
            else:
                have = NO_ATTRS
            if not have and not dst.attrs:
                in_attrs[port] = NO_ATTRS  # connected, nothing known: the common case, kept cheap
                continue
            if isinstance(src, Edge):
                where, set_at = f"{src.node}/{src.port}", origin.get((src.node, src.port), {})
            else:
                where, set_at = f"graph input '{getattr(src, 'name', '')}'", {}
            differ = [k for k, v in have.items() if k in dst.attrs and not attrs_agree(v, dst.attrs[k])]
            if differ:
                came = sorted({set_at.get(k, where) for k in differ} - {where})
                problem(f"attributes differ along {where} -> {name}/{port}: {where} carries {_fmt(have, differ)}"
                        + (f" (set at {', '.join(came)})" if came else "")
                        + f" but {name}/{port} expects {_fmt(dst.attrs, differ)}", name, port, kind="attrs")
            in_attrs[port] = {**dst.attrs, **have} if have else dst.attrs
            in_origin[port] = {**{k: f"{name}/{port}" for k in dst.attrs}, **{k: set_at.get(k, where) for k in have}}
        cls = node.cls
        if getattr(cls.port_attrs, "__func__", None) is _DEFAULT_HOOK and not cls.attrs_through:
            continue  # the common case: nothing to work out, declared attrs stay as they are
        for port, p in node.inputs.items():  # unconnected inputs still tell what they expect
            if port not in in_attrs and p.attrs:
                in_attrs[port], in_origin[port] = p.attrs, {k: f"{name}/{port}" for k in p.attrs}
        try:
            got = cls.port_attrs({**init_defaults(cls), **node.params}, in_attrs) or {}
        except Exception as e:  # a module's own attribute logic failed on these params
            problem(f"cannot work out port attributes: {type(e).__name__}: {e}", name, kind="attrs")
            continue
        for out, attrs in got.items():
            if out not in node.outputs:
                problem(f"{cls.__name__}.port_attrs names no output '{out}' (outputs: {', '.join(node.outputs)})",
                        name, kind="attrs")
                continue
            merged = {k: v for k, v in {**node.outputs[out].attrs, **attrs}.items() if v is not None}
            try:
                node.outputs[out] = node.outputs[out].with_attrs(Attrs(merged))
            except ValueError as e:
                problem(f"{cls.__name__}.port_attrs for output '{out}': {e}", name, out, kind="attrs")
                continue
            origin[(name, out)] = {k: _set_at(k, v, in_attrs, in_origin, f"{name}/{out}") for k, v in merged.items()}


def _fmt(attrs: Mapping[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k}={attrs[k]!r}" for k in keys)


def _set_at(k: str, v: Any, in_attrs: Mapping[str, Mapping[str, Any]], in_origin: Mapping[str, Mapping[str, str]],
            here: str) -> str:
    """Where value `v` of attribute `k` was set: an input's origin when it arrived there unchanged."""
    for port, attrs in in_attrs.items():
        if k in attrs and attrs_agree(attrs[k], v):
            return in_origin[port].get(k, here)
    return here
