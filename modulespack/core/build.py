"""Build-time validation: resolve every module and check every edge, reporting all problems at once."""
from __future__ import annotations

import graphlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .attrs import propagate_attrs
from .errors import GraphError, Problem
from .module import Module, init_defaults
from .nested import graph_module_class
from .node_options import combined_resources, normalize, option_problems
from .ports import Port, coerce, edge_problem, value_checker
from .registry import Registry, default_registry
from .spec import Const, Edge, GraphInput, GraphSpec, NodeSpec, load_graph


@dataclass
class BuiltNode:
    name: str
    cls: type[Module]
    params: dict[str, Any]
    inputs: dict[str, Port]
    outputs: dict[str, Port]
    sources: dict[str, Any]          # port -> Edge | GraphInput | Const
    optional: set[str]
    subgraph: "BuiltGraph | None" = None
    batch: dict[str, Any] | None = None       # {max_size, max_wait_s}: concurrent runs grouped (Batcher)
    resources: dict[str, Any] = field(default_factory=dict)  # the class's, overridden by the graph file
    deploy: dict[str, Any] | None = None      # its own Ray Serve deployment: {replicas, num_cpus, ...}


@dataclass
class BuiltGraph:
    """A validated graph: the spec plus, per node, its module class and resolved ports."""
    spec: GraphSpec
    nodes: dict[str, BuiltNode]
    order: list[str]                 # a topological order of all nodes
    inputs: dict[str, Port]
    outputs: dict[str, Port]
    optional_inputs: set[str] = field(default_factory=set)
    registry: Registry = field(default=default_registry, repr=False)
    defaults: dict[str, Any] = field(default_factory=dict)  # graph input -> default, in the port's type

    @property
    def name(self) -> str:
        return self.spec.name

    def inputs_upstream(self, node: str, ports: Iterable[str] | None = None) -> tuple[str, ...]:
        """The graph inputs whose values reach `ports` of `node` (all its inputs when None): a
        graph input directly, or every graph input that an upstream node depends on.

        >>> g.inputs_upstream("tts", ["text"])      # doctest: +SKIP
        ('text',)
        """
        sources = self.nodes[node].sources
        todo = list(sources.values()) if ports is None else [sources[p] for p in ports if p in sources]
        found: set[str] = set()
        seen: set[str] = set()
        while todo:
            src = todo.pop()
            if isinstance(src, GraphInput):
                found.add(src.name)
            elif isinstance(src, Edge) and src.node not in seen:
                seen.add(src.node)
                todo += self.nodes[src.node].sources.values()
        return tuple(k for k in self.inputs if k in found)


