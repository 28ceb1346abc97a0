"""Graph files as plain data: the spec's model, references turned into edges, load and save (round trip).
Reading a file's text into data and line numbers is `graph_text`."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from .errors import GraphError, Problem
from .examples import parse_examples
from .graph_text import attach_text_lines, attach_yaml_lines, read_graph_file
from .node_options import NODE_OPTION_KEYS

GRAPH_SUFFIXES = (".yaml", ".yml", ".json")
#: top-level mappings a graph file may carry for front doors (`openai:`, `wyoming:`), kept on the spec as they
#: are written (`GraphSpec.front_doors`): core checks only that each is a mapping, the front door
#: (`modulespack.serve`) reads it
FRONT_DOOR_KEYS = ("openai", "wyoming")


@dataclass(frozen=True)
class Edge:
    """An input fed by another node's output, written `node/port`."""
    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}/{self.port}"


@dataclass(frozen=True)
class GraphInput:
    """An input fed by one of the graph's own inputs."""
    name: str


@dataclass(frozen=True)
class Const:
    """An input fixed in the graph file."""
    value: Any


@dataclass
class NodeSpec:
    name: str
    module: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)  # port -> Edge | GraphInput | Const
    line: int | None = None
    doc: str = ""
    # engine options as written (None: absent), checked at build time (`node_options.py`)
    batch: Any = None
    resources: Any = None
    deploy: Any = None
    # YAML line of each engine option and its keys ("batch", "batch.max_size"), for problems
    lines: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, where: str) -> int | None:
        """The line of an option key (`batch.max_size`), else of its option, else of the node."""
        return self.lines.get(where) or self.lines.get(where.split(".", 1)[0]) or self.line

    @property
    def is_graph(self) -> bool:
        return self.module.endswith(GRAPH_SUFFIXES)


@dataclass
class GraphSpec:
    """A parsed graph file. Plain data: any engine can rebuild a Session from `to_dict()`."""
    name: str
    nodes: list[NodeSpec]
    inputs: dict[str, Any] = field(default_factory=dict)   # name -> port spec (None = inferred)
    outputs: dict[str, Edge] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None
    module_paths: list[str] = field(default_factory=list)  # folders of module files, relative to the file
    format: str = "modulespack"
    examples: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {input: value}, see `examples`
    front_doors: dict[str, dict[str, Any]] = field(default_factory=dict)  # FRONT_DOOR_KEYS -> mapping, opaque

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    @property
    def base_dir(self) -> Path:
        return self.path.parent if self.path else Path.cwd()

    def to_dict(self) -> dict[str, Any]:
        """The graph in this project's file format (what `save_graph` writes)."""
        d: dict[str, Any] = {"name": self.name}
        if self.description:
            d["description"] = self.description
        if self.module_paths:
            d["module_paths"] = list(self.module_paths)
        d["inputs"] = {k: v for k, v in self.inputs.items()}
        nodes = []
        for n in self.nodes:
            nd: dict[str, Any] = {"name": n.name, "module": n.module}
            if n.doc:
                nd["doc"] = n.doc
            if n.params:
                nd["params"] = dict(n.params)
            if n.inputs:
                nd["inputs"] = {k: _unparse(v) for k, v in n.inputs.items()}
            for key in NODE_OPTION_KEYS:
                value = getattr(n, key)
                if value is not None:
                    nd[key] = dict(value) if isinstance(value, dict) else value
            nodes.append(nd)
        d["nodes"] = nodes
        d["outputs"] = {k: str(v) for k, v in self.outputs.items()}
        if self.examples:
            d["examples"] = {k: dict(v) for k, v in self.examples.items()}
        for k, v in self.front_doors.items():
            d[k] = dict(v)
        return d


def _unparse(src: Any) -> Any:
    if isinstance(src, Edge):
        return str(src)
    if isinstance(src, GraphInput):
        return "$" + src.name
    return {"value": src.value}


