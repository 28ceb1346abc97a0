"""POST /graphs/{name}/run: receive (`body`), decode (`feeds`), run (`dispatch`), answer (`encode`),
count (`metrics`). Big bodies are decoded, and big outputs encoded, on a thread, off the event loop.
A client that goes away during the run cancels it."""
from __future__ import annotations

import asyncio
import json
import logging
from time import perf_counter
from typing import Any, Mapping

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from ..io.audio_ports import file_stem
from .body import WAV_TYPES, receive
from .encode import encode_answer, rate_value, timings_ms
from .errors import ServeError, error_response
from .feeds import prepare_run
from .state import ServeState

log = logging.getLogger("modulespack.serve")

OFFLOAD_BYTES = 256 * 1024  # bodies and outputs beyond this are parsed / encoded on a thread
MAX_TIMING_HEADERS = 64  # nodes named in X-Timings / Server-Timing (the slowest, for big graphs)
KIND_OF_STATUS = {400: "bad-request", 401: "auth", 404: "unknown-graph", 406: "not-acceptable", 413: "too-large",
                  415: "media", 422: "input", 499: "disconnected", 500: "internal", 503: "unavailable",
                  504: "timeout"}


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


async def maybe_offloaded(big: bool, fn: Any, *args: Any) -> Any:
    if big:
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)
    return fn(*args)


WATCH_AFTER_S = 0.01  # runs that recently took less are not watched for a client leaving


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the body has been read: the server's next message is that)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def watched(request: Request, e: Any) -> Any:
    """How to await a run of graph entry `e` for `request`: cancelled if the client leaves, except
    runs of a graph whose recent runs were quick. Watching costs two tasks per request, more than a
    run known to be quick costs to finish for nobody (time-outs still stop those)."""
    if e.recent_s is not None and e.recent_s < WATCH_AFTER_S:
        return _awaited
    return lambda work: unless_client_leaves(request, work)


async def _awaited(work: Any) -> Any:
    return await work


async def unless_client_leaves(request: Request, work: Any) -> Any:
    """Await `work` (the run), cancelling it if the client disconnects meanwhile: the dispatcher then
    cancels the run rather than finish it for nobody."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_client_gone(request))
    try:
        done, _ = await asyncio.wait((task, gone), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        gone.cancel()
    if task in done:
        return task.result()
    task.cancel()
    try:
        await task
    except BaseException:  # cancelled, as asked (or it failed meanwhile: nobody is there to tell)
        pass
    raise ServeError(499, "the client went away before the run finished; the run was cancelled",
                     kind="disconnected")


def check_output_audio(max_seconds: float, form: Any, plan: Any, outputs: Mapping[str, Any],
                       feeds: Mapping[str, Any]) -> None:
    """413 naming an audio output longer than the server's audio limit, which applies to outputs as to
    inputs: a too-long result comes from a too-long (or too-demanding) request, the client's to
    change, and is refused rather than sent (10 KB of text to a TTS graph makes a 27 MB WAV)."""
    for key, kind, rate in plan.items:
        x = outputs.get(key)
        if kind != "audio" or not plan.is_audio(key, x):
            continue
        n = int(np.shape(x)[0]) if x is not None and np.ndim(x) else 0
        try:
            sr = float(np.asarray(rate_value(form, rate, outputs, feeds)))
        except (ServeError, TypeError, ValueError):
            continue  # encoding says what is wrong with the rate
        if sr > 0 and n / sr > max_seconds:
            raise ServeError(413, f"output '{key}': the run made {n / sr:.1f} s of audio; the limit is "
                                  f"{max_seconds:g} s: send a shorter input", port=key,
                             limit_seconds=max_seconds, kind="too-large")


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
        if e is None:
            e = state.entry(name)  # raises 404
        wav_format = request.query_params.get("wav_format", "pcm16")
        if wav_format not in ("pcm16", "float"):
            raise ServeError(422, f"wav_format: 'pcm16' or 'float', not {wav_format!r}", port="wav_format")
        body = await receive(request, state.max_upload_bytes)
        form = e.form
        # parsing megabytes of JSON or decoding a long WAV: not on the loop
        feeds, plan = await maybe_offloaded(body.size > OFFLOAD_BYTES, prepare_run, form, name,
                                             request.query_params.multi_items(), body, e.max_text_chars)
        del body
        want_audio, json_ok = accepts_audio(request.headers.get("accept"))
        if want_audio and len(plan.audio_keys) != 1 and not json_ok:
            raise ServeError(406, f"Accept asks for audio/wav, which needs exactly one audio output; this run has "
                                  f"{len(plan.audio_keys)} ({', '.join(plan.audio_keys) or 'none'}): fetch one",
                             kind="not-acceptable")
        work = state.dispatch.run(e, feeds, plan.fetches)
        res = await watched(request, e)(work)
        timings = res.timings
        check_output_audio(e.max_audio_seconds, form, plan, res.outputs, feeds)
        headers = timing_headers(res.timings, res.seconds)
        audio_keys = plan.audio_in(res.outputs)
        if want_audio and len(audio_keys) != 1 and not json_ok:  # untyped outputs that were not samples
            raise ServeError(406, f"Accept asks for audio/wav, which needs exactly one audio output; this run "
                                  f"made {len(audio_keys)} ({', '.join(audio_keys) or 'none'})", kind="not-acceptable")
        audio = want_audio and len(audio_keys) == 1
        data = await maybe_offloaded(_big(res.outputs), encode_answer, form, plan, res, feeds, wav_format, audio)
        if audio:
            data, sr, seconds = data
            key = audio_keys[0]
            headers.update({"X-Sample-Rate": str(sr), "X-Audio-Seconds": f"{seconds:.6f}",
                            "Content-Disposition": f'inline; filename="{file_stem(name, key)}.wav"'})
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
