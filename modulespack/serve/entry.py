"""One served graph: its validated graph and engine, its form and limits, and what its runs share (a
concurrency limit per event loop, recent node timings)."""
from __future__ import annotations

import asyncio
import weakref
from pathlib import Path
from typing import Mapping

from ..core import BuiltGraph
from ..engines import Engine
from .form import GraphForm


class GraphEntry:
    """One served graph: its validated graph, engine, form, limits."""

    def __init__(self, name: str, path: Path, graph: BuiltGraph, engine: Engine, concurrency: int,
                 max_audio_seconds: float, max_text_chars: int):
        self.name = name
        self.path = path
        self.graph = graph
        self.engine = engine
        self.concurrency = concurrency
        self.form = GraphForm(graph, max_audio_seconds)
        self.max_audio_seconds = max_audio_seconds  # inputs and outputs
        self.max_text_chars = max_text_chars        # each text input
        self.cost: dict[str, float] = {}          # node -> recent seconds (names the slowest on a timeout)
        self._sems: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore]" = \
            weakref.WeakKeyDictionary()
        self.svg: bytes | None = None              # diagram without timings, drawn once

    @property
    def description(self) -> str:
        return self.graph.spec.description.strip()

    def semaphore(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        # one per event loop: an asyncio.Semaphore binds to the loop it first waits on (a TestClient
        # without `with` runs each request on a new loop); under uvicorn there is one loop.
        sem = self._sems.get(loop)
        if sem is None:
            sem = self._sems[loop] = asyncio.Semaphore(self.concurrency)
        return sem

    def note_timings(self, timings: Mapping[str, float]) -> None:
        cost = self.cost
        for n, dt in timings.items():
            old = cost.get(n)
            cost[n] = dt if old is None else 0.8 * old + 0.2 * dt
        self.recent_s = sum(cost.values())

    recent_s: float | None = None  # recent seconds of work per run (its nodes' times), None before any

    def slowest(self) -> str | None:
        return max(self.cost, key=self.cost.__getitem__) if self.cost else None
