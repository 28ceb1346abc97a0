"""POST /graphs/{name}/run: receive, decode (`decode`), run (`registry`), answer (`encode`), count
(`metrics`). Big bodies are decoded, and big outputs encoded, on a thread, off the event loop."""
from __future__ import annotations

import asyncio
import json
import logging
from time import perf_counter
from typing import Any, Mapping

from starlette.requests import Request
from starlette.responses import Response

from .decode import WAV_TYPES, prepare_run, receive
from .encode import encode_answer, timings_ms
from .errors import ServeError, error_response
from .state import ServeState

log = logging.getLogger("modulespack.serve")

OFFLOAD_BYTES = 256 * 1024  # bodies and outputs beyond this are parsed / encoded on a thread
MAX_TIMING_HEADERS = 64  # nodes named in X-Timings / Server-Timing (the slowest, for big graphs)
KIND_OF_STATUS = {400: "bad-request", 401: "auth", 404: "unknown-graph", 406: "not-acceptable", 413: "too-large",
                  415: "media", 422: "input", 500: "internal", 504: "timeout"}


def accepts_audio(accept: str | None) -> tuple[bool, bool]:
    """(audio wanted, JSON acceptable) from an Accept header."""
    if not accept or "audio" not in accept:
        return False, True
    audio_q = json_q = any_q = 0.0
    for item in accept.split(","):
        parts = item.strip().split(";")
        mt = parts[0].strip().lower()
        q = 1.0
        for p in parts[1:]:
            k, _, v = p.strip().partition("=")
            if k.strip() == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        if mt in WAV_TYPES or mt == "audio/*":
            audio_q = max(audio_q, q)
        elif mt in ("application/json", "application/*"):
            json_q = max(json_q, q)
        elif mt == "*/*":
            any_q = max(any_q, q)
    json_ok = max(json_q, any_q)
    return audio_q > 0 and audio_q >= json_q, json_ok > 0


def _big(outputs: Mapping[str, Any]) -> bool:
    n = 0
    for v in outputs.values():
        nb = getattr(v, "nbytes", None)
        if nb is not None:
            n += nb
        elif isinstance(v, (bytes, str, list)):
            n += len(v)
    return n > OFFLOAD_BYTES


def timing_headers(timings: Mapping[str, float], seconds: float) -> dict[str, str]:
    ms = timings_ms(timings)
    if len(ms) > MAX_TIMING_HEADERS:  # keep headers small for proxies: the slowest nodes only
        ms = dict(sorted(ms.items(), key=lambda kv: -kv[1])[:MAX_TIMING_HEADERS])
    parts = [f"total;dur={seconds * 1000.0:.3f}"]
    # metric names must be tokens: n0, n1...; the node's name goes in desc (a quoted, ASCII string)
    parts += [f"n{i};desc={json.dumps(n)};dur={v}" for i, (n, v) in enumerate(ms.items())]
    return {"X-Timings": json.dumps(ms, separators=(",", ":")), "Server-Timing": ", ".join(parts)}


async def _maybe_offloaded(big: bool, fn: Any, *args: Any) -> Any:
    if big:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    return fn(*args)


async def run_graph(state: ServeState, name: str, request: Request) -> Response:
    """POST /graphs/{name}/run."""
    t0 = perf_counter()
    e = state.graphs.get(name)
    known = e is not None
    metrics = state.metrics
    if known:
        metrics.started(name)
    status, kind, timings = 200, None, None
    try:
        state.check_key(request)
        if e is None:
            e = state.entry(name)  # raises 404
        wav_format = request.query_params.get("wav_format", "pcm16")
        if wav_format not in ("pcm16", "float"):
            raise ServeError(422, f"wav_format: 'pcm16' or 'float', not {wav_format!r}", port="wav_format")
        body = await receive(request, state.max_upload_bytes)
        form = e.form
        # parsing megabytes of JSON or decoding a long WAV: not on the loop
        feeds, plan = await _maybe_offloaded(body.size > OFFLOAD_BYTES, prepare_run, form, name,
                                             request.query_params.multi_items(), body)
        del body
        want_audio, json_ok = accepts_audio(request.headers.get("accept"))
        if want_audio and len(plan.audio_keys) != 1 and not json_ok:
            raise ServeError(406, f"Accept asks for audio/wav, which needs exactly one audio output; this run has "
                                  f"{len(plan.audio_keys)} ({', '.join(plan.audio_keys) or 'none'}): fetch one",
                             kind="not-acceptable")
        res = await state.registry.run(e, feeds, plan.fetches)
        timings = res.timings
        headers = timing_headers(res.timings, res.seconds)
        audio = want_audio and len(plan.audio_keys) == 1
        data = await _maybe_offloaded(_big(res.outputs), encode_answer, form, plan, res, feeds, wav_format, audio)
        if audio:
            data, sr, seconds = data
            key = plan.audio_keys[0]
            headers.update({"X-Sample-Rate": str(sr), "X-Audio-Seconds": f"{seconds:.6f}",
                            "Content-Disposition": f'inline; filename="{_filename(name, key)}.wav"'})
            return Response(data, media_type="audio/wav", headers=headers)
        return Response(data, media_type="application/json", headers=headers)
    except ServeError as err:
        status = err.status
        kind = err.context.get("kind") or KIND_OF_STATUS.get(status, "error")
        if known and "graph" not in err.context:
            err.context["graph"] = name
        return err.response()
    except Exception as err:
        status, kind = 500, "internal"
        log.exception("graph %s: unexpected error", name)
        body = {"error": f"internal error: {type(err).__name__}: {err}", "graph": name, "kind": kind}
        if state.debug:
            import traceback
            body["traceback"] = traceback.format_exc()
        return error_response(500, body)
    finally:
        metrics.finished(name, status, perf_counter() - t0, timings, kind, known)


def _filename(graph: str, key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{graph}-{key}")[:80]
