"""The graphs an app serves: found in the start-up paths, validated once, each given its engine.

Only files named at start-up (or found in a start-up folder) are ever opened: requests name a
graph, and the name is looked up here, never turned into a path.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..core import GraphError, Problem, build_graph
from ..core.spec import GRAPH_SUFFIXES
from ..engines import make_engine
from ..engines.factory import ALIASES, INTERNAL_KINDS, KINDS
from .entry import GraphEntry
from .errors import GraphLoadError
from .examples import warm_up_session
from .feeds import DEFAULT_MAX_TEXT_CHARS


def graph_files(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[Problem]]:
    """Graph files of the start-up paths: a folder gives its *.yaml, *.yml, *.json (not recursive,
    hidden files skipped); a file is taken as it is."""
    files: list[Path] = []
    problems: list[Problem] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            found = sorted(f for f in path.iterdir()
                           if f.is_file() and f.suffix in GRAPH_SUFFIXES and not f.name.startswith("."))
            if not found:
                problems.append(Problem(f"no graph files ({', '.join('*' + s for s in GRAPH_SUFFIXES)}) in this folder",
                                        file=str(path), kind="file"))
            files += found
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem("no such file or folder", file=str(path), kind="file"))
    seen: set[Path] = set()
    unique = []
    for f in files:
        r = f.resolve()
        if r not in seen:
            seen.add(r)
            unique.append(f)
    return unique, problems


def engine_kind(kind: str) -> str:
    """The engine name for `kind` (aliases such as the old "process" resolved); ValueError if unknown."""
    name = ALIASES.get(kind, kind)
    if name not in KINDS and name not in INTERNAL_KINDS:
        raise ValueError(f"engine is one of {', '.join(KINDS)} (or 'process' for local), not {kind!r}")
    return name


def load_graphs(paths: Iterable[str | os.PathLike], *, engine: str | Mapping[str, str] = "thread",
                concurrency: int = 4, max_audio_seconds: float = 600.0,
                max_text_chars: int = DEFAULT_MAX_TEXT_CHARS, engine_options: Mapping[str, Any] | None = None
                ) -> dict[str, GraphEntry]:
    """Every graph of `paths`, validated, with an engine each (not started: the app's warm-up or the
    first run starts it). `engine`: a kind for all, or graph name -> kind (the others "thread").
    Raises GraphLoadError listing every problem of every file."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    if max_text_chars < 1:
        raise ValueError("max_text_chars must be at least 1")
    per_graph = engine if isinstance(engine, Mapping) else None
    kinds = {n: engine_kind(k) for n, k in per_graph.items()} if per_graph is not None else None
    default = "thread" if per_graph is not None else engine_kind(str(engine))
    files, problems = graph_files(paths)
    entries: dict[str, GraphEntry] = {}
    names: dict[str, Path] = {}
    for f in files:
        name = f.stem
        if name in names:
            problems.append(Problem(f"two graphs would be served as '{name}': {names[name]} and {f}; "
                                    "rename one", file=str(f), kind="duplicate"))
            continue
        names[name] = f
        kind = kinds.get(name, default) if kinds is not None else default
        try:
            graph = build_graph(f)
            eng = make_engine(kind, graph, warm_up=functools.partial(warm_up_session, name),
                              **{k: v for k, v in (engine_options or {}).items() if v is not None})
        except GraphError as e:
            problems += e.problems
            continue
        entries[name] = GraphEntry(name, f, graph, eng, concurrency, max_audio_seconds, max_text_chars)
    for name in sorted(set(kinds or ()) - set(names)):
        problems.append(Problem(f"an engine is set for graph '{name}', which is not served "
                                f"(graphs: {', '.join(names) or 'none'})", kind="engine"))
    if problems:
        close_all(entries.values())
        raise GraphLoadError(problems)
    return entries


def close_all(entries: Iterable[GraphEntry]) -> None:
    for e in entries:
        e.engine.close()
