"""The OpenAI audio API over the served graphs: what Open WebUI, Bazarr and scripts written for
OpenAI's `openai` client call, with a graph's name as the model.

- ``POST /v1/audio/transcriptions`` (multipart: ``file``, ``model``, optional ``language``,
  ``prompt``, ``response_format`` json|text|verbose_json|srt|vtt, ``temperature``,
  ``timestamp_granularities[]``) runs a transcription graph (`tasks`). ``prompt`` and
  ``temperature`` are accepted and ignored (the graphs take neither). Uploads: WAV, FLAC, OGG, MP3.
- ``POST /v1/audio/speech`` (JSON: ``model``, ``input``, ``voice``, ``response_format``
  wav|pcm|flac|opus|mp3 (mp3 when libsndfile writes it; the default, as OpenAI's, else wav),
  ``speed`` 0.25-4.0, applied by time-stretching with librosa, pitch kept) runs a speech graph.
  ``voice`` goes to the graph's voice input: one of its voices (``GET /v1/models/{id}`` lists them),
  or a name mapped in the graph file (``openai: {voices: {alloy: slt}}``); OpenAI's own voice names
  that are not mapped get the graph's default voice, so clients that always send ``alloy`` work.
  ``pcm`` is OpenAI's: 16-bit little-endian mono at 24 kHz.
- ``GET /v1/models``, ``GET /v1/models/{id}``: the graphs that fit either route.

API keys as on every route (``Authorization: Bearer <key>``); errors in OpenAI's shape
(`openai_errors`). Runs go through the app's dispatcher like ``/graphs/{name}/run`` (`task_runs`).
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from .body import media_type, read_body, receive
from .errors import GraphLoadError, ServeError
from .openai_audio import (
    SPEECH_FORMATS,
    SPEED_RANGE,
    change_speed,
    decode_upload,
    encode_speech,
    mp3_available,
)
from .openai_errors import OpenAIError, from_serve_error, model_not_found, openai_errors
from .openai_formats import FORMATS, TIMED_FORMATS, render
from .run import OFFLOAD_BYTES, timing_headers, unless_client_leaves
from .state import ServeState
from .task_runs import synthesize, tracked, transcribe
from .tasks import TaskPorts, language_matches, settings_problems, task_ports, why_not

log = logging.getLogger("modulespack.serve")

# OpenAI's voice names: a client that sends one the graph does not know gets the graph's default voice
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "coral", "echo", "fable", "onyx", "nova", "sage", "shimmer",
                           "verse", "marin", "cedar"})
GRANULARITIES = ("word", "segment")
OWNER = "modulespack"


class OpenAIDoor:
    """The OpenAI front door of one app: each graph's task and ports, found once at start-up."""

    def __init__(self, state: ServeState):
        problems = settings_problems(state.graphs.values())
        if problems:
            state.shutdown()
            raise GraphLoadError(problems)
        self.state = state
        self.ports: dict[str, TaskPorts] = {}
        for name, e in state.graphs.items():
            p = task_ports(e)
            if p is not None:
                self.ports[name] = p
        self.default_speech_format = "mp3" if mp3_available() else "wav"

    def check_key(self, request: Request) -> None:
        keys = self.state.keys
        if not keys.valid(request):
            given = bool(request.headers.get("authorization") or request.headers.get("x-api-key"))
            raise OpenAIError(401, "Incorrect API key provided" if given else
                              "You didn't provide an API key: send Authorization: Bearer <key>",
                              code="invalid_api_key", headers={"WWW-Authenticate": 'Bearer realm="modulespack"'})

    def model(self, model: Any, task: str) -> tuple[Any, TaskPorts]:
        """(entry, ports) of the graph a request names for `task`: 404 unknown, 400 another task."""
        if not isinstance(model, str) or not model:
            raise OpenAIError(400, "you must provide a model: the name of a served graph", param="model",
                              code="missing_model")
        e = self.state.graphs.get(model)
        if e is None:
            raise model_not_found(model, sorted(self.ports))
        p = self.ports.get(model)
        if p is None:
            raise OpenAIError(400, f"graph '{model}' is neither a transcription nor a speech model: {why_not(e)}",
                              param="model", code="model_not_supported")
        if p.task != task:
            others = [n for n, q in self.ports.items() if q.task == task]
            raise OpenAIError(400, f"graph '{model}' is a {p.task} model, not a {task} model ({task} models: "
                                   f"{', '.join(others) or 'none'})", param="model", code="model_not_supported")
        return e, p

    def model_object(self, name: str) -> dict[str, Any]:
        e, p = self.state.graphs[name], self.ports[name]
        try:
            created = int(os.path.getmtime(e.path))
        except (OSError, TypeError):
            created = 0
        obj: dict[str, Any] = {"id": name, "object": "model", "created": created, "owned_by": OWNER, "task": p.task,
                               "description": e.description}
        if p.task == "speech":
            obj["voices"] = list(p.voices)
            obj["default_voice"] = p.default_voice
        return obj