# Other file formats (the modulespack2 one) register a detector and a converter here, so that
# core can load them without importing compat/.
FORMATS: list[tuple[Callable[[Any], bool], Callable[[Any, Path | None], GraphSpec]]] = []


def load_graph(source: str | Path | dict, path: Path | None = None) -> GraphSpec:
    """Load a graph file (JSON or YAML, this project's format or modulespack2's) as a GraphSpec.

    >>> spec = load_graph("examples/graphs/arith.yaml")   # doctest: +SKIP
    >>> [n.name for n in spec.nodes]                        # doctest: +SKIP
    """
    text = root = None
    if isinstance(source, dict):
        data = source
    else:
        path = Path(source)
        if path.suffix not in GRAPH_SUFFIXES:
            raise GraphError([Problem(f"a graph file ends in {', '.join(GRAPH_SUFFIXES)}", file=str(path), kind="file")])
        data, text, root = read_graph_file(path)
    for detect, convert in FORMATS:
        if detect(data):
            spec = convert(data, path)
            break
    else:
        spec = parse_graph(data, path)
    if root is not None and spec.format == "modulespack":
        attach_yaml_lines(spec, root)
    elif text is not None:
        attach_text_lines(spec, text)
    return spec


def parse_graph(data: Any, path: Path | None = None) -> GraphSpec:
    """Turn the parsed file into a GraphSpec, collecting every structural problem."""
    file = str(path) if path else None
    if not isinstance(data, dict):
        raise GraphError([Problem("a graph file holds a mapping with 'nodes' (and 'inputs', 'outputs')",
                                  file=file, kind="syntax")])
    problems: list[Problem] = []
    known = {"name", "description", "inputs", "outputs", "nodes", "module_paths", "version", "examples",
             *FRONT_DOOR_KEYS}
    for k in data:
        if k not in known:
            problems.append(Problem(f"unknown top-level key '{k}' (expected {', '.join(sorted(known))})",
                                    file=file, kind="syntax"))
    raw_inputs = data.get("inputs") or {}
    if isinstance(raw_inputs, list):
        raw_inputs = {k: None for k in raw_inputs}
    if not isinstance(raw_inputs, dict):
        problems.append(Problem("'inputs' must be a mapping of name -> port or a list of names", file=file, kind="syntax"))
        raw_inputs = {}
    inputs = {str(k): v for k, v in raw_inputs.items()}
    raw_nodes = data.get("nodes")
    if raw_nodes is None:
        problems.append(Problem("the graph has no 'nodes'", file=file, kind="syntax"))
        raw_nodes = []
    if isinstance(raw_nodes, dict):  # also accept a mapping name -> node
        raw_nodes = [{"name": k, **(v if isinstance(v, dict) else {})} for k, v in raw_nodes.items()]
    if not isinstance(raw_nodes, list):
        problems.append(Problem("'nodes' must be a list of nodes", file=file, kind="syntax"))
        raw_nodes = []
    nodes: list[NodeSpec] = []
    for i, nd in enumerate(raw_nodes):
        if not isinstance(nd, dict) or not isinstance(nd.get("name"), str) or not nd.get("name"):
            problems.append(Problem(f"node #{i + 1} needs a 'name' string", file=file, kind="syntax"))
            continue
        name = nd["name"]
        for k in nd:
            if k not in ("name", "module", "graph", "params", "inputs", "doc", *NODE_OPTION_KEYS):
                problems.append(Problem(f"unknown node key '{k}' (expected module, graph, params, inputs, doc, "
                                        f"{', '.join(NODE_OPTION_KEYS)})", file=file, node=name, kind="syntax"))
        if "/" in name or name.startswith("$"):
            problems.append(Problem("a node name may not contain '/' or start with '$'", file=file, node=name,
                                    kind="syntax"))
        mod = nd.get("graph") or nd.get("module")
        if not isinstance(mod, str) or not mod:
            problems.append(Problem("node needs 'module' (a module name) or 'graph' (a graph file)", file=file,
                                    node=name, kind="syntax"))
            mod = ""
        params = nd.get("params") or {}
        if not isinstance(params, dict):
            problems.append(Problem("'params' must be a mapping", file=file, node=name, kind="syntax"))
            params = {}
        ins = nd.get("inputs") or {}
        if not isinstance(ins, dict):
            problems.append(Problem("'inputs' must be a mapping port -> source", file=file, node=name, kind="syntax"))
            ins = {}
        parsed = {}
        for port, src in ins.items():
            ref, err = parse_source(src, inputs)
            if err:
                problems.append(Problem(err, file=file, node=name, port=str(port), kind="reference"))
            elif ref is not None:
                parsed[str(port)] = ref
        nodes.append(NodeSpec(name, mod, dict(params), parsed, doc=str(nd.get("doc") or ""),
                              **{k: nd.get(k) for k in NODE_OPTION_KEYS}))
    outputs: dict[str, Edge] = {}
    raw_out = data.get("outputs") or {}
    if isinstance(raw_out, list):
        names = [str(r).split("/", 1)[-1] for r in raw_out]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(Problem(f"two graph outputs would be named '{dup}'; write outputs as a mapping "
                                    "name: node/port", file=file, port=dup, kind="duplicate"))
        raw_out = dict(zip(names, raw_out))
    if not isinstance(raw_out, dict):
        problems.append(Problem("'outputs' must map output names to node/port", file=file, kind="syntax"))
        raw_out = {}
    for oname, ref in raw_out.items():
        if not isinstance(ref, str) or "/" not in ref:
            problems.append(Problem(f"graph output '{oname}' must be 'node/port', not {ref!r}", file=file,
                                    kind="reference"))
            continue
        n, _, p = ref.partition("/")
        outputs[str(oname)] = Edge(n, p)
    mpaths = data.get("module_paths") or []
    if isinstance(mpaths, str):
        mpaths = [mpaths]
    examples, example_problems = parse_examples(data.get("examples"), inputs, path)
    problems += example_problems
    front_doors = {}
    for k in FRONT_DOOR_KEYS:
        if data.get(k) is not None:
            if isinstance(data[k], dict):
                front_doors[k] = dict(data[k])
            else:
                problems.append(Problem(f"'{k}' must be a mapping (settings of the {k} front door)", file=file,
                                        kind="syntax"))
    if problems:
        raise GraphError(problems)
    name = data.get("name") or (path.stem if path else "graph")
    return GraphSpec(str(name), nodes, inputs, outputs, str(data.get("description") or ""), path,
                     [str(p) for p in mpaths], examples=examples, front_doors=front_doors)


