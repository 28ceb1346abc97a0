"""modulespack2's `ModuleGraph`: a graph file read into nodes and edges (without networkx).

mp2's ModuleGraph was a networkx DiGraph whose nodes carried the file's node entries as
``graph.node[name]['attr']``. This one keeps that shape for code that reads it, holds the parsed
core `GraphSpec` as ``spec``, and loads either file format (mp2 JSON, or this project's YAML/JSON).
"""
from __future__ import annotations

import threading
import weakref
from pathlib import Path
from typing import Any, Iterator

from ..core.graph_text import read_graph_data
from ..core.spec import Const, Edge, GraphInput, GraphSpec, load_graph
from .errors import Stop
from .format import FORMAT_NAME, spec_edges, spec_toposort

__all__ = ["ModuleGraph", "get_graph"]


class ModuleGraph:
    """A graph file as nodes and edges.

    >>> g = ModuleGraph(JsonFile="RMSE_graph.json")                 # doctest: +SKIP
    >>> list(g.nodes), g.nodes["minus"]["attr"]["module"]           # doctest: +SKIP
    (['firstadd', 'secondadd', 'multiply', 'minus'], 'minus')

    ``nodes`` maps each node name (in file order) to ``{'attr': <its entry in the file>}``;
    ``node`` is the same mapping (networkx 1.x spelling, which mp2 used). ``edges`` lists
    ``(source, consumer)`` pairs in the order mp2 added them. ``spec`` is the core GraphSpec,
    which `modulespack.Session` and `modulespack.build_graph` accept directly. Raises core
    `GraphError` (naming file and node) for a broken file.
    """

    def __init__(self, JsonFile: str | Path | None = None, **attr: Any):  # noqa: N803 (mp2 name)
        if JsonFile is None:
            raise Stop("ModuleGraph needs JsonFile, the path of a graph file")
        path = Path(JsonFile)
        self.path = path
        self.spec: GraphSpec = load_graph(path)
        self.graph = dict(attr)  # networkx kept graph attributes here
        if self.spec.format == FORMAT_NAME:
            raw, _ = read_graph_data(path)
            entries = {nd["name"]: nd for nd in raw["node"]}  # the converter has checked the names
        else:
            entries = {n.name: _entry(n) for n in self.spec.nodes}
        self.nodes: dict[str, dict[str, Any]] = {n.name: {"attr": entries[n.name]} for n in self.spec.nodes}
        self.edges: list[tuple[str, str]] = list(dict.fromkeys(spec_edges(self.spec)))
        self._order: list[str] | None = None

    @property
    def node(self) -> dict[str, dict[str, Any]]:
        return self.nodes

    @property
    def name(self) -> str:
        return self.spec.name

    def __iter__(self) -> Iterator[str]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, name: object) -> bool:
        return name in self.nodes

    def successors(self, name: str) -> list[str]:
        return [d for s, d in self.edges if s == name]

    def predecessors(self, name: str) -> list[str]:
        return [s for s, d in self.edges if d == name]

    @property
    def start_nodes(self) -> list[str]:
        """Nodes fed from feed_dict: those with a graph input (mp2's ``startNode``)."""
        return [n.name for n in self.spec.nodes if any(isinstance(s, GraphInput) for s in n.inputs.values())]

    def toposort(self) -> list[str]:
        """The order mp2 ran the nodes in (ValueError on a cycle)."""
        if self._order is None:
            self._order = spec_toposort(self.spec)
        return list(self._order)

    def ShowGraph(self) -> str:  # noqa: N802 (mp2 name)
        """Print (and return) the graph as text; mp2 drew it with matplotlib, which we do not need."""
        lines = [f"moduleGraph {self.name}"]
        for n in self.spec.nodes:
            ins = ", ".join(f"{p}={_show(s)}" for p, s in n.inputs.items())
            lines.append(f"  {n.name}: {n.module}({ins})")
        if self.spec.outputs:
            lines.append("  outputs: " + ", ".join(f"{k}={v}" for k, v in self.spec.outputs.items()))
        text = "\n".join(lines)
        print(text)
        return text

    def __repr__(self) -> str:
        return f"ModuleGraph({str(self.path)!r}, nodes={list(self.nodes)})"


def _show(src: Any) -> str:
    if isinstance(src, Edge):
        return str(src)
    if isinstance(src, GraphInput):
        return "$" + src.name
    if isinstance(src, Const):
        return repr(src.value)
    return "?"


def _entry(n: Any) -> dict[str, Any]:
    """An mp2-style node entry for a node of a file in this project's format."""
    entry: dict[str, Any] = {"name": n.name, "module": n.module}
    if any(isinstance(s, GraphInput) for s in n.inputs.values()):
        entry["startNode"] = "True"
    entry["input"] = {p: (str(s) if isinstance(s, Edge) else "None" if isinstance(s, GraphInput)
                          else {p: s.value}) for p, s in n.inputs.items()}
    return entry


_graphs: "weakref.WeakValueDictionary[Path, ModuleGraph]" = weakref.WeakValueDictionary()
_graphs_lock = threading.Lock()


def get_graph(name: str | Path, graph_lib: str | Path | None = None) -> ModuleGraph:
    """A cached ModuleGraph, as mp2's ``GraphLib.get_graph``: ``name`` is a file, or a stem in ``graph_lib``.

    >>> get_graph("RMSE_graph", "tests/compat/fixtures")           # doctest: +SKIP
    """
    path = Path(name)
    if graph_lib is not None and not path.is_absolute():
        path = Path(graph_lib) / path
    if path.suffix not in (".json", ".yaml", ".yml"):
        path = path.with_name(path.name + ".json")
    key = path.resolve()
    with _graphs_lock:
        g = _graphs.get(key)
        if g is None:
            g = ModuleGraph(JsonFile=path)
            _graphs[key] = g
        return g