def build_graph(source: str | Path | GraphSpec, registry: Registry | None = None,
                _stack: tuple[Path, ...] = ()) -> BuiltGraph:
    """Load (if needed) and validate a graph; raise GraphError listing every problem.

    >>> g = build_graph("examples/graphs/arith.yaml")   # doctest: +SKIP
    >>> g.order                                           # doctest: +SKIP
    """
    spec = source if isinstance(source, GraphSpec) else load_graph(source)
    file = str(spec.path) if spec.path else None
    base = registry or default_registry
    reg = base.child([spec.base_dir / p for p in spec.module_paths])
    problems: list[Problem] = []

    def problem(msg, node=None, port=None, kind="invalid", line=None):
        if node is not None and line is None:
            try:
                line = spec.node(node).line
            except KeyError:
                pass
        problems.append(Problem(msg, file=file, node=node, port=port, line=line, kind=kind))

    me = spec.path.resolve() if spec.path else None
    stack = _stack + ((me,) if me else ())

    seen: set[str] = set()
    nodes: dict[str, BuiltNode] = {}
    for ns in spec.nodes:
        if ns.name in seen:
            problem("duplicate node name", ns.name, kind="duplicate", line=ns.line)
            continue
        seen.add(ns.name)
        sub = None
        if ns.is_graph:
            sub_path = (spec.base_dir / ns.module).resolve()
            if sub_path in stack:
                chain = " -> ".join(p.name for p in (*stack[stack.index(sub_path):], sub_path))
                problem(f"nested graph includes itself: {chain}", ns.name, kind="recursion")
                continue
            try:
                sub = build_graph(sub_path, base, stack)
            except GraphError as e:
                for p in e.problems:
                    problem(f"in nested graph {ns.module}: {p}", ns.name, kind=p.kind)
                continue
            cls = graph_module_class(sub)
            cls.resources = combined_resources(n.resources for n in sub.nodes.values())
        else:
            try:
                cls = reg.resolve(ns.module)
            except LookupError as e:
                problem(str(e), ns.name, kind="unknown-module")
                continue
        params = resolve_paths(ns.params, spec.base_dir)
        for pname, msg in cls.param_problems(params):
            problem(f"parameter '{pname}': {msg}", ns.name, kind="parameter")
        try:
            ins, outs = cls.ports(params)
        except Exception as e:  # a module's own port logic failed on these params
            problem(f"cannot determine ports: {type(e).__name__}: {e}", ns.name, kind="parameter")
            continue
        sizes = _param_values(cls, params)
        ins = {k: p.resolve(sizes) for k, p in ins.items()}
        outs = {k: p.resolve(sizes) for k, p in outs.items()}
        node = BuiltNode(ns.name, cls, params, ins, outs, dict(ns.inputs), cls.optional_inputs(params), sub)
        bad_options = _option_problems(ns, cls)
        for where, msg in bad_options:
            problem(f"'{where}': {msg}", ns.name, kind="node-option", line=ns.line_of(where))
        if not bad_options:
            node.batch, node.resources, node.deploy = normalize(cls, ns.batch, ns.resources, ns.deploy)
        nodes[ns.name] = node

    # graph inputs: declared ports, or inferred from the first consumer
    declared: dict[str, Port | None] = {}
    for name, pspec in spec.inputs.items():
        try:
            declared[name] = None if pspec is None else Port.from_spec(pspec)
        except ValueError as e:
            problems.append(Problem(f"graph input '{name}': {e}", file=file, port=name, kind="dtype"))
            declared[name] = Port()
    optional_inputs = {n for n, p in spec.inputs.items() if isinstance(p, dict) and "default" in p}
    defaults: dict[str, Any] = {}

    deps: dict[str, set[str]] = {n: set() for n in nodes}
    for node in nodes.values():
        for port, src in node.sources.items():
            if port not in node.inputs:
                problem(f"unknown input port (ports: {', '.join(node.inputs) or 'none'})", node.name, port,
                        kind="unknown-port")
                continue
            dst = node.inputs[port]
            if isinstance(src, Edge):
                if src.node not in nodes:
                    if src.node in seen:
                        continue  # that node already has its own problem
                    problem(f"'{src}' refers to no node named '{src.node}'", node.name, port, kind="dangling")
                    continue
                up = nodes[src.node]
                if src.port not in up.outputs:
                    problem(f"'{src}': node '{src.node}' has no output '{src.port}' "
                            f"(outputs: {', '.join(up.outputs) or 'none'})", node.name, port, kind="unknown-port")
                    continue
                why = edge_problem(up.outputs[src.port], dst)
                if why:
                    problem(f"{why} (from {src})", node.name, port, kind=_kind(why))
                deps[node.name].add(src.node)
            elif isinstance(src, GraphInput):
                have = declared.get(src.name)
                if have is None:
                    # only attributes the graph file declares are claims about what is fed
                    declared[src.name] = dst.with_attrs(None)
                else:
                    why = edge_problem(have, dst)
                    if why:
                        problem(f"{why} (from graph input '{src.name}')", node.name, port, kind=_kind(why))
            elif isinstance(src, Const):
                check = value_checker(dst)
                why = check(src.value) if check else None
                if why:
                    problem(f"constant {src.value!r} does not fit: {why}", node.name, port, kind="dtype")
        for port in node.inputs:
            if port not in node.sources and port not in node.optional:
                problem("required input is not connected (connect it to node/port, $input or {value: ...})",
                        node.name, port, kind="unconnected")

    order = _order(deps, problem)
    if order:
        _propagate_sizes(nodes, order, problem)
        propagate_attrs(nodes, order, declared, problem)

    for name in optional_inputs:
        port = declared.get(name) or Port()
        try:
            defaults[name] = coerce(port, spec.inputs[name]["default"])
            check = value_checker(port)
            why = check(defaults[name]) if check else None
        except (TypeError, ValueError) as e:
            why = str(e)
        if why:
            problems.append(Problem(f"graph input '{name}': default {spec.inputs[name]['default']!r} does not fit "
                                    f"its port: {why}", file=file, port=name, kind="dtype"))

    outputs: dict[str, Port] = {}
    for oname, ref in spec.outputs.items():
        if ref.node not in nodes:
            if ref.node not in seen:
                problems.append(Problem(f"graph output '{oname}' refers to no node named '{ref.node}'", file=file,
                                        port=oname, kind="dangling"))
        elif ref.port not in nodes[ref.node].outputs:
            problems.append(Problem(f"graph output '{oname}': node '{ref.node}' has no output '{ref.port}'",
                                    file=file, node=ref.node, port=ref.port, kind="unknown-port"))
        else:
            outputs[oname] = nodes[ref.node].outputs[ref.port]

    if problems:
        raise GraphError(problems)
    return BuiltGraph(spec, nodes, order, {k: v or Port() for k, v in declared.items()}, outputs,
                      optional_inputs, reg, defaults)


