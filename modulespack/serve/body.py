"""A run request's body as received, within the upload limit: its bytes, or the parts of a
multipart form (413 as soon as the limit is passed, by Content-Length or while reading)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from .errors import ServeError

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")
AUDIO_BODY_TYPES = {*WAV_TYPES, "application/octet-stream"}  # a bare body taken as the one audio input
MAX_FORM_PARTS = 256  # files, and text fields, in one multipart form
MB = 1024 * 1024

Files = dict[str, tuple[bytes, "str | None"]]  # input -> (uploaded bytes, file name)


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
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            if chunk:
                yield chunk
    except ClientDisconnect:  # the client's doing, like a disconnect during the run: no answer reaches it
        raise ServeError(499, "the client went away during the upload", kind="disconnected") from None


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
