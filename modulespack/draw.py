"""Diagrams of graphs: Graphviz DOT, Mermaid flowcharts, and SVG/PNG through the `dot` program.

Graph inputs and outputs are ellipses, nodes are boxes labelled with the node's name and module,
constants are small notes, and edges carry port names (`out -> in`). A node that is a whole graph
file (a nested graph) is drawn as a cluster holding its own inputs, nodes and outputs, recursively;
edges into and out of it attach to the inner graph's input and output ellipses.

Standard library only (the graph classes are imported when a function is called), so the web
layer can import this cheaply:

>>> from modulespack.draw import to_dot, render          # doctest: +SKIP
>>> svg = render(to_dot(session.graph), "svg")            # doctest: +SKIP
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

__all__ = ["GraphvizError", "FORMATS", "port_text", "render", "to_dot", "to_mermaid"]

#: output formats `render` accepts (passed to `dot -T`)
FORMATS = ("svg", "png", "pdf")

#: separator between the node names of nested graphs in timing keys, as in NodeError paths
PATH_SEP = " > "


class GraphvizError(RuntimeError):
    """The `dot` program is missing or failed."""


# --------------------------------------------------------------------------- a neutral view


@dataclass
class _Node:
    name: str
    module: str                      # module name, or the nested graph's file as written
    sources: dict[str, Any]          # port -> Edge | GraphInput | Const
    sub: "_View | None" = None       # the nested graph, when it could be loaded
    note: str = ""                   # e.g. why a nested graph could not be shown


@dataclass
class _View:
    name: str
    inputs: dict[str, str]           # name -> port text ("" if unknown)
    optional: set[str]
    nodes: list[_Node]
    outputs: dict[str, tuple[str, str, str]]   # name -> (node, port, port text)
    file: str = ""


def _core():
    from .core import BuiltGraph, Const, Edge, GraphInput, GraphSpec
    return BuiltGraph, Const, Edge, GraphInput, GraphSpec


def port_text(port: Any) -> str:
    """`float32 [*, 80]` for a Port; '' for a port that takes anything."""
    if port is None:
        return ""
    dtype = getattr(port, "dtype", "any")
    shape = getattr(port, "shape", None)
    text = "" if dtype == "any" else str(dtype)
    if shape:
        dims = ", ".join("*" if d is None else str(d) for d in shape)
        text = f"{text} [{dims}]".strip()
    return text


def _view(graph: Any, stack: tuple = ()) -> _View:
    BuiltGraph, _Const, _Edge, _GraphInput, GraphSpec = _core()
    if isinstance(graph, (str, os.PathLike)):
        from .core import build_graph
        graph = build_graph(graph)
    if isinstance(graph, BuiltGraph):
        return _view_built(graph)
    if isinstance(graph, GraphSpec):
        return _view_spec(graph, stack)
    raise TypeError(f"expected a BuiltGraph, a GraphSpec or a graph file path, not {type(graph).__name__}")


def _view_built(g: Any) -> _View:
    spec = g.spec
    nodes = []
    for ns in spec.nodes:
        bn = g.nodes.get(ns.name)
        if bn is None:
            continue
        sub = _view_built(bn.subgraph) if bn.subgraph is not None else None
        nodes.append(_Node(ns.name, ns.module, dict(bn.sources), sub))
    inputs = {k: port_text(p) for k, p in g.inputs.items()}
    outputs = {k: (e.node, e.port, port_text(g.outputs.get(k))) for k, e in spec.outputs.items()}
    return _View(spec.name, inputs, set(g.optional_inputs), nodes, outputs, str(spec.path or ""))


def _view_spec(spec: Any, stack: tuple) -> _View:
    """A graph as parsed but not built: nested graph files are loaded (not validated) for drawing."""
    from .core import GraphError, Port, load_graph
    me = spec.path.resolve() if spec.path else None
    stack = stack + ((me,) if me else ())
    nodes = []
    for ns in spec.nodes:
        node = _Node(ns.name, ns.module, dict(ns.inputs))
        if ns.is_graph:
            sub_path = (spec.base_dir / ns.module).resolve()
            if sub_path in stack:
                node.note = "includes itself"
            else:
                try:
                    node.sub = _view_spec(load_graph(sub_path), stack)
                except GraphError as e:
                    node.note = f"cannot load: {e.problems[0].message if e.problems else e}"
        nodes.append(node)
    inputs = {}
    for k, p in spec.inputs.items():
        try:
            inputs[k] = port_text(Port.from_spec(p)) if p is not None else ""
        except ValueError:
            inputs[k] = str(p)
    optional = {k for k, p in spec.inputs.items() if isinstance(p, dict) and "default" in p}
    outputs = {k: (e.node, e.port, "") for k, e in spec.outputs.items()}
    return _View(spec.name, inputs, optional, nodes, outputs, str(spec.path or ""))


def _short(value: Any, limit: int = 32) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _ms(timings: Mapping[str, float] | None, key: str) -> str:
    if not timings or key not in timings:
        return ""
    return f"{timings[key] * 1e3:.2f} ms"


# --------------------------------------------------------------------------- DOT


def _q(text: str) -> str:
    """A DOT double-quoted string; '\n' in `text` becomes a centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Any, timings: Mapping[str, float] | None = None) -> str:
    """Graphviz DOT text for a BuiltGraph, a GraphSpec or a graph file path.

    `timings` maps node names to seconds (as `Result.timings` gives them) and shows them in
    milliseconds in the node labels; nodes of nested graphs are keyed `outer > inner`.

    >>> print(to_dot(build_graph("examples/graphs/arith.yaml")))   # doctest: +SKIP
    """
    view = _view(graph)
    lines = [f"digraph {_q(view.name)} {{",
             "  rankdir=LR;",
             '  graph [fontname="Helvetica" fontsize=11 labelloc=t];',
             '  node [fontname="Helvetica" fontsize=11];',
             '  edge [fontname="Helvetica" fontsize=9 color="#555555"];']
    counter = [0]
    _dot_body(view, "", "", timings, lines, "  ", counter)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _ids(prefix: str):
    return (lambda n: prefix + "in:" + n, lambda n: prefix + "n:" + n, lambda n: prefix + "out:" + n)


