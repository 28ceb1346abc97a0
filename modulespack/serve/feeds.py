"""A run request -> the graph's feeds: its inputs taken from JSON, a multipart form, a urlencoded
form, a bare WAV or the query string (the body as `body.receive` read it), decoded per port
(`values`), WAV uploads decoded by `modulespack.io.read_wav_bytes`, and the limits on text and audio
length applied. Every problem is a ServeError naming the input.
"""
from __future__ import annotations

import io
import weakref
from typing import TYPE_CHECKING, Any, Iterable, Mapping
from urllib.parse import parse_qsl

import numpy as np

from .body import AUDIO_BODY_TYPES, Files, RunBody
from .errors import ServeError
from .values import NonFiniteJSON, b64decode, loads_json

if TYPE_CHECKING:
    from ..core import BuiltGraph
    from .form import GraphForm, OutputPlan

RESERVED_QUERY = {"fetch", "wav_format"}  # query parameters that are not inputs
DEFAULT_RATE = 16000  # Hz: an audio input sent as samples, without a rate, is limited in length at this rate
DEFAULT_MAX_TEXT_CHARS = 5000  # characters in one text input (about five minutes of speech)


# --------------------------------------------------------------------------- the inputs of a request


def split_fetch(values: Iterable[Any]) -> tuple[str, ...] | None:
    """Fetch names from query/form values (repeated or comma-separated) or a JSON list."""
    out: list[str] = []
    for v in values:
        if isinstance(v, list):
            out += [str(x) for x in v]
        elif isinstance(v, str):
            s = v.strip()
            if s.startswith("["):
                try:
                    lst = loads_json(s)
                except ValueError:
                    raise ServeError(422, f"fetch: invalid JSON list {s[:60]!r}", port="fetch") from None
                out += [str(x) for x in lst]
            else:
                out += [p.strip() for p in s.split(",") if p.strip()]
        elif v is not None:
            raise ServeError(422, "fetch must be a list of output names or node/port", port="fetch")
    return tuple(out) or None


def _json_object(text: str | bytes, bad_json: str, not_object: str, nested: bool = False, **where: str) -> dict:
    """`text` parsed as a JSON object, or a 422 ServeError saying `bad_json` (a template: "{err}" stands
    for the parser's message) or `not_object`; `where` (kind= or port=) goes into the answer. A
    non-finite number names the input it is in (the second key of the path when `nested`: the body
    is {"inputs": {...}})."""
    try:
        obj = loads_json(text)
    except NonFiniteJSON as err:
        path = err.path[1:] if nested and err.path[:1] == ("inputs",) else err.path
        port = path[0] if path and isinstance(path[0], str) else where.get("port")
        raise ServeError(422, (f"input '{port}': " if port else "") + str(err),
                         **{**where, "port": port, "kind": "input"}) from None
    except ValueError as err:
        raise ServeError(422, bad_json.format(err=err), **where) from None
    if not isinstance(obj, dict):
        raise ServeError(422, not_object, **where)
    return obj


def _allowed_keys(form: "GraphForm") -> str:
    names = ", ".join(f"'{n}'" for n in form.fields if n not in form.hidden_inputs)
    return (f"the graph's inputs {names} and 'fetch'" if names else "'fetch'") + \
        ', or {"inputs": {...}, "fetch": [...]}'


def _json_body(form: "GraphForm", data: bytes) -> tuple[dict, list[Any]]:
    """(input values, fetch values) of a JSON body: {"inputs": {...}, "fetch": [...]}, or a flat
    object of inputs and "fetch"; a key that is neither is named, with what is allowed."""
    inputs = form.fields
    obj = _json_object(data, "invalid JSON body: {err}", 'the JSON body is an object: {"inputs": {...}, "fetch": [...]}',
                       nested="inputs" not in inputs, kind="input")
    fetch: list[Any] = []
    if "inputs" in obj and "inputs" not in inputs:
        extra = [k for k in obj if k not in ("inputs", "fetch")]
        if extra:
            raise ServeError(422, f"unknown top-level key {extra[0]!r} in the JSON body (allowed: 'inputs' "
                                  f"and 'fetch')", port=extra[0], kind="input")
        if not isinstance(obj["inputs"], dict):
            raise ServeError(422, "'inputs' is an object of graph inputs: {\"inputs\": {...}, \"fetch\": [...]}",
                             port="inputs", kind="input")
        if "fetch" in obj:
            fetch.append(obj["fetch"])
        return obj["inputs"], fetch
    values = dict(obj)  # a flat object of inputs
    if "fetch" in values and "fetch" not in inputs:
        fetch.append(values.pop("fetch"))
    unknown = [k for k in values if k not in inputs]
    if unknown:
        raise ServeError(422, f"unknown top-level key {unknown[0]!r} in the JSON body (allowed: "
                              f"{_allowed_keys(form)})", port=unknown[0], kind="input")
    return values, fetch