def _option_problems(ns: NodeSpec, cls: type[Module]) -> list[tuple[str, str]]:
    """Problems of a node's `batch:`, `resources:` and `deploy:`, and of its class's `resources`."""
    out = [(w, f"module {cls.__name__} declares resources {dict(cls.resources)!r}: {m}")
           for w, m in option_problems("resources", dict(getattr(cls, "resources", {}) or {}))]
    for key in ("batch", "resources", "deploy"):
        out += option_problems(key, getattr(ns, key))
    if not cls.batchable:
        why = f"module {cls.__name__} cannot take a batch (its class does not set batchable = True)"
        if ns.batch not in (None, False):
            out.append(("batch", why))
        if isinstance(ns.deploy, dict) and ns.deploy.get("max_batch_size", 1) not in (1, None) \
                and not any(w == "deploy.max_batch_size" for w, _ in out):
            out.append(("deploy.max_batch_size", why))
    return out


def _kind(why: str) -> str:
    return why.split(" ", 1)[0] if why.split(" ", 1)[0] in ("dtype", "rank", "size") else "dtype"


def _param_values(cls: type[Module], params: dict[str, Any]) -> dict[str, Any]:
    """Parameters with `__init__` defaults filled in: they fix named sizes such as n_mels."""
    return {**init_defaults(cls), **params}


def resolve_paths(params: dict[str, Any], base: Path) -> dict[str, Any]:
    """`{path: file}` parameters name files relative to the graph file; give modules absolute paths.

    So a graph and its model or statistics files move together, whatever the working directory.
    """
    def fix(v: Any) -> Any:
        if isinstance(v, dict) and set(v) == {"path"} and isinstance(v["path"], str):
            return str((base / v["path"]).resolve())
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v
    return {k: fix(v) for k, v in params.items()}


def _order(deps: dict[str, set[str]], problem) -> list[str]:
    """A topological order, or [] after reporting every cycle (each found cycle is cut out and the
    search goes on, so unrelated cycles are all reported at once)."""
    deps = {n: set(d) for n, d in deps.items()}
    found = False
    for _ in range(len(deps) + 1):
        try:
            order = list(graphlib.TopologicalSorter(deps).static_order())
            return [] if found else order
        except graphlib.CycleError as e:
            cycle = list(e.args[1])
            problem(f"cycle: {' -> '.join(cycle)}", cycle[0], kind="cycle")
            found = True
            for n in cycle:
                deps.pop(n, None)
            for d in deps.values():
                d.difference_update(cycle)
    return []


def _propagate_sizes(nodes: dict[str, BuiltNode], order: list[str], problem) -> None:
    """Bind named sizes from the fixed sizes flowing into a node, check they agree across its
    ports, and fix its outputs' named sizes, so a mismatch two edges away is still caught."""
    resolved: set[str] = set()
    for name in order:
        node = nodes[name]
        binds: dict[str, tuple[int, str]] = {}
        for port, src in node.sources.items():
            if not isinstance(src, Edge) or port not in node.inputs:
                continue
            up = nodes.get(src.node)
            if up is None or src.port not in up.outputs:
                continue
            a_shape, b_shape = up.outputs[src.port].shape, node.inputs[port].shape
            if a_shape is None or b_shape is None or len(a_shape) != len(b_shape):
                continue
            for i, (a, b) in enumerate(zip(a_shape, b_shape)):
                if not isinstance(a, int):
                    continue
                if isinstance(b, str):
                    if b in binds and binds[b][0] != a:
                        problem(f"size mismatch: named size '{b}' is {binds[b][0]} from {binds[b][1]} "
                                f"but {a} from {src}", name, port, kind="size")
                    binds.setdefault(b, (a, str(src)))
                elif isinstance(b, int) and a != b and src.node in resolved:
                    # the first pass saw a name here; now that it is known, the sizes disagree
                    problem(f"size mismatch in dim {i}: {a} flows into {b} (from {src}, whose size "
                            f"comes from further up)", name, port, kind="size")
        if binds:
            sizes = {k: v[0] for k, v in binds.items()}
            new = {k: p.resolve(sizes) for k, p in node.outputs.items()}
            if new != node.outputs:
                node.outputs = new
                resolved.add(name)