def _dot_body(view: _View, prefix: str, path: str, timings, lines: list, ind: str, counter: list) -> None:
    in_id, node_id, out_id = _ids(prefix)
    for name, ptext in view.inputs.items():
        label = name + (f"\n{ptext}" if ptext else "")
        style = ' style="dashed"' if name in view.optional else ""
        lines.append(f'{ind}{_q(in_id(name))} [shape=ellipse label={_q(label)} color="#1f6feb"{style}];')
    by_name = {n.name: n for n in view.nodes}

    def tail(src_node: str, port: str) -> str:
        n = by_name.get(src_node)
        if n is not None and n.sub is not None and port in n.sub.outputs:
            return _ids(prefix + src_node + "/")[2](port)
        return node_id(src_node)

    def head(n: _Node, port: str) -> str:
        if n.sub is not None and port in n.sub.inputs:
            return _ids(prefix + n.name + "/")[0](port)
        return node_id(n.name)

    for n in view.nodes:
        key = path + n.name
        ms = _ms(timings, key)
        if n.sub is not None:
            counter[0] += 1
            safe = "".join(c if c.isalnum() else "_" for c in key)
            label = f"{n.name}\ngraph: {n.module}" + (f"\n{ms}" if ms else "")
            lines.append(f"{ind}subgraph {_q(f'cluster_{counter[0]}_{safe}')} {{")
            lines.append(f'{ind}  label={_q(label)}; style="rounded,dashed"; color="#8250df";')
            _dot_body(n.sub, prefix + n.name + "/", key + PATH_SEP, timings, lines, ind + "  ", counter)
            lines.append(f"{ind}}}")
        else:
            label = f"{n.name}\n{n.module}" + (f"\n({n.note})" if n.note else "") + (f"\n{ms}" if ms else "")
            lines.append(f'{ind}{_q(node_id(n.name))} [shape=box style="rounded,filled" fillcolor="#f6f8fa" '
                         f"label={_q(label)}];")
    _BuiltGraph, Const, Edge, GraphInput, _GraphSpec = _core()
    for n in view.nodes:
        for port, src in n.sources.items():
            h = head(n, port)
            if isinstance(src, Edge):
                lines.append(f"{ind}{_q(tail(src.node, src.port))} -> {_q(h)} "
                             f"[label={_q(f'{src.port} -> {port}')}];")
            elif isinstance(src, GraphInput):
                lines.append(f"{ind}{_q(in_id(src.name))} -> {_q(h)} [label={_q(port)}];")
            elif isinstance(src, Const):
                cid = prefix + f"c:{n.name}:{port}"
                lines.append(f'{ind}{_q(cid)} [shape=note fontsize=9 style=filled fillcolor="#fff8c5" '
                             f"label={_q(_short(src.value))}];")
                lines.append(f"{ind}{_q(cid)} -> {_q(h)} [label={_q(port)} style=dotted];")
    for name, (src_node, port, ptext) in view.outputs.items():
        label = name + (f"\n{ptext}" if ptext else "")
        lines.append(f'{ind}{_q(out_id(name))} [shape=ellipse label={_q(label)} color="#1a7f37"];')
        lines.append(f"{ind}{_q(tail(src_node, port))} -> {_q(out_id(name))} [label={_q(port)}];")


# --------------------------------------------------------------------------- Mermaid


def _mq(text: str) -> str:
    """A quoted Mermaid label; characters Mermaid would read as markup become entity codes."""
    text = (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
            .replace("\n", "<br/>"))
    return f'"{text}"'