def parse_inputs(form: "GraphForm", graph: str, query: list[tuple[str, str]], body: RunBody
                 ) -> tuple[dict, dict, Files, tuple[str, ...] | None]:
    """(JSON values, text values, files, fetch) of a run request's query and body."""
    values: dict[str, Any] = {}
    texts: dict[str, str] = {}
    files: Files = {}
    fetch_parts: list[Any] = []
    inputs = form.fields
    for k, v in query:
        if k == "fetch":
            fetch_parts.append(v)
        elif k not in RESERVED_QUERY:
            texts[k] = v

    def add_field(k: str, v: str) -> None:  # a form field: fetch, or an input as text
        if k == "fetch" and "fetch" not in inputs:
            fetch_parts.append(v)
        else:
            texts[k] = v

    mt, data = body.media_type, body.data
    if mt == "application/json" or mt.endswith("+json") or (not mt and data.lstrip()[:1] == b"{"):
        values, fetch = _json_body(form, data)
        fetch_parts += fetch
    elif mt == "multipart/form-data":
        files = body.files
        for k, v in body.fields:
            if k == "inputs" and "inputs" not in inputs:
                values.update(_json_object(v, "form field 'inputs': invalid JSON ({err})",
                                           "form field 'inputs' is a JSON object", port="inputs"))
            else:
                add_field(k, v)
    elif mt == "application/x-www-form-urlencoded":
        try:
            pairs = parse_qsl(data.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            raise ServeError(422, "the form is not UTF-8 text") from None
        for k, v in pairs:
            add_field(k, v)
    elif mt in AUDIO_BODY_TYPES:
        audio = [n for n, f in inputs.items() if f.kind == "audio"]
        if len(audio) != 1:
            raise ServeError(415, f"a {mt} body is the WAV of the graph's one audio input, but graph "
                                  f"'{graph}' has {len(audio)}; send a multipart form", kind="media")
        files = {audio[0]: (data, None)}
    elif data:
        raise ServeError(415, f"unsupported Content-Type {mt or '(none)'}: send application/json, "
                              "multipart/form-data or audio/wav", kind="media")
    return values, texts, files, split_fetch(fetch_parts)


def prepare_run(form: "GraphForm", graph: str, query: list[tuple[str, str]], body: RunBody,
                max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> tuple[dict, "OutputPlan"]:
    """(feeds, output plan) of a run request."""
    values, texts, files, fetch = parse_inputs(form, graph, query, body)
    feeds = decode_inputs(form, values, texts, files, max_text_chars=max_text_chars)
    plan = form.output_plan(fetch)
    check_missing(form, feeds, plan.fetches)
    return feeds, plan


# --------------------------------------------------------------------------- the feeds


def decode_wav(data: bytes, port: str, filename: str | None, max_seconds: float,
               dtype: str = "float32") -> tuple[np.ndarray, int]:
    """WAV bytes -> (mono samples of `dtype`, rate); 415 if undecodable, 413 beyond `max_seconds`."""
    from ..io import FormatError, read_wav_bytes

    label = f"input '{port}'" + (f" ({filename})" if filename else "")
    if not data:
        raise ServeError(415, f"{label}: empty upload, not a WAV file", port=port)

    def too_long(seconds: float) -> ServeError:
        return ServeError(413, f"{label}: audio is {seconds:.1f} s long; the limit is {max_seconds:g} s",
                          port=port, limit_seconds=max_seconds, kind="too-large")
    # Check the length from the header before decoding: a compressed WAV (ADPCM, mu-law) decodes to
    # several times its size.
    try:
        import soundfile as sf
        info = sf.info(io.BytesIO(data))
    except Exception:
        info = None  # read_wav_bytes says what is wrong
    if info is not None and info.samplerate > 0 and info.frames / info.samplerate > max_seconds:
        raise too_long(info.frames / info.samplerate)
    try:
        x, sr = read_wav_bytes(data, name=filename or port)
    except FormatError as e:
        raise ServeError(415, f"{label}: {e.problem}", port=port) from None
    except Exception as e:  # soundfile missing, or a decoder failure
        raise ServeError(415, f"{label}: cannot decode WAV: {type(e).__name__}: {e}", port=port) from None
    if sr <= 0 or len(x) / sr > max_seconds:
        raise too_long(len(x) / max(sr, 1))
    if x.ndim == 2:
        x = x.mean(axis=1)
    return np.ascontiguousarray(x, dtype=dtype), int(sr)


def decode_inputs(form: "GraphForm", values: Mapping[str, Any], texts: Mapping[str, str],
                  files: Files, *, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> dict[str, Any]:
    """Feeds from JSON values, text fields (forms, query) and uploaded files; raises ServeError.

    Inputs left out take their defaults in the Session (in the port's type). An audio input's rate
    input is filled from its WAV. A text input longer than `max_text_chars` is 413: what a module
    makes of text grows with it (a TTS node's audio, its time)."""
    feeds: dict[str, Any] = {}
    rates: dict[str, tuple[int, str]] = {}  # audio input -> (its WAV's rate, its rate input)
    sample_lists: list[str] = []  # audio inputs given as JSON lists of samples
    fields = form.fields
    for src in (texts, values, files):
        for n in src:
            if n not in fields:
                raise form.unknown_input(n)

    def audio(n: str, data: bytes, filename: str | None) -> None:
        f = fields[n]
        feeds[n], sr = decode_wav(data, n, filename, form.max_audio_seconds, f.port.dtype)
        if f.rate:
            rates[n] = (sr, f.rate)

    for n, s in texts.items():
        if n in values or n in files:
            continue
        f = fields[n]
        if f.kind == "audio":
            raise ServeError(422, f"input '{n}': audio is uploaded as a WAV file or given as "
                                  f'{{"wav_base64": "..."}} or a list of samples', port=n)
        feeds[n] = f.from_text(s)
    for n, v in values.items():
        if n in files:
            continue
        f = fields[n]
        if f.kind == "audio" and isinstance(v, dict):
            b64 = v.get("wav_base64")
            if not isinstance(b64, str):
                raise ServeError(422, f"input '{n}': audio is given as {{\"wav_base64\": \"...\"}}", port=n)
            audio(n, b64decode(b64, n), None)
        else:
            feeds[n] = f.decode(v)
            if f.kind == "audio":
                sample_lists.append(n)
    for n, (data, filename) in files.items():
        f = fields[n]
        if f.kind == "audio":
            audio(n, data, filename)
        elif f.port.dtype == "bytes":
            feeds[n] = data
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise ServeError(422, f"input '{n}': the uploaded file is not UTF-8 text", port=n) from None
            feeds[n] = f.from_text(text)
    for n, v in feeds.items():
        if isinstance(v, str) and len(v) > max_text_chars:
            raise ServeError(413, f"input '{n}': the text is {len(v):,} characters long; the limit is "
                                  f"{max_text_chars:,}", port=n, limit_chars=max_text_chars, kind="too-large")
    for n in sample_lists:
        _check_samples_length(form, n, feeds)
    _fill_rates(form, feeds, rates)
    return feeds


def needed_inputs(graph: "BuiltGraph", fetches: tuple[str, ...]) -> list[str]:
    """The graph inputs the nodes that `fetches` (graph outputs or node/port) need, in the graph's
    input order: the nodes upstream of the fetched ones, as the Session's plan finds them."""
    from ..core import Edge, GraphInput

    todo = []
    for key in fetches:
        ref = graph.spec.outputs.get(key)
        todo.append(ref.node if ref is not None else key.partition("/")[0])
    seen: set[str] = set()
    used: set[str] = set()
    while todo:
        n = todo.pop()
        if n in seen or n not in graph.nodes:
            continue
        seen.add(n)
        for src in graph.nodes[n].sources.values():
            if isinstance(src, GraphInput):
                used.add(src.name)
            elif isinstance(src, Edge):
                todo.append(src.node)
    return [n for n in graph.inputs if n in used]


# form -> fetches -> needed inputs (fetch sets are few per graph; bounded anyway: they come from users)
_NEEDED: "weakref.WeakKeyDictionary[GraphForm, dict[tuple[str, ...], list[str]]]" = weakref.WeakKeyDictionary()


def check_missing(form: "GraphForm", feeds: Mapping[str, Any], fetches: tuple[str, ...]) -> None:
    """422 naming the inputs the run needs and did not get, as the client sees them: an audio
    input is a WAV to upload (its rate input, filled from the WAV, is not named)."""
    fields, defaults = form.fields, form.graph.defaults
    cache = _NEEDED.setdefault(form, {})
    needed = cache.get(fetches)
    if needed is None:
        needed = needed_inputs(form.graph, fetches)
        if len(cache) < 256:
            cache[fetches] = needed
    missing = [n for n in needed if n not in feeds and n not in defaults]
    if not missing:
        return
    audio = [n for n in missing if fields[n].kind == "audio"]
    covered = {fields[n].rate for n in audio}
    others = [n for n in missing if n not in audio and n not in covered]
    parts = []
    if audio:
        parts.append("upload a WAV for " + " and ".join(f"'{n}'" for n in audio))
    if others:
        named = [f"'{n}'" + (" (the sample rate of " + " and ".join(f"'{a}'" for a in form.rate_inputs[n]) + ")"
                             if n in form.rate_inputs else "") for n in others]
        parts.append(f"missing input{'s' if len(others) > 1 else ''} {', '.join(named)}")
    raise ServeError(422, "; ".join(parts), port=(audio or others)[0], missing=audio + others, kind="input")


def _check_samples_length(form: "GraphForm", name: str, feeds: Mapping[str, Any]) -> None:
    """413 if audio input `name`, given as a list of samples, is longer than `max_audio_seconds` at
    the rate sent for its rate input (else that input's default, else DEFAULT_RATE)."""
    f = form.fields[name]
    x = feeds[name]
    samples = int(np.shape(x)[0]) if np.ndim(x) else 1
    rate, source = None, ""
    if f.rate:
        rate, source = feeds.get(f.rate), f"'{f.rate}'"
        if rate is None:
            rate, source = form.fields[f.rate].default, f"the default of '{f.rate}'"
    try:
        rate = float(rate)
    except (TypeError, ValueError):
        rate = None
    if rate is None or not (0 < rate < float("inf")):
        rate, source = float(DEFAULT_RATE), "the default rate"
    seconds = samples / rate
    if seconds > form.max_audio_seconds:
        raise ServeError(413, f"input '{name}': audio is {seconds:.1f} s long ({samples} samples at {rate:g} Hz, "
                              f"{source}); the limit is {form.max_audio_seconds:g} s",
                         port=name, limit_seconds=form.max_audio_seconds, kind="too-large")


def _fill_rates(form: "GraphForm", feeds: dict[str, Any], rates: Mapping[str, tuple[int, str]]) -> None:
    """Feed each rate input the rate of its WAVs (which must agree with each other and with a rate
    the client sent)."""
    by_rate: dict[str, tuple[int, str]] = {}
    for n, (sr, rate_input) in rates.items():
        if rate_input in by_rate:
            other_sr, other = by_rate[rate_input]
            if other_sr != sr:
                raise ServeError(422, f"inputs '{other}' and '{n}' have different sample rates "
                                      f"({other_sr} and {sr} Hz) but share '{rate_input}'", port=n)
            continue
        by_rate[rate_input] = (sr, n)
        if rate_input in feeds:  # the client sent the rate as well: it must agree with the file
            given = feeds[rate_input]
            if float(given) != float(sr):
                raise ServeError(422, f"input '{rate_input}': {given} conflicts with the sample rate of "
                                      f"'{n}' ({sr} Hz); leave it out, the server fills it from the WAV",
                                 port=rate_input)
        rf = form.fields[rate_input]
        feeds[rate_input] = rf.decode(sr if rf.kind == "integer" else float(sr))
