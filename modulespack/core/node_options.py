"""What a graph file may say about where and how one node runs, beside its parameters:

    batch:     {max_size: 8, max_wait_s: 0.01}    # group concurrent runs of this node (batchable modules)
    resources: {num_cpus: 1, num_gpus: 0, memory_mb: 500, needs_processes: true}   # overrides the class's
    deploy:    {replicas: 2, num_cpus: 1, max_batch_size: 8, batch_wait_s: 0.01}   # own Ray Serve deployment

Checked at build time like parameters (every wrong key or value is a Problem), and handed to
engines normalized: defaults filled in, so they never guess.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

from .module import RESOURCE_DEFAULTS

NODE_OPTION_KEYS = ("batch", "resources", "deploy")


def _number(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v:
        return f"expected a number >= 0, got {v!r}"
    return None if v >= 0 else f"must not be negative, got {v!r}"


def _count(least: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int):
            return f"expected a whole number >= {least}, got {v!r}"
        return None if v >= least else f"must be >= {least}, got {v!r}"
    return check


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else f"expected true or false, got {v!r}"


BATCH_DEFAULTS: Mapping[str, Any] = {"max_size": 8, "max_wait_s": 0.01}

SCHEMAS: dict[str, dict[str, Callable[[Any], str | None]]] = {
    "batch": {"max_size": _count(1), "max_wait_s": _number},
    "resources": {"num_cpus": _number, "num_gpus": _number, "memory_mb": _count(0), "needs_processes": _flag},
    "deploy": {"replicas": _count(1), "num_cpus": _number, "num_gpus": _number, "memory_mb": _count(0),
               "max_batch_size": _count(1), "batch_wait_s": _number},
}


def option_problems(key: str, value: Any) -> list[tuple[str, str]]:
    """(where, problem) pairs for one node option as written; `where` is `key` or `key.sub`."""
    if value is None or (isinstance(value, bool) and key != "resources"):
        return []  # absent; `batch: true` / `deploy: true` take the defaults
    schema = SCHEMAS[key]
    if not isinstance(value, Mapping):
        shape = "a mapping" if key == "resources" else "a mapping (or true/false)"
        return [(key, f"expected {shape} with keys {', '.join(schema)}, got {value!r}")]
    out = []
    for sub, v in value.items():
        check = schema.get(sub)
        if check is None:
            out.append((f"{key}.{sub}", f"unknown key (keys: {', '.join(schema)})"))
            continue
        why = check(v)
        if why:
            out.append((f"{key}.{sub}", why))
    return out


def normalize(cls: type, batch: Any, resources: Any, deploy: Any) -> tuple[dict | None, dict, dict | None]:
    """(batch, resources, deploy) of a node whose options passed `option_problems`: batch and
    deploy None when off, resources the class's merged with the node's over RESOURCE_DEFAULTS;
    deploy's resources default to the node's, its batching to the node's `batch:`."""
    b = None if batch is None or batch is False else {**BATCH_DEFAULTS, **(batch if isinstance(batch, Mapping) else {})}
    r = {**RESOURCE_DEFAULTS, **getattr(cls, "resources", {}), **(resources or {})}
    d = None
    if deploy is not None and deploy is not False:
        d = {"replicas": 1, "num_cpus": r["num_cpus"], "num_gpus": r["num_gpus"], "memory_mb": r["memory_mb"],
             "max_batch_size": b["max_size"] if b else 1, "batch_wait_s": b["max_wait_s"] if b else 0.0,
             **(deploy if isinstance(deploy, Mapping) else {})}
    return b, r, d


def combined_resources(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Resources of a nested graph run as one node: its nodes run one after another in one
    process, so CPUs and GPUs are the largest any inner node asks, memory (models loaded at once)
    the sum, and it needs processes if any inner node does."""
    parts = list(parts)
    if not parts:
        return dict(RESOURCE_DEFAULTS)
    return {"num_cpus": max(p["num_cpus"] for p in parts), "num_gpus": max(p["num_gpus"] for p in parts),
            "memory_mb": sum(p["memory_mb"] for p in parts),
            "needs_processes": any(p["needs_processes"] for p in parts)}