def to_mermaid(graph: Any, timings: Mapping[str, float] | None = None) -> str:
    """Mermaid flowchart text for a BuiltGraph, a GraphSpec or a graph file path (nested graphs as
    `subgraph`); `timings` as for `to_dot`."""
    view = _view(graph)
    ids: dict[str, str] = {}

    def mid(raw: str) -> str:
        if raw not in ids:
            safe = "".join(c if c.isalnum() else "_" for c in raw.rsplit(":", 1)[-1].rsplit("/", 1)[-1])[:24]
            ids[raw] = f"v{len(ids)}_{safe}"
        return ids[raw]

    lines = ["flowchart LR"]
    _mermaid_body(view, "", "", timings, lines, "  ", mid)
    return "\n".join(lines) + "\n"


def _mermaid_body(view: _View, prefix: str, path: str, timings, lines: list, ind: str, mid) -> None:
    in_id, node_id, out_id = _ids(prefix)
    for name, ptext in view.inputs.items():
        lines.append(f"{ind}{mid(in_id(name))}([{_mq(name + (f': {ptext}' if ptext else ''))}])")
    by_name = {n.name: n for n in view.nodes}

    def tail(src_node: str, port: str) -> str:
        n = by_name.get(src_node)
        if n is not None and n.sub is not None and port in n.sub.outputs:
            return mid(_ids(prefix + src_node + "/")[2](port))
        return mid(node_id(src_node))

    def head(n: _Node, port: str) -> str:
        if n.sub is not None and port in n.sub.inputs:
            return mid(_ids(prefix + n.name + "/")[0](port))
        return mid(node_id(n.name))

    for n in view.nodes:
        key = path + n.name
        ms = _ms(timings, key)
        if n.sub is not None:
            label = f"{n.name}: graph {n.module}" + (f" ({ms})" if ms else "")
            lines.append(f"{ind}subgraph {mid(prefix + 'cluster:' + n.name)}[{_mq(label)}]")
            _mermaid_body(n.sub, prefix + n.name + "/", key + PATH_SEP, timings, lines, ind + "  ", mid)
            lines.append(f"{ind}end")
        else:
            label = f"{n.name}\n{n.module}" + (f"\n({n.note})" if n.note else "") + (f"\n{ms}" if ms else "")
            lines.append(f"{ind}{mid(node_id(n.name))}[{_mq(label)}]")
    _BuiltGraph, Const, Edge, GraphInput, _GraphSpec = _core()
    for n in view.nodes:
        for port, src in n.sources.items():
            h = head(n, port)
            if isinstance(src, Edge):
                lines.append(f"{ind}{tail(src.node, src.port)} -->|{_mq(f'{src.port} -> {port}')}| {h}")
            elif isinstance(src, GraphInput):
                lines.append(f"{ind}{mid(in_id(src.name))} -->|{_mq(port)}| {h}")
            elif isinstance(src, Const):
                cid = mid(prefix + f"c:{n.name}:{port}")
                lines.append(f"{ind}{cid}>{_mq(_short(src.value))}]")
                lines.append(f"{ind}{cid} -.->|{_mq(port)}| {h}")
    for name, (src_node, port, ptext) in view.outputs.items():
        lines.append(f"{ind}{mid(out_id(name))}([{_mq(name + (f': {ptext}' if ptext else ''))}])")
        lines.append(f"{ind}{tail(src_node, port)} -->|{_mq(port)}| {mid(out_id(name))}")


# --------------------------------------------------------------------------- rendering


def render(dot_text: str, fmt: str = "svg", timeout: float = 60.0) -> bytes:
    """Lay out DOT text with Graphviz's `dot` program and return the image bytes (svg, png or pdf).

    Raises GraphvizError when `dot` is not installed (naming the package to install) or fails.

    >>> render("digraph { a -> b }", "png")[:8]        # doctest: +SKIP
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r} (expected one of {', '.join(FORMATS)})")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizError("the Graphviz 'dot' program is not installed: install the 'graphviz' package "
                            "(Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz), "
                            "or draw as DOT or Mermaid text instead")
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise GraphvizError(f"'dot -T{fmt}' took longer than {timeout:g} s") from None
    except OSError as e:
        raise GraphvizError(f"cannot run {exe}: {e}") from None
    if proc.returncode != 0 or not proc.stdout:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise GraphvizError(f"'dot -T{fmt}' failed (exit {proc.returncode}): {err or 'no output'}")
    return proc.stdout


def suffix_format(path: str | Path) -> str | None:
    """The drawing format a file name asks for: dot, mermaid, svg, png, pdf (None if unknown)."""
    return {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid", ".svg": "svg",
            ".png": "png", ".pdf": "pdf"}.get(Path(path).suffix.lower())
