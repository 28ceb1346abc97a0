"""Reading a graph file's text: JSON or YAML into plain data (duplicate keys refused, syntax errors
naming file and line), and each node's line in the file, so that every problem can point there.
`spec.load_graph` puts these together with the spec's model."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import GraphError, Problem
from .node_options import NODE_OPTION_KEYS


def _construct_mapping(loader, node, deep=False):
    seen = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)  # cached: construct_mapping reuses it
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping_plain(node, deep)


def unique_key_loader(base: type) -> type:
    """A PyYAML loader class over `base` that reports two equal keys (YAML silently keeps the last)."""
    cls = type(f"Unique{base.__name__}", (base,), {"construct_mapping_plain": base.construct_mapping})
    cls.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
    return cls


# libyaml's C parser where PyYAML has it (its wheels do): the pure-Python one takes most of a second
# for a 1,000-node file. One pass gives both the data and the nodes' line numbers.
YAML_LOADER = unique_key_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_yaml(text: str, loader: type | None = None) -> tuple[Any, yaml.Node | None]:
    """(data, root node) of a YAML document: the node tree keeps each part's line number."""
    ld = (loader or YAML_LOADER)(text)
    try:
        root = ld.get_single_node()
        return (ld.construct_document(root) if root is not None else None), root
    finally:
        ld.dispose()


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """JSON, like YAML, silently keeps the last of two equal keys; report them instead."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def read_graph_data(path: Path) -> tuple[Any, str]:
    """Parse a graph file's text; syntax errors become a GraphError naming file and line."""
    data, text, _ = read_graph_file(path)
    return data, text


def read_graph_file(path: Path) -> tuple[Any, str, yaml.Node | None]:
    """(data, text, YAML root node or None)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise GraphError([Problem(f"cannot read graph file: {e.strerror or e}", file=str(path), kind="file")]) from None
    try:
        if path.suffix == ".json":
            return json.loads(text, object_pairs_hook=_unique_pairs), text, None
        data, root = load_yaml(text)
        return data, text, root
    except json.JSONDecodeError as e:
        raise GraphError([Problem(f"invalid JSON: {e.msg} (column {e.colno})", file=str(path), line=e.lineno,
                                  kind="syntax")]) from None
    except ValueError as e:  # a duplicate key (the hook gives no position)
        raise GraphError([Problem(f"invalid JSON: {e}", file=str(path), kind="syntax")]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        msg = " ".join(str(x) for x in (getattr(e, "context", None), getattr(e, "problem", None)) if x) or str(e)
        raise GraphError([Problem(f"invalid YAML: {msg}", file=str(path), line=mark.line + 1 if mark else None,
                                  kind="syntax")]) from None


def attach_yaml_lines(spec: Any, root: yaml.Node) -> None:
    """Line of each node from the YAML parser's own marks (comments, flow style, anything)."""
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if getattr(key, "value", None) != "nodes":
            continue
        if isinstance(value, yaml.SequenceNode):
            marks = [(item.start_mark.line + 1, item) for item in value.value]
        elif isinstance(value, yaml.MappingNode):
            marks = [(k.start_mark.line + 1, v) for k, v in value.value]
        else:
            return
        if len(marks) == len(spec.nodes):
            for node, (line, body) in zip(spec.nodes, marks):
                node.line = line
                node.lines = _option_lines(body)
        return


def _option_lines(body: yaml.Node) -> dict[str, int]:
    """Lines of a node's engine options and of their keys, from its YAML mapping."""
    lines: dict[str, int] = {}
    if not isinstance(body, yaml.MappingNode):
        return lines
    for k, v in body.value:
        if getattr(k, "value", None) in NODE_OPTION_KEYS:
            lines[k.value] = k.start_mark.line + 1
            if isinstance(v, yaml.MappingNode):
                for sk, _ in v.value:
                    lines[f"{k.value}.{getattr(sk, 'value', sk)}"] = sk.start_mark.line + 1
    return lines


def attach_text_lines(spec: Any, text: str) -> None:
    """Best-effort line numbers for nodes so problems point into the file (the n-th node of a name
    gets the n-th place that name is defined)."""
    used: dict[str, int] = {}
    # a graph-level "name" equal to a node's must not take that node's line
    start = max(0, min((i for i in (text.find('"nodes"'), text.find('"node"')) if i >= 0), default=0))
    for n in spec.nodes:
        k = used.get(n.name, 0)
        used[n.name] = k + 1
        pat = r'(^|[\s{,-])"?name"?\s*:\s*["\']?' + re.escape(n.name) + r'["\']?\s*(?=,|$|})'
        hits = list(re.compile(pat, re.M).finditer(text, start)) or \
            list(re.compile(r'^\s*()' + re.escape(n.name) + r'\s*:', re.M).finditer(text, start))
        if k < len(hits):
            m = hits[k]
            n.line = text.count("\n", 0, m.start() + len(m.group(1))) + 1
