"""Running one graph over a corpus: every utterance of a list, outputs written in the toolkit's
conventions, resumable, failures reported per utterance.

An item is one utterance: ``{"name": "utt1", "inputs": {input: value}, "outputs": {fetch: path}}``.
An input value that is a string (or ``{"file": PATH}``) is a file, read by its extension (`read_item`;
a WAV fills the graph input carrying its rate, as `modulespack run` does); anything else (or
``{"value": V}``) is the value itself. Outputs ending in ``.wav`` are written as WAV at the rate the
graph gives them (`modulespack.io.audio_ports`), text as UTF-8, bytes as they are, and everything
else as raw little-endian float32. Without ``outputs`` an item's fetched values come back in its result.

    for r in run_batch("features.yaml", make_items(names, {"wav": "wav/{name}.wav"},
                                                  {"mgc": "mgc/{name}.mgc"}), workers=2):
        print(r.name, r.status, r.error or "")

Inputs are read and outputs written on the driver for every engine (Ray actors read inputs with
the same `read_item`), so the files do not depend on where the graph ran.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import FIRST_COMPLETED, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from .batch_items import (done_already, fetches_for, light_feeds, read_item,
                          remove_stale_temps, write_item)

#: a batch runs one utterance per worker at a time: threads inside a run would only compete
DEFAULT_SESSION_OPTIONS = {"parallel": False}


@dataclass
class ItemResult:
    """What happened to one item: status "done", "skipped" (its outputs existed) or "failed"."""
    name: str
    status: str
    files: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)   # values, when the item names no output files
    error: str | None = None
    audio_seconds: float = 0.0                               # length of its input audio (WAV inputs)
    seconds: float = 0.0                                     # the graph's run time


def _error_text(e: BaseException) -> str:
    """One line for the failures file: the error's own message (core errors name node and input)."""
    return " ".join((str(e) or type(e).__name__).split())


def run_batch(graph: Any, items: Iterable[Mapping[str, Any]], *, engine: str = "local", workers: int | None = None,
              address: str | None = None, fetches: Sequence[str] | None = None, wav_format: str = "float",
              session_options: Mapping[str, Any] | None = None, retries: int = 1,
              skip_existing: bool = True, runtime_env: Mapping[str, Any] | None = None) -> Iterator[ItemResult]:
    """Run `graph` (a BuiltGraph or a graph file) over `items`; yields one ItemResult per item as it
    finishes (skipped ones first). An item whose output files all exist is skipped; a run whose worker
    died is tried again `retries` times. Engines: "local" (processes), "thread", "ray" (`address`,
    `runtime_env`: how to reach the cluster and what to ship to its nodes)."""
    from ..core import build_graph

    if isinstance(graph, (str, os.PathLike)):
        graph = build_graph(graph)
    items = list(items)
    names = [it.get("name") for it in items]
    if any(not isinstance(n, str) or not n for n in names):
        raise ValueError("every item needs a non-empty 'name'")
    twice = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) < len(names) else []
    if twice:   # they would write the same files
        raise ValueError(f"item names must be unique; given more than once: {', '.join(twice[:5])}")
    remove_stale_temps(items)
    todo = []
    for it in items:
        if skip_existing and done_already(it):
            yield ItemResult(it["name"], "skipped", files=dict(it["outputs"]))
        else:
            todo.append(it)
    if not todo:
        return
    opts = dict(DEFAULT_SESSION_OPTIONS if session_options is None else session_options)
    workers = max(1, workers or os.cpu_count() or 1)
    if engine == "ray":
        yield from _run_ray(graph, todo, workers, address, fetches, wav_format, opts, runtime_env)
    else:
        yield from _run_engine(graph, todo, engine, workers, fetches, wav_format, opts, retries)


def _item_fetches(graph: Any, item: Mapping[str, Any], fetches: Sequence[str] | None) -> tuple[str, ...] | None:
    files = item.get("outputs")
    if files:
        return fetches_for(graph, files)
    return tuple(fetches) if fetches else None


def _finish(graph: Any, item: Mapping[str, Any], outcome: Any, wav_format: str) -> ItemResult:
    """An ItemResult from a run's Result (outputs written here) or the exception it raised."""
    name = item["name"]
    if isinstance(outcome, BaseException):
        return ItemResult(name, "failed", error=_error_text(outcome))
    feeds, audio = light_feeds(item, graph)
    files = item.get("outputs")
    try:
        if files:
            return ItemResult(name, "done", files=write_item(graph, item, outcome.outputs, wav_format, feeds),
                              audio_seconds=audio, seconds=outcome.seconds)
    except (OSError, ValueError, TypeError, LookupError) as e:
        return ItemResult(name, "failed", error=f"writing outputs: {_error_text(e)}")
    return ItemResult(name, "done", outputs=dict(outcome.outputs), audio_seconds=audio, seconds=outcome.seconds)