def add_openai_routes(app: FastAPI, state: ServeState) -> OpenAIDoor:
    door = OpenAIDoor(state)

    @app.get("/v1/models", tags=["openai"], summary="OpenAI API: the graphs that answer the audio routes")
    async def list_models(request: Request) -> Response:
        return await _answer(door, request, None, lambda: _json({"object": "list", "data": [
            door.model_object(n) for n in sorted(door.ports)]}))

    @app.get("/v1/models/{model}", tags=["openai"], summary="OpenAI API: one model (graph)")
    async def get_model(model: str, request: Request) -> Response:
        def one() -> Response:
            if model in state.graphs and model not in door.ports:
                raise OpenAIError(404, f"graph '{model}' is served but is not an audio model here: "
                                       f"{why_not(state.graphs[model])}", param="model", code="model_not_found")
            if model not in door.ports:
                raise model_not_found(model, sorted(door.ports))
            return _json(door.model_object(model))
        return await _answer(door, request, None, one)

    @app.post("/v1/audio/transcriptions", tags=["openai"], summary="OpenAI API: speech to text (multipart)")
    async def transcriptions(request: Request) -> Response:
        return await _answer(door, request, "transcription", None)

    @app.post("/v1/audio/speech", tags=["openai"], summary="OpenAI API: text to speech (JSON)")
    async def speech(request: Request) -> Response:
        return await _answer(door, request, "speech", None)

    return door


def _json(obj: Any) -> Response:
    return Response(json.dumps(obj, ensure_ascii=False).encode("utf-8"), media_type="application/json")


async def _answer(door: OpenAIDoor, request: Request, task: str | None, simple: Any) -> Response:
    """Every OpenAI route's answer: its errors in OpenAI's shape, never a 500 for a client's mistake."""
    params: dict[str, str] = {}
    try:
        door.check_key(request)
        if task is None:
            return simple()
        if task == "transcription":
            return await _transcription(door, request, params)
        return await _speech(door, request, params)
    except OpenAIError as err:
        return err.response()
    except ServeError as err:
        return from_serve_error(err, params).response()
    except Exception as err:
        log.exception("OpenAI route %s: unexpected error", request.url.path)
        return OpenAIError(500, f"internal error: {type(err).__name__}: {err}", code="internal").response()