def parse_source(src: Any, graph_inputs: dict[str, Any]) -> tuple[Any, str | None]:
    """(reference, error) for what a node input is set to in a file.

    `node/port` is an edge, `$name` or a bare graph-input name is a graph input, `{value: x}`
    (or modulespack2's one-key `{port: x}`) and non-string values are constants.
    """
    if isinstance(src, str):
        if src.startswith("$"):
            if src[1:] not in graph_inputs:
                return None, f"'{src}' names no graph input (graph inputs: {', '.join(graph_inputs) or 'none'})"
            return GraphInput(src[1:]), None
        if "/" in src:
            node, _, port = src.partition("/")
            if not node or not port:
                return None, f"'{src}' is not node/port"
            return Edge(node, port), None
        if src in graph_inputs:
            return GraphInput(src), None
        return None, (f"'{src}' is neither a graph input nor node/port; write {{value: {src!r}}} "
                      "for a string constant")
    if isinstance(src, dict):
        if len(src) == 1:
            return Const(next(iter(src.values()))), None
        return None, f"a constant is written {{value: ...}}, not {src!r}"
    if src is None:
        return None, None
    return Const(src), None


def save_graph(spec: GraphSpec, path: str | Path) -> Path:
    """Write a graph in this project's format; `.json` gives JSON, anything else YAML."""
    path = Path(path)
    data = spec.to_dict()
    if path.suffix == ".json":
        text = json.dumps(data, indent=2) + "\n"
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path