def _make_engine(kind: str, graph: Any, workers: int, opts: Mapping[str, Any]) -> Any:
    from .factory import make_engine
    return make_engine(kind, graph, workers=workers, session_options=dict(opts))


def _run_engine(graph: Any, todo: list, kind: str, workers: int, fetches: Sequence[str] | None,
                wav_format: str, opts: Mapping[str, Any], retries: int) -> Iterator[ItemResult]:
    from .base import EngineError, WorkerDied

    eng = _make_engine(kind, graph, workers, opts)
    try:
        eng.start()
    except EngineError:
        eng.close()
        raise
    except Exception as e:  # the thread engine's GraphError: a module cannot be set up here
        eng.close()
        raise EngineError(_error_text(e)) from e
    pending: dict[Any, tuple[Mapping[str, Any], int, Any]] = {}   # future -> (item, tries so far, Run)
    queue = list(reversed(todo))
    window = 2 * workers   # enough queued that no worker waits for the driver

    def submit(item: Mapping[str, Any], tries: int) -> ItemResult | None:
        try:
            feeds = read_item(item, graph)
        except (OSError, ValueError, TypeError) as e:
            return ItemResult(item["name"], "failed", error=_error_text(e))
        run = eng.submit(feeds, _item_fetches(graph, item, fetches))
        pending[run.future] = (item, tries, run)
        return None

    try:
        while queue or pending:
            while queue and len(pending) < window:
                failed = submit(queue.pop(), 0)
                if failed is not None:
                    yield failed
            if not pending:
                continue
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                item, tries, _ = pending.pop(fut)
                try:
                    outcome = fut.result()
                except EngineError:   # nothing can run (the graph cannot be set up, no worker can start):
                    raise             # the local engine fails every queued run with it, so this wait ends
                except WorkerDied as e:
                    if tries < retries:
                        failed = submit(item, tries + 1)
                        if failed is not None:
                            yield failed
                        continue
                    outcome = e
                except Exception as e:   # core errors: FeedError, NodeError, NodeInputError, ...
                    outcome = e
                yield _finish(graph, item, outcome, wav_format)
    finally:
        for _, _, run in pending.values():
            run.cancel("the batch stopped")
        eng.close()


def _run_ray(graph: Any, todo: list, workers: int, address: str | None, fetches: Sequence[str] | None,
             wav_format: str, opts: Mapping[str, Any], runtime_env: Mapping[str, Any] | None) -> Iterator[ItemResult]:
    from .ray_batch import run_ray_batch

    by_name = {it["name"]: it for it in todo}
    jobs = [dict(it, fetches=_item_fetches(graph, it, fetches)) for it in todo]
    for name, outcome in run_ray_batch(graph, jobs, workers=workers, address=address, session_options=dict(opts),
                                       runtime_env=runtime_env):
        yield _finish(graph, by_name[name], outcome, wav_format)


# --------------------------------------------------------------------------- summary


@dataclass
class BatchSummary:
    """Counts and totals over a batch's results, for the progress bar and the closing line."""
    done: int = 0
    skipped: int = 0
    failed: int = 0
    audio_seconds: float = 0.0
    started: float = field(default_factory=time.monotonic)
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, r: ItemResult) -> None:
        if r.status == "done":
            self.done += 1
            self.audio_seconds += r.audio_seconds
        elif r.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append((r.name, r.error or "failed"))

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def text(self) -> str:
        t = self.elapsed
        line = f"done {self.done}, skipped {self.skipped}, failed {self.failed} in {t:.1f} s"
        if self.audio_seconds > 0 and t > 0:
            line += (f"; {self.audio_seconds / 3600:.3g} h of audio, "
                     f"{self.audio_seconds / t:.1f} audio hours per wall hour")
        return line


def failure_line(name: str, error: str) -> str:
    return f"{name}\t{' '.join(error.split())}\n"


def write_failures(path: str | os.PathLike, failures: Sequence[tuple[str, str]]) -> None:
    """The failures file: `name TAB error`, one line each, written atomically."""
    from ..io import atomic_open

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(failure_line(n, e) for n, e in failures)
