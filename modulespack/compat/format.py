"""The modulespack2 graph file format: recognise it and turn it into a core `GraphSpec`.

A modulespack2 ("mp2") graph file looks like this (``module/GraphLib/RMSE_graph.json``)::

    {"version": {"author": "THU", "date": "xxxx-xx-xx", "nodeNum": 4},
     "node": [
       {"startNode": "True", "name": "firstadd", "module": "add",
        "input": {"x1": "None", "x2": "None"}, "output": {"y": 0}},
       {"name": "secondadd", "module": "add",
        "input": {"x1": "firstadd/y", "x2": "firstadd/y"}, "output": {"y": 0}},
       ...
       {"name": "minus", "module": "minus",
        "input": {"x1": "multiply/y", "x2": {"x2": 8}}, "output": {"y": 0}}]}

How it maps onto a GraphSpec (`convert`):

* Each entry of ``node`` becomes a `NodeSpec` with the same ``name`` and ``module`` and no
  parameters (mp2 instantiated every module as ``module()``).
* A node that has a ``startNode`` key is a start node. As in mp2 only the key's presence counts
  (``"startNode": "False"`` still marks a start node). mp2 gave a start node the whole
  ``feed_dict[node]`` as its inputs, so each input listed under its ``input`` becomes a graph input
  named ``<node>.<port>`` (``firstadd.x1``). The value in the file is only a placeholder
  (``"None"``, ``""`` or ``null``), with two exceptions: a one-key dict ``{"k": v}`` becomes the
  graph input's default value (mp2 ignored it: an extension), and a ``"node/port"`` string is a
  Problem because mp2 would have silently ignored that edge. A start node's inputs are the ones
  its ``input`` lists (mp2 passed whatever ``feed_dict[node]`` held, listed or not).
* Inputs of other nodes:
  - ``"node/port"`` is an `Edge`. A string with more than one ``/`` is a Problem.
  - A dict ``{"k": v}`` is a constant. mp2 ran ``inputs[k] = v``; every mp2 file writes
    ``k`` equal to the port (``"x2": {"x2": 8}``), so the inner value feeds the outer port.
    When ``k`` differs from the port the value still feeds the outer port (mp2 would have passed
    the dict itself to that port, and the value under a name the module never reads). A dict
    with zero or several keys is a Problem.
  - ``"None"``, ``""`` or ``null`` is a Problem: only start nodes take values from ``feed_dict``
    (mp2 failed on them with a KeyError for a node named ``None``).
  - Other strings are a Problem; numbers, booleans and lists are constants (mp2 crashed on them).
* The graph's outputs are the outputs of the last node in mp2's topological order (mp2's
  ``Session.run`` returned the last node's outputs). The order is the one networkx 2.x's
  ``topological_sort`` gave mp2 (`mp2_toposort`). The output names are the keys of that node's
  ``output`` mapping (a list of names is accepted too); a missing ``output`` leaves the graph
  without declared outputs. ``output`` of other nodes is documentation only.
* ``version.nodeNum`` must equal the number of nodes; a mismatch is a Problem (mp2 silently read
  only the first ``nodeNum`` nodes, or crashed when there were fewer).
* References to missing nodes, cycles, unknown modules and unknown ports are left to
  `modulespack.build_graph`, which reports them naming the file, the node and the port.

Every problem found is reported at once in one `GraphError`, each naming the file and the node.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, Iterable

from ..core.errors import GraphError, Problem
from ..core.spec import FORMATS, Const, Edge, GraphInput, GraphSpec, NodeSpec

FORMAT_NAME = "modulespack2"

#: input values that mean "not set here" (mp2 wrote the string "None")
_UNSET = ("None", "", None)


def is_mp2(data: Any) -> bool:
    """True for a parsed modulespack2 graph file: a top-level ``version`` with ``nodeNum``, and ``node``.

    Any mapping with a ``node`` key (and no ``nodes`` key, which this project's format uses) is
    taken as mp2, so that a broken mp2 file (``nodeNum`` missing, say) gets mp2-specific problems
    rather than "unknown top-level key 'node'".
    """
    return isinstance(data, dict) and "node" in data and "nodes" not in data


def mp2_toposort(names: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[str]:
    """The topological order modulespack2 ran a graph in.

    mp2 built a networkx DiGraph (nodes in file order, edges in the order the node inputs list
    them) and used ``nx.topological_sort``, which in networkx 2.x is Kahn's algorithm with a
    stack: start with the nodes of in-degree 0 in node order, pop from the end, and push each
    successor (in edge insertion order) once its in-degree reaches 0. Edges whose source is not a
    node are ignored here (the build reports them). Raises ValueError on a cycle.

    >>> mp2_toposort(["a", "b", "c", "d"], [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d")])
    ['a', 'b', 'c', 'd']
    """
    order_names = list(dict.fromkeys(names))
    succ: dict[str, list[str]] = {n: [] for n in order_names}
    indeg = {n: 0 for n in order_names}
    for src, dst in edges:
        if src not in succ or dst not in succ or dst in succ[src]:
            continue  # unknown node, or a repeated edge (a DiGraph keeps one)
        succ[src].append(dst)
        indeg[dst] += 1
    stack = [n for n in order_names if indeg[n] == 0]
    out: list[str] = []
    while stack:
        n = stack.pop()
        out.append(n)
        for m in succ[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                stack.append(m)
    if len(out) != len(order_names):
        left = [n for n in order_names if n not in set(out)]
        raise ValueError(f"the graph has a cycle through {', '.join(left)}")
    return out


def spec_edges(spec: GraphSpec) -> list[tuple[str, str]]:
    """(source node, consumer node) pairs in the order mp2 added them to its graph."""
    return [(src.node, n.name) for n in spec.nodes for src in n.inputs.values() if isinstance(src, Edge)]


def spec_toposort(spec: GraphSpec) -> list[str]:
    """`mp2_toposort` of a GraphSpec (of either file format)."""
    return mp2_toposort([n.name for n in spec.nodes], spec_edges(spec))


def input_name(node: str, port: str) -> str:
    """The graph input a start node's port becomes: ``firstadd.x1``."""
    return f"{node}.{port}"


def convert(data: Any, path: Path | None = None) -> GraphSpec:
    """Turn a parsed mp2 graph file into a GraphSpec; raise GraphError listing every problem."""
    file = str(path) if path else None
    line_of = _line_finder(path)
    problems: list[Problem] = []

    def problem(msg: str, node: str | None = None, port: str | None = None, kind: str = "syntax") -> None:
        problems.append(Problem(msg, file=file, node=node, port=port, line=line_of(node), kind=kind))

    version = data.get("version")
    node_num = None
    if not isinstance(version, dict):
        problem("a modulespack2 graph needs 'version': {\"nodeNum\": <number of nodes>, ...}")
    elif "nodeNum" not in version:
        problem("'version' has no 'nodeNum' (the number of nodes)")
    else:
        node_num = version["nodeNum"]
    raw_nodes = data.get("node")
    if not isinstance(raw_nodes, list):
        problem(f"'node' must be a list of nodes, not {type(raw_nodes).__name__}")
        raw_nodes = []
    if node_num is not None:
        if not isinstance(node_num, int) or isinstance(node_num, bool):
            problem(f"'version.nodeNum' must be a whole number, not {node_num!r}")
        elif node_num != len(raw_nodes):
            problem(f"'version.nodeNum' says {node_num} node{'s' if node_num != 1 else ''} but 'node' lists "
                    f"{len(raw_nodes)}", kind="count")

    nodes: list[NodeSpec] = []
    inputs: dict[str, Any] = {}
    raw_by_name: dict[str, dict] = {}
    for i, nd in enumerate(raw_nodes):
        if not isinstance(nd, dict):
            problem(f"node #{i + 1} must be a mapping with 'name', 'module' and 'input', not {type(nd).__name__}")
            continue
        name = nd.get("name")
        if not isinstance(name, str) or not name:
            mod = nd.get("module")
            problem(f"node #{i + 1}{f' (module {mod!r})' if isinstance(mod, str) else ''} needs a 'name' string")
            continue
        if "/" in name or name.startswith("$"):
            problem("a node name may not contain '/' or start with '$'", name)
        if name in raw_by_name:
            problem("duplicate node name (modulespack2 kept only the last one)", name, kind="duplicate")
            continue
        raw_by_name[name] = nd
        module = nd.get("module")
        if not isinstance(module, str) or not module:
            problem("node needs a 'module' string (the module's class name in ModuleLibPath)", name)
            module = ""
        raw_in = nd.get("input", {})
        if raw_in is None:
            raw_in = {}
        if not isinstance(raw_in, dict):
            problem(f"'input' must be a mapping port -> source, not {type(raw_in).__name__}", name)
            raw_in = {}
        out = nd.get("output")
        if out is not None and not isinstance(out, (dict, list)):
            problem(f"'output' must be a mapping (or list) of output names, not {type(out).__name__}", name)
        start = "startNode" in nd
        sources: dict[str, Any] = {}
        for port, value in raw_in.items():
            port = str(port)
            if start:
                if isinstance(value, str) and "/" in value:
                    problem(f"a startNode takes its inputs from feed_dict, so {value!r} would be ignored; "
                            "set it to \"None\" or remove 'startNode'", name, port, kind="reference")
                    continue
                gname = input_name(name, port)
                if isinstance(value, dict):
                    const, err = _dict_constant(value)
                    if err:
                        problem(err, name, port, kind="reference")
                        continue
                    inputs[gname] = {"default": const.value}
                else:
                    inputs[gname] = None
                sources[port] = GraphInput(gname)
                continue
            src, err = _source(value)
            if err:
                problem(err, name, port, kind="reference")
            else:
                sources[port] = src
        nodes.append(NodeSpec(name, module, {}, sources))

    spec = GraphSpec(path.stem if path else "graph", nodes, inputs, {}, _description(version), path,
                     format=FORMAT_NAME)
    if problems:
        raise GraphError(problems)
    try:
        order = spec_toposort(spec)
    except ValueError:
        order = []  # the build reports the cycle, naming its nodes
    if order:
        last = order[-1]
        out = raw_by_name[last].get("output")
        if isinstance(out, dict):
            spec.outputs = {str(k): Edge(last, str(k)) for k in out}
        elif isinstance(out, list):
            spec.outputs = {str(k): Edge(last, str(k)) for k in out}
    return spec


def _source(value: Any) -> tuple[Any, str | None]:
    """(Edge | Const, error) for the value of a non-start node's input."""
    if isinstance(value, dict):
        return _dict_constant(value)
    if value in _UNSET:
        return None, (f"input set to {value!r}: only a node with 'startNode' takes values from feed_dict; "
                      "connect it to \"node/port\" or give a constant {\"port\": value}")
    if isinstance(value, str):
        if value.count("/") != 1:
            return None, (f"{value!r} is not \"node/port\" (write a constant as {{\"port\": value}})"
                          if "/" not in value else f"{value!r} has more than one '/'; write \"node/port\"")
        node, _, port = value.partition("/")
        if not node or not port:
            return None, f"{value!r} is not \"node/port\""
        return Edge(node, port), None
    return Const(value), None  # numbers, booleans, lists: constants (mp2 crashed on them)


def _dict_constant(value: dict) -> tuple[Any, str | None]:
    if len(value) != 1:
        return None, (f"a constant is written as a one-key mapping {{\"port\": value}}, not {value!r} "
                      f"({len(value)} keys)")
    return Const(next(iter(value.values()))), None


def _description(version: Any) -> str:
    if not isinstance(version, dict):
        return ""
    who = [f"{k} {version[k]}" for k in ("author", "date") if version.get(k)]
    return "modulespack2 graph" + (f" ({', '.join(who)})" if who else "")


def _line_finder(path: Path | None) -> Callable[[str | None], int | None]:
    """node name -> line of its "name" entry in the file (read only if a problem needs it)."""
    cache: dict[str, Any] = {}

    def find(node: str | None) -> int | None:
        if node is None or path is None:
            return None
        if "text" not in cache:
            try:
                cache["text"] = path.read_text(encoding="utf-8")
            except OSError:
                cache["text"] = ""
        text = cache["text"]
        m = re.search(r'"name"\s*:\s*"' + re.escape(node) + '"', text)
        return text.count("\n", 0, m.start()) + 1 if m else None

    return find


def register_format() -> None:
    """Let core `load_graph` read modulespack2 files (idempotent)."""
    if not any(d is is_mp2 for d, _ in FORMATS):
        FORMATS.append((is_mp2, convert))
