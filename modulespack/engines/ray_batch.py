"""A batch over a corpus on Ray Data: `ray.data.from_items(jobs).map_batches(BatchActor,
compute=ActorPoolStrategy(size=workers))`, each actor building the graph's Session once and running
the items of each block it gets one by one (blocks of a few items: an actor call each).

A job is a batch item (`engines.batch`: ``{"name", "inputs": {input: file or value}, "fetches"}``).
Actors read the input files themselves (`engines.batch_items.read_item`: the driver sends names and paths,
not audio), run the graph and send back per item the core `Result` or the exception it raised,
pickled: a failing utterance is one error record, never the end of the batch. The driver writes the
outputs (`engines.batch`), with the same writer as every other engine, so the files are identical.

Ray Data restarts an actor that died and runs its block again, up to TASK_RETRIES times. When a block keeps killing its actors, the pass fails as a whole: the items
not answered yet are run again in two halves, and so on, until the item that kills its worker is
alone, and is reported as failed (`WorkerDied`). No item is lost silently, and none is answered twice.
"""
from __future__ import annotations

import gc
import math
import pickle
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from ..core import BuiltGraph
from .base import EngineError, WorkerDied

TASK_RETRIES = 2        # a block whose actor died is run again this often before its pass fails
MAX_FAILED_PASSES = 30  # passes failing in a row this often: the cluster itself is in trouble
BLOCK_ITEMS = 4         # items per block (one actor call each): small blocks balance the actors' load
MAX_BLOCKS = 10_000     # ... but a huge corpus gets bigger blocks: each block costs the driver


class BatchActor:
    """The Ray Data UDF: one Session per actor; `__call__` runs a batch of jobs, one at a time."""

    def __init__(self, spec: dict, path: str | None, session_options: dict):
        from ..core import Session
        from ..core.spec import parse_graph
        self.error: str | None = None
        self.session = None
        try:
            self.session = Session(parse_graph(spec, Path(path) if path else None), **session_options)
        except Exception as e:  # sent back with every item, so the driver can stop with it
            self.error = f"{type(e).__name__}: {e}"

    def __call__(self, batch: dict) -> dict:
        import numpy as np
        outcomes = [self._one(pickle.loads(b)) for b in batch["job"]]
        return {"index": np.asarray(batch["index"]), "outcome": np.array(outcomes, dtype=object)}

    def _one(self, job: dict) -> bytes:
        if self.session is None:
            return pickle.dumps(("setup", self.error))
        from .batch_items import read_item
        try:
            feeds = read_item(job, self.session.graph)
            outcome: tuple = ("done", self.session.run(feeds, job.get("fetches")))
        except Exception as e:
            outcome = ("failed", e)
        try:
            return pickle.dumps(outcome)
        except Exception as e:  # an output or an error that does not pickle: its text, for this item
            return pickle.dumps(("failed", RuntimeError(f"the item's {'result' if outcome[0] == 'done' else 'error'}"
                                                        f" cannot be sent back from the Ray actor: "
                                                        f"{type(e).__name__}: {e}; {outcome[1]!r:.200}")))


def run_ray_batch(graph: BuiltGraph, jobs: Iterable[Mapping[str, Any]], *, workers: int = 1,
                  address: str | None = None, session_options: Mapping[str, Any] | None = None,
                  runtime_env: Mapping[str, Any] | None = None) -> Iterator[tuple[str, Any]]:
    """Run `graph` over `jobs` on Ray Data; yields (job name, core Result or the exception it
    raised) as items finish, in any order. Connects to Ray as `RayEngine` does (`address`) and
    shuts down only a Ray it started."""
    from .ray_cluster import acquire_ray, release_ray

    jobs = list(jobs)
    if not jobs:
        return
    acquire_ray(address, runtime_env)
    try:
        yield from _passes(graph, jobs, workers, dict(session_options or {}), runtime_env)
    finally:
        release_ray()


def _passes(graph: BuiltGraph, jobs: list, workers: int, session_options: dict,
            runtime_env: Mapping[str, Any] | None) -> Iterator[tuple[str, Any]]:
    groups = [list(range(len(jobs)))]
    failed_passes = 0
    while groups:
        group = groups.pop()
        answered: set[int] = set()
        failure = None
        try:
            for i, outcome in _one_pass(graph, jobs, group, workers, session_options, runtime_env):
                if i in answered:
                    continue
                answered.add(i)
                failed_passes = 0
                yield jobs[i]["name"], outcome
        except (EngineError, GeneratorExit, KeyboardInterrupt):
            raise
        except Exception as e:
            failure = f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"
        if failure is None:
            continue
        # the aborted pass's executor sits in reference cycles with its actor pool, which holds
        # CPUs until it is collected (out of the except block: its traceback refers to it)
        gc.collect()
        failed_passes += 1
        if failed_passes >= MAX_FAILED_PASSES:
            raise EngineError(f"the Ray batch keeps failing: {failure}")
        left = [i for i in group if i not in answered]
        if len(left) == 1:
            yield jobs[left[0]]["name"], WorkerDied(
                f"the Ray actor running this item died {TASK_RETRIES + 1} times: {failure}")
        elif left:
            half = len(left) // 2
            groups += [left[half:], left[:half]]


def _one_pass(graph: BuiltGraph, jobs: list, group: list[int], workers: int, session_options: dict,
              runtime_env: Mapping[str, Any] | None) -> Iterator[tuple[int, Any]]:
    import ray.data

    from .ray_cluster import actor_graph_path, graph_resources

    rows = [{"index": i, "job": pickle.dumps(dict(jobs[i]))} for i in group]
    blocks = min(len(rows), MAX_BLOCKS, max(workers * 4, math.ceil(len(rows) / BLOCK_ITEMS)))
    spec = graph.spec
    res = {"num_cpus": 1, **graph_resources(graph)}
    with warnings.catch_warnings():
        # no named parameter takes max_task_retries yet (Ray 2.60): it goes as a remote arg
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*")
        ds = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
            BatchActor, batch_format="numpy", batch_size=None,
            # one block per actor at a time: an actor that dies takes only its own block with it
            compute=ray.data.ActorPoolStrategy(size=min(workers, len(rows)), max_tasks_in_flight_per_actor=1),
            fn_constructor_args=(spec.to_dict(), actor_graph_path(graph, runtime_env), session_options),
            num_cpus=res["num_cpus"], num_gpus=res.get("num_gpus"), memory=res.get("memory"),
            runtime_env=dict(runtime_env) if runtime_env else None, max_task_retries=TASK_RETRIES)
    # this dataset's own context (a copy): the process's default is the user's
    ds.context.enable_progress_bars = False            # the batch command draws its own
    ds.context.execution_options.preserve_order = False  # answered as they finish
    batches = iter(ds.iter_batches(batch_size=None, batch_format="numpy"))
    setup_error = None
    try:
        for batch in batches:
            for i, blob in zip(batch["index"], batch["outcome"]):
                try:
                    kind, value = pickle.loads(blob)
                except Exception as e:  # e.g. an error class the driver cannot import
                    kind, value = "failed", RuntimeError(f"the item's outcome cannot be read here: "
                                                         f"{type(e).__name__}: {e}")
                if kind == "setup":
                    setup_error = value
                    break
                yield int(i), value
            if setup_error is not None:
                break
    finally:
        close = getattr(batches, "close", None)
        if close is not None:  # stops the executor and its actors now, not when collected
            close()
    if setup_error is not None:
        raise EngineError(f"graph '{graph.name}' could not be set up in a Ray actor: {setup_error}")
