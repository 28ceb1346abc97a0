"""Examples in graph files: named sets of input values, for demos, warm-up runs and checks.

    examples:
      hello: {text: "hello there"}
      spoken: {wav: {file: audio/hello.wav}}      # a file, relative to the graph file

A value is what the graph input takes (as in a JSON run request), or `{file: PATH}`: a file relative
to the graph file (a WAV for an audio input; the front ends read it and fill its rate input). Core
only checks names and that the files exist; running examples is the front ends' business
(`modulespack check --examples`, the server's warm-up and demo page).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .errors import Problem


def file_ref(value: Any) -> str | None:
    """The path of a `{file: PATH}` example value, else None."""
    if isinstance(value, dict) and set(value) == {"file"} and isinstance(value["file"], str):
        return value["file"]
    return None


def example_file(base_dir: Path, ref: str) -> Path:
    """An example file's path (`ref` relative to the graph file's folder)."""
    return (base_dir / ref).resolve()


def parse_examples(raw: Any, inputs: dict[str, Any], path: Path | None) -> tuple[dict[str, dict[str, Any]],
                                                                                  list[Problem]]:
    """(examples: name -> {input: value}, problems) of a graph file's `examples:` value."""
    file = str(path) if path else None
    problems: list[Problem] = []
    lines: dict[tuple[str, ...], int] | None = None

    def problem(msg: str, *where: str, port: str | None = None) -> None:
        nonlocal lines
        if lines is None:  # only files with a problem are read again, for its line
            lines = _example_lines(path)
        line = next((lines[where[:i]] for i in range(len(where), 0, -1) if where[:i] in lines), lines.get(()))
        problems.append(Problem(msg, file=file, port=port, line=line, kind="example"))

    if raw is None:
        return {}, problems
    if not isinstance(raw, dict):
        problem("'examples' maps example names to input values, e.g. examples: {hello: {text: hi}}")
        return {}, problems
    base = path.parent if path else Path.cwd()
    out: dict[str, dict[str, Any]] = {}
    for name, values in raw.items():
        name = str(name)
        if values is None:
            values = {}
        if not isinstance(values, dict):
            problem(f"example '{name}' maps input names to values, not {type(values).__name__}", name)
            continue
        for k, v in values.items():
            k = str(k)
            if k not in inputs:
                problem(f"example '{name}': unknown input '{k}' (inputs: {', '.join(inputs) or 'none'})",
                        name, k, port=k)
                continue
            ref = file_ref(v)
            if isinstance(v, dict) and "file" in v and ref is None:
                problem(f"example '{name}', input '{k}': a file is written {{file: PATH}}", name, k, port=k)
            elif ref is not None and not example_file(base, ref).is_file():
                problem(f"example '{name}', input '{k}': no file {ref} (relative to the graph file)", name, k,
                        port=k)
        out[name] = {str(k): v for k, v in values.items()}
    return out, problems


def _example_lines(path: Path | None) -> dict[tuple[str, ...], int]:
    """Lines of `examples:` (key ()), each example (name,) and each of its inputs (name, input)."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    if path.suffix == ".json":
        m = re.search(r'"examples"\s*:', text)
        return {(): text.count("\n", 0, m.start()) + 1} if m else {}
    import yaml
    try:
        root = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return {}
    out: dict[tuple[str, ...], int] = {}
    for key, value in getattr(root, "value", ()) if isinstance(root, yaml.MappingNode) else ():
        if getattr(key, "value", None) != "examples":
            continue
        out[()] = key.start_mark.line + 1
        for ex_key, ex in value.value if isinstance(value, yaml.MappingNode) else ():
            out[(str(ex_key.value),)] = ex_key.start_mark.line + 1
            for in_key, _ in ex.value if isinstance(ex, yaml.MappingNode) else ():
                out[(str(ex_key.value), str(in_key.value))] = in_key.start_mark.line + 1
    return out