def _fields(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in pairs:
        out.setdefault(k, []).append(v)
    return out


async def _transcription(door: OpenAIDoor, request: Request, params: dict[str, str]) -> Response:
    state = door.state
    if media_type(request.headers.get("content-type", "")) != "multipart/form-data":
        raise OpenAIError(400, "send a multipart/form-data body with 'file' (the audio) and 'model'", param="file")
    body = await receive(request, state.max_upload_bytes)
    fields = _fields(body.fields)
    one = {k: v[-1] for k, v in fields.items()}
    e, ports = door.model(one.get("model"), "transcription")
    params.update({ports.audio_in: "file", "file": "file"})  # type: ignore[dict-item]
    async with tracked(state, e.name) as t:
        with openai_errors(params):
            fmt, grans, language = _transcription_options(one, fields, ports, e.name)
            if "file" not in body.files:
                raise OpenAIError(400, "no 'file' in the form: upload the audio as the 'file' field", param="file")
            data, filename = body.files.pop("file")
            del body
            args = (data, filename, e.max_audio_seconds, e.form.fields[ports.audio_in].port.dtype)
            if len(data) > OFFLOAD_BYTES:  # decoding a long upload: not on the event loop
                x, sr = await asyncio.get_running_loop().run_in_executor(None, decode_upload, *args)
            else:
                x, sr = decode_upload(*args)
            del data, args
            out = await transcribe(state, e, ports, x, sr, language=language, words=fmt in TIMED_FORMATS,
                                   wait=lambda work: unless_client_leaves(request, work))
            t.timings = out.result.timings
            lang = language or (ports.languages[0] if ports.languages else "unknown")
            payload, mt = render(fmt, out.text, len(x) / sr, lang, out.words, grans)
            return Response(payload, media_type=mt, headers=timing_headers(out.result.timings, out.result.seconds))


def _transcription_options(one: dict[str, str], fields: dict[str, list[str]], ports: TaskPorts,
                           graph: str) -> tuple[str, list[str], str | None]:
    """(response format, timestamp granularities, language) of a transcription form, checked."""
    fmt = one.get("response_format") or "json"
    if fmt not in FORMATS:
        raise OpenAIError(400, f"response_format must be one of {', '.join(FORMATS)}, not {fmt!r}",
                          param="response_format", code="invalid_value")
    grans = fields.get("timestamp_granularities[]", []) + fields.get("timestamp_granularities", [])
    bad = [g for g in grans if g not in GRANULARITIES]
    if bad:
        raise OpenAIError(400, f"timestamp_granularities: {bad[0]!r} is not one of {', '.join(GRANULARITIES)}",
                          param="timestamp_granularities", code="invalid_value")
    if one.get("stream", "false").lower() not in ("false", "0", ""):
        raise OpenAIError(400, "stream: transcripts are answered whole here; leave stream out", param="stream",
                          code="unsupported_value")
    if one.get("temperature"):  # checked, then ignored: the graphs decode without sampling
        _number(one["temperature"], "temperature", 0.0, 1.0)
    language = one.get("language") or None
    if language and ports.languages and not language_matches(language, ports.languages):
        raise OpenAIError(400, f"language {language!r}: graph '{graph}' transcribes {', '.join(ports.languages)}",
                          param="language", code="unsupported_language")
    return fmt, grans, language


def _number(value: Any, param: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if isinstance(value, bool) or not lo <= v <= hi:
        raise OpenAIError(400, f"{param} must be a number from {lo:g} to {hi:g}, not {value!r}", param=param,
                          code="invalid_value")
    return v


def _voice(door: OpenAIDoor, ports: TaskPorts, voice: Any, graph: str) -> str | None:
    """The graph's voice for the request's `voice` (None: the graph's default)."""
    if voice is None or ports.voice_in is None:  # a graph without a voice input speaks in its one voice
        return None
    if not isinstance(voice, str) or not voice:
        raise OpenAIError(400, "voice must be a voice name", param="voice", code="invalid_value")
    if voice in ports.voice_map:
        return ports.voice_map[voice]
    if not ports.voices or voice in ports.voices:
        return voice
    if voice.lower() in OPENAI_VOICES:
        return None
    raise OpenAIError(400, f"voice {voice!r} is not one of graph '{graph}''s voices ({', '.join(ports.voices)})",
                      param="voice", code="invalid_voice")


async def _speech(door: OpenAIDoor, request: Request, params: dict[str, str]) -> Response:
    state = door.state
    data = await read_body(request, state.max_upload_bytes)
    try:
        req = json.loads(data or b"null")
    except ValueError as err:
        raise OpenAIError(400, f"the body is not valid JSON: {err}", code="invalid_json") from None
    if not isinstance(req, dict):
        raise OpenAIError(400, 'the body is a JSON object: {"model", "input", "voice", ...}', code="invalid_json")
    e, ports = door.model(req.get("model"), "speech")
    params.update({ports.text_in: "input", ports.voice_in or "voice": "voice"})  # type: ignore[dict-item]
    async with tracked(state, e.name) as t:
        with openai_errors(params):
            text = req.get("input")
            if not isinstance(text, str) or not text.strip():
                raise OpenAIError(400, "input: the text to speak (a non-empty string)", param="input",
                                  code="invalid_value" if "input" in req else "missing_input")
            fmt = req.get("response_format") or door.default_speech_format
            formats = [f for f in SPEECH_FORMATS if f != "mp3" or door.default_speech_format == "mp3"]
            if fmt not in formats:
                raise OpenAIError(400, f"response_format must be one of {', '.join(formats)}, not {fmt!r}",
                                  param="response_format", code="invalid_value")
            speed = 1.0 if req.get("speed") is None else _number(req["speed"], "speed", *SPEED_RANGE)
            if req.get("stream_format") not in (None, "audio"):
                raise OpenAIError(400, "stream_format: only 'audio' (the whole file) is served", param="stream_format",
                                  code="invalid_value")
            voice = _voice(door, ports, req.get("voice"), e.name)
            out = await synthesize(state, e, ports, text, voice=voice,
                                   wait=lambda work: unless_client_leaves(request, work))
            t.timings = out.result.timings
            loop = asyncio.get_running_loop()
            samples = out.samples
            if speed != 1.0:
                samples = await loop.run_in_executor(None, change_speed, samples, speed)
            audio, mt, rate = await loop.run_in_executor(None, encode_speech, samples, out.sr, fmt)
            headers = timing_headers(out.result.timings, out.result.seconds)
            headers.update({"X-Sample-Rate": str(rate), "X-Audio-Seconds": f"{len(samples) / out.sr:.6f}"})
            return Response(audio, media_type=mt, headers=headers)
