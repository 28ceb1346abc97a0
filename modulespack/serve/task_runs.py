"""Running a graph for a task (transcription, speech) from a front door other than the native route:
the feeds made from the task's ports (`tasks.TaskPorts`), the run on the graph's engine through the
app's dispatcher (its time-out, cancellation, concurrency limit), the limits on text and audio
length, and the metrics of `/metrics` counted per request (`tracked`) as the native route counts them.

Every failure is a ServeError (the front door translates it into its own error shape).
"""
from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any, AsyncIterator

import numpy as np

from ..core import Result
from ..io.audio_ports import as_rate
from .encode import rate_value
from .entry import GraphEntry
from .errors import ServeError
from .run import KIND_OF_STATUS
from .state import ServeState
from .tasks import TaskPorts

log = logging.getLogger("modulespack.serve")


@dataclass
class Transcript:
    text: str
    words: list[dict[str, Any]] | None   # [{word, start, end}] seconds, when asked for and the graph gives them
    result: Result


@dataclass
class Speech:
    samples: np.ndarray
    sr: int
    result: Result


class Tracked:
    """What `tracked` counts: set `status` / `kind` for an answer that is not an exception, and
    `timings` once the run is done."""
    status: int = 200
    kind: str | None = None
    timings: Any = None


@asynccontextmanager
async def tracked(state: ServeState, name: str, status_of: Any = None) -> AsyncIterator[Tracked]:
    """Count one request for graph `name` in the app's metrics (in flight, latency, status, errors by
    kind, node times), as `/graphs/{name}/run` does, whichever front door it came through: an error
    raised inside with a `status` (a ServeError, an OpenAIError) counts as that status (or as
    `status_of(status)` says: V2 answers 400 where the native route answers 422), a cancelled task
    as 499 (the client left), any other error as 500."""
    t0 = perf_counter()
    t = Tracked()
    state.metrics.started(name)
    try:
        yield t
    except asyncio.CancelledError:
        t.status, t.kind = 499, "disconnected"
        raise
    except BaseException as err:
        status = getattr(err, "status", None)  # a ServeError, or a front door's own error answer
        if isinstance(status, int) and not isinstance(status, bool):
            t.status = status_of(status) if status_of is not None else status
            t.kind = (getattr(err, "context", None) or {}).get("kind") or getattr(err, "kind", None) \
                or KIND_OF_STATUS.get(status, "error")
        else:
            t.status, t.kind = 500, "internal"
        raise
    finally:
        state.metrics.finished(name, t.status, perf_counter() - t0, t.timings, t.kind)


async def transcribe(state: ServeState, entry: GraphEntry, ports: TaskPorts, samples: np.ndarray, sr: int, *,
                     language: str | None = None, words: bool = False, wait: Any = None) -> Transcript:
    """Run transcription graph `entry` on mono `samples` at `sr` Hz. `words`: fetch the word times too
    (when the graph has them). `wait(awaitable)`: how to await the run (e.g. cancelling it when
    an HTTP client leaves); default: await it."""
    n = int(np.shape(samples)[0]) if np.ndim(samples) else 0
    if sr <= 0 or n / sr > entry.max_audio_seconds:
        raise ServeError(413, f"input '{ports.audio_in}': audio is {n / max(sr, 1):.1f} s long; the limit is "
                              f"{entry.max_audio_seconds:g} s", port=ports.audio_in,
                         limit_seconds=entry.max_audio_seconds, kind="too-large")
    field = entry.form.fields[ports.audio_in]  # type: ignore[index]
    feeds: dict[str, Any] = {ports.audio_in: np.ascontiguousarray(samples, dtype=field.port.dtype)}
    if ports.rate_in:
        rf = entry.form.fields[ports.rate_in]
        feeds[ports.rate_in] = rf.decode(sr if rf.kind == "integer" else float(sr))
    if language and ports.language_in:
        feeds[ports.language_in] = language
    fetches = (ports.text_out,) + ((ports.words_out,) if words and ports.words_out else ())
    res = await _run(state, entry, feeds, fetches, wait)  # type: ignore[arg-type]
    text = res.outputs[ports.text_out]
    return Transcript(str(text) if text is not None else "",
                      word_list(res.outputs.get(ports.words_out)) if words and ports.words_out else None, res)


async def synthesize(state: ServeState, entry: GraphEntry, ports: TaskPorts, text: str, *,
                     voice: str | None = None, language: str | None = None, wait: Any = None) -> Speech:
    """Run speech graph `entry` on `text`; `voice` is the graph's voice name (see
    `TaskPorts.graph_voice`), None for the graph's default."""
    if len(text) > entry.max_text_chars:
        raise ServeError(413, f"input '{ports.text_in}': the text is {len(text):,} characters long; the limit is "
                              f"{entry.max_text_chars:,}", port=ports.text_in, limit_chars=entry.max_text_chars,
                         kind="too-large")
    feeds: dict[str, Any] = {ports.text_in: text}  # type: ignore[dict-item]
    if voice is not None and ports.voice_in:
        feeds[ports.voice_in] = voice
    if language and ports.language_in:
        feeds[ports.language_in] = language
    res = await _run(state, entry, feeds, ports.fetches, wait)
    samples = np.asarray(res.outputs[ports.audio_out])
    try:
        sr = as_rate(rate_value(entry.form, ports.audio_rate, res.outputs, feeds))
    except ValueError as e:
        raise ServeError(500, f"graph '{entry.name}': output '{ports.audio_out}': {e}", port=ports.audio_out) from None
    if samples.ndim != 1 or samples.dtype.kind != "f":
        raise ServeError(500, f"graph '{entry.name}': output '{ports.audio_out}' is not mono float samples "
                              f"(shape {samples.shape}, {samples.dtype})", port=ports.audio_out)
    if len(samples) / sr > entry.max_audio_seconds:
        raise ServeError(413, f"output '{ports.audio_out}': the run made {len(samples) / sr:.1f} s of audio; the "
                              f"limit is {entry.max_audio_seconds:g} s: send a shorter input", port=ports.text_in,
                         limit_seconds=entry.max_audio_seconds, kind="too-large")
    return Speech(samples, sr, res)


async def _run(state: ServeState, entry: GraphEntry, feeds: dict, fetches: tuple[str, ...], wait: Any) -> Result:
    work = state.dispatch.run(entry, feeds, tuple(dict.fromkeys(fetches)))
    return await (wait(work) if wait is not None else work)


def word_list(value: Any) -> list[dict[str, Any]] | None:
    """Word times as [{word, start, end}], or None (logged) when the graph's output is not that."""
    if value is None:
        return None
    try:
        return [{"word": str(w["word"]), "start": float(w["start"]), "end": float(w["end"])} for w in value]
    except (TypeError, KeyError, ValueError):
        log.warning("word times are not a list of {word, start, end}: %.200r", value)
        return None
