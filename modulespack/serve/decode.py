"""A run request -> the graph's feeds: the body read within the size limit, its inputs taken from
JSON, a multipart form, a urlencoded form, a bare WAV or the query string, then decoded per port
(`values`) and WAV uploads decoded by `modulespack.io.read_wav_bytes`.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Mapping
from urllib.parse import parse_qsl

import numpy as np
from starlette.requests import Request

from .errors import ServeError
from .values import b64decode, loads_json

if TYPE_CHECKING:
    from .form import GraphForm, OutputPlan

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
AUDIO_BODY_TYPES = {*WAV_TYPES, "application/octet-stream"}  # a bare body taken as the one audio input
RESERVED_QUERY = {"fetch", "wav_format"}  # query parameters that are not inputs
DEFAULT_RATE = 16000  # Hz: an audio input sent as samples, without a rate, is limited in length at this rate
MAX_FORM_PARTS = 256  # files, and text fields, in one multipart form
MB = 1024 * 1024

Files = dict[str, tuple[bytes, "str | None"]]  # input -> (uploaded bytes, file name)


# --------------------------------------------------------------------------- the body, within the limit


def media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _too_large(limit: int, size: int | None = None) -> ServeError:
    msg = (f"the upload is {size / MB:.1f} MB; the limit is {limit / MB:g} MB" if size is not None
           else f"the upload exceeds the limit of {limit / MB:g} MB")
    return ServeError(413, msg, limit_mb=limit / MB, kind="too-large")


async def limited_stream(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body's chunks, refusing (413) beyond `limit` bytes: by Content-Length before reading, and
    by counting while reading (chunked uploads)."""
    cl = request.headers.get("content-length")
    if cl is not None:
        try:
            n = int(cl)
        except ValueError:
            raise ServeError(400, "invalid Content-Length") from None
        if n > limit:
            raise _too_large(limit, n)
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        if chunk:
            yield chunk


async def read_body(request: Request, limit: int) -> bytes:
    chunks = [c async for c in limited_stream(request, limit)]
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_form(request: Request, limit: int) -> tuple[list[tuple[str, str]], Files]:
    """(text fields, files) of a multipart/form-data body.

    Starlette's `MultiPartParser` (python-multipart; what `request.form()` uses) is called directly
    because `request.form()` reads `request.stream()` with no byte limit: here it reads the
    size-limited stream, so an oversized upload is refused while it arrives."""
    from starlette.formparsers import MultiPartException, MultiPartParser

    parser = MultiPartParser(request.headers, limited_stream(request, limit), max_files=MAX_FORM_PARTS,
                             max_fields=MAX_FORM_PARTS, max_part_size=limit)
    try:
        form = await parser.parse()
    except MultiPartException as e:
        raise ServeError(400, f"malformed multipart body: {e.message}") from None
    fields: list[tuple[str, str]] = []
    files: Files = {}
    try:
        for name, v in form.multi_items():
            if isinstance(v, str):
                fields.append((name, v))
            else:
                files[name] = (await v.read(), v.filename)
    finally:
        await form.close()
    return fields, files


@dataclass
class RunBody:
    """A run request's body as received: its bytes, or the parts of a multipart form."""
    content_type: str
    data: bytes = b""
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: Files = field(default_factory=dict)

    @property
    def media_type(self) -> str:
        return media_type(self.content_type)

    @property
    def size(self) -> int:
        return (len(self.data) + sum(len(v) for _, v in self.fields)
                + sum(len(d) for d, _ in self.files.values()))


async def receive(request: Request, limit: int) -> RunBody:
    ctype = request.headers.get("content-type", "")
    if media_type(ctype) == "multipart/form-data":
        fields, files = await read_form(request, limit)
        return RunBody(ctype, fields=fields, files=files)
    return RunBody(ctype, await read_body(request, limit))


# --------------------------------------------------------------------------- the inputs


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


def _json_object(text: str | bytes, bad_json: str, not_object: str, **where: str) -> dict:
    """`text` parsed as a JSON object, or a 422 ServeError saying `bad_json` (a template: "{err}" stands
    for the parser's message) or `not_object`; `where` (kind= or port=) goes into the answer."""
    try:
        obj = loads_json(text)
    except ValueError as err:
        raise ServeError(422, bad_json.format(err=err), **where) from None
    if not isinstance(obj, dict):
        raise ServeError(422, not_object, **where)
    return obj


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
        obj = _json_object(data, "invalid JSON body: {err}",
                           'the JSON body is an object: {"inputs": {...}, "fetch": [...]}', kind="input")
        if isinstance(obj.get("inputs"), dict) and set(obj) <= {"inputs", "fetch"} and "inputs" not in inputs:
            values = obj["inputs"]
            if "fetch" in obj:
                fetch_parts.append(obj["fetch"])
        else:  # a flat object of inputs
            values = dict(obj)
            if "fetch" in values and "fetch" not in inputs:
                fetch_parts.append(values.pop("fetch"))
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


def prepare_run(form: "GraphForm", graph: str, query: list[tuple[str, str]], body: RunBody
                ) -> tuple[dict, "OutputPlan"]:
    """(feeds, output plan) of a run request."""
    values, texts, files, fetch = parse_inputs(form, graph, query, body)
    return decode_inputs(form, values, texts, files), form.output_plan(fetch)


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
                          port=port, limit_seconds=max_seconds)
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
                  files: Files) -> dict[str, Any]:
    """Feeds from JSON values, text fields (forms, query) and uploaded files; raises ServeError.

    Inputs left out take their defaults in the Session (in the port's type). An audio input's rate
    input is filled from its WAV."""
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
    for n in sample_lists:
        _check_samples_length(form, n, feeds)
    _fill_rates(form, feeds, rates)
    return feeds


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
                         port=name, limit_seconds=form.max_audio_seconds)


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
