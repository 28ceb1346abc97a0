"""A served graph's examples (`examples:` in its file, see `modulespack.core.examples`): read and
checked at start-up, listed for the page's one-click inputs, and the first one run once before
/readyz says ready (the first run of a graph pays for imports, JIT compilation, caches).

An example is decoded like a run request: its values as JSON inputs, its files as uploads (a WAV
for an audio input fills the rate input), so it fails at start-up exactly as a request would.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ..core import Problem
from ..core.examples import example_file, file_ref
from .encode import to_jsonable
from .errors import ServeError

log = logging.getLogger("modulespack.serve")


@dataclass
class Example:
    name: str
    values: dict[str, Any] = field(default_factory=dict)                    # input -> JSON value
    files: dict[str, tuple[bytes, str]] = field(default_factory=dict)       # input -> (bytes, file name)


def load_examples(graph: Any, form: Any) -> tuple[list[Example], list[Problem]]:
    """The examples of a built graph, files read and every example decoded once (to find a bad
    file or value at start-up, not on the first click)."""
    spec = graph.spec
    file = str(spec.path) if spec.path else None
    out: list[Example] = []
    problems: list[Problem] = []
    for name, values in spec.examples.items():
        ex = Example(name)
        ok = True
        for k, v in values.items():
            ref = file_ref(v)
            if ref is None:
                ex.values[k] = v
                continue
            path = example_file(spec.base_dir, ref)
            try:
                ex.files[k] = (path.read_bytes(), path.name)
            except OSError as e:
                problems.append(Problem(f"example '{name}', input '{k}': cannot read {ref}: {e.strerror or e}",
                                        file=file, port=k, kind="example"))
                ok = False
        if not ok:
            continue
        try:
            example_feeds(form, ex)
        except ServeError as e:
            problems.append(Problem(f"example '{name}': {e.message}", file=file, port=e.context.get("port"),
                                    kind="example"))
            continue
        out.append(ex)
    return out, problems


def example_feeds(form: Any, ex: Example) -> dict[str, Any]:
    """The feeds of an example, decoded as a request with these inputs would be (every input the
    graph's outputs need given); raises ServeError."""
    from .feeds import check_missing, decode_inputs
    feeds = decode_inputs(form, ex.values, {}, ex.files)
    check_missing(form, feeds, form.output_plan(None).fetches)
    return feeds


def examples_info(graph_name: str, examples: list[Example]) -> list[dict[str, Any]]:
    """The examples in the graph listing: values as they are, files as links to fetch them."""
    base = f"graphs/{quote(graph_name, safe='')}/examples/"
    return [{"name": ex.name, "inputs": {k: to_jsonable(v) for k, v in ex.values.items()},
             "files": {k: {"url": base + quote(ex.name, safe="") + "/" + quote(k, safe=""), "name": fname,
                           "bytes": len(data)}
                       for k, (data, fname) in ex.files.items()}}
            for ex in examples]


def warm_up_session(name: str, session: Any) -> None:
    """Run graph `name`'s first example once on `session` (an engine's warm-up: in this process for
    the thread engine, in every worker for the others), so that its first-run costs are paid before
    the engine is ready. A failure is logged and raised as a RuntimeError naming the example (the
    engine reports it in its health; the graph stays usable)."""
    from .form import GraphForm

    graph = session.graph
    if not graph.spec.examples:
        return
    form = GraphForm(graph)
    examples, problems = load_examples(graph, form)
    if not examples:
        return
    ex = examples[0]
    try:
        session.run(example_feeds(form, ex), form.output_plan(None).fetches)
    except Exception as e:
        message = e.message if isinstance(e, ServeError) else f"{type(e).__name__}: {e}"
        log.error("graph %s: its example '%s' failed at start-up: %s", name, ex.name, message)
        raise RuntimeError(f"example '{ex.name}': {message}") from None
