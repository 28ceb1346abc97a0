"""Ready-to-paste calls of one graph through every front door it answers, filled with the server's
real address (the one the asking browser used): curl on the native route, curl and the `openai`
client on the OpenAI audio API, Home Assistant's Wyoming settings when the server speaks Wyoming
(with the voice names its `describe` offers), tritonclient on the V2 routes (`v2_snippets`).

``GET /graphs/{name}/snippets`` answers ``{"graph", "snippets": [{door, title, language, code}]}``; the
demo page shows them in its "Use it from..." panel. A key is never written into a snippet: with API
keys on, the calls read it from ``$MODULESPACK_API_KEY``.

Another front door adds its own calls with `register` (as the Open Inference Protocol's tritonclient
call does): a function of a `Context` returning Snippets.
"""
from __future__ import annotations

import json
import shlex
from dataclasses import asdict, dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from fastapi import Depends, FastAPI
from starlette.requests import Request
from starlette.responses import Response

from .entry import GraphEntry
from .tasks import TaskPorts, task_ports

KEY_VAR = "MODULESPACK_API_KEY"
PLACEHOLDERS = {"text": "hello world, this is a test.", "number": 1.0, "integer": 1, "boolean": True, "array": [],
                "any": None}
ANY_ADDRESS = ("0.0.0.0", "::", "[::]", "")


@dataclass(frozen=True)
class Snippet:
    door: str       # "native", "openai", "wyoming" (others: what their makers say)
    title: str      # what the page labels it with: "curl", "Python (openai)", "Home Assistant"
    language: str   # "bash", "python", "text"
    code: str


@dataclass(frozen=True)
class Context:
    """What a snippet maker knows: the graph, its task (None if it fits none), where the server is."""
    entry: GraphEntry
    ports: TaskPorts | None
    base_url: str               # http://host:port[/prefix], no trailing slash
    keyed: bool                 # the server wants an API key
    wyoming: tuple[str, int] | None   # (host, port) Home Assistant should connect to, when served
    example: dict[str, Any]     # input -> a value to show (the graph's first example, else a placeholder)
    example_files: dict[str, str]  # audio input -> a file name to show
    wyoming_voices: dict[str, str | None] | None = None  # Wyoming voice name -> graph voice, as `describe` says


Maker = Callable[[Context], "list[Snippet]"]
_MAKERS: list[Maker] = []


def register(maker: Maker) -> Maker:
    """Add a front door's snippets (called for every graph, after the built-in doors)."""
    if maker not in _MAKERS:
        _MAKERS.append(maker)
    return maker


# ============================================================================ the doors


def native(ctx: Context) -> list[Snippet]:
    e = ctx.entry
    url = f"{ctx.base_url}/graphs/{e.name}/run"
    audio = [n for n, f in e.form.fields.items() if f.kind == "audio"]
    others = {n: v for n, v in ctx.example.items() if n not in audio}
    args = ["curl", "-sS"] + _auth_curl(ctx)
    outs = e.form.output_plan(None).audio_keys
    if len(outs) == 1:  # the one audio output as the WAV itself
        args += ["-H", "Accept: audio/wav", "-o", f"{e.name}.wav"]
    if audio:
        for n in audio:
            args += ["-F", f"{n}=@{ctx.example_files.get(n, 'speech.wav')}"]
        for n, v in others.items():
            args += ["-F", f"{n}={v if isinstance(v, str) else json.dumps(v)}"]
    else:
        args += ["-H", "Content-Type: application/json", "-d", json.dumps({"inputs": others}, ensure_ascii=False)]
    return [Snippet("native", "curl", "bash", _shell(args + [url]))]


def openai_api(ctx: Context) -> list[Snippet]:
    p = ctx.ports
    if p is None:
        return []
    base = f"{ctx.base_url}/v1"
    key = f'os.environ["{KEY_VAR}"]' if ctx.keyed else '"unused"'  # the client insists on some key
    head = ("import os\n" if ctx.keyed else "") + \
        f"from openai import OpenAI\n\nclient = OpenAI(base_url={_py(base)}, api_key={key})\n"
    if p.task == "transcription":
        wav = ctx.example_files.get(p.audio_in or "", "speech.wav")
        curl = _shell(["curl", "-sS"] + _auth_curl(ctx) + ["-F", f"file=@{wav}", "-F", f"model={ctx.entry.name}",
                                                          "-F", "response_format=json", f"{base}/audio/transcriptions"])
        py = (f"{head}with open({_py(wav)}, \"rb\") as f:\n"
              f"    print(client.audio.transcriptions.create(model={_py(ctx.entry.name)}, file=f).text)\n")
    else:
        text = ctx.example.get(p.text_in or "") or PLACEHOLDERS["text"]
        voice = ctx.example.get(p.voice_in or "") or p.default_voice or (p.voices[0] if p.voices else "alloy")
        body = json.dumps({"model": ctx.entry.name, "input": text, "voice": voice, "response_format": "wav"},
                          ensure_ascii=False)
        curl = _shell(["curl", "-sS"] + _auth_curl(ctx) + ["-H", "Content-Type: application/json", "-d", body,
                                                          "-o", "speech.wav", f"{base}/audio/speech"])
        py = (f"{head}audio = client.audio.speech.create(model={_py(ctx.entry.name)}, voice={_py(voice)},\n"
              f"                                   input={_py(text)}, response_format=\"wav\")\n"
              f"audio.write_to_file(\"speech.wav\")\n")
    return [Snippet("openai", "curl", "bash", curl), Snippet("openai", "Python (openai)", "python", py)]


def wyoming(ctx: Context) -> list[Snippet]:
    p = ctx.ports
    if p is None or ctx.wyoming is None:
        return []
    host, port = ctx.wyoming
    role = ("Speech-to-text" if p.task == "transcription" else "Text-to-speech")
    lines = ["Home Assistant: Settings > Devices & services > Add integration > Wyoming Protocol",
             f"  Host: {host}", f"  Port: {port}",
             f"Then Settings > Voice assistants > your assistant > {role}: {ctx.entry.name}"]
    names = ctx.wyoming_voices if ctx.wyoming_voices is not None else {v: v for v in p.voices}
    if p.task == "speech" and names:
        first = next((n for n, v in names.items() if v == p.default_voice), next(iter(names)))
        others = [n for n in names if n != first]
        lines.append(f"  Voice: {first}" + (f" (also {', '.join(others)})" if others else ""))
    return [Snippet("wyoming", "Home Assistant (Wyoming)", "text", "\n".join(lines) + "\n")]


BUILT_IN: tuple[Maker, ...] = (native, openai_api, wyoming)


# ============================================================================ assembling


def graph_snippets(ctx: Context) -> list[Snippet]:
    out: list[Snippet] = []
    for make in (*BUILT_IN, *_MAKERS):
        out += make(ctx)
    return out


def context(entry: GraphEntry, examples: list[Any], base_url: str, keyed: bool, wyoming_uri: str | None,
            request_host: str, wyoming_voices: dict[str, str | None] | None = None) -> Context:
    """The Context of one graph. `wyoming_uri`: the server's ``--wyoming`` address (``tcp://host:port``);
    a wildcard host (0.0.0.0) is shown as the host the browser reached the page by. `wyoming_voices`:
    the names the Wyoming door gives the graph's voices (default: the graph's own voice names)."""
    ex = examples[0] if examples else None
    values: dict[str, Any] = dict(ex.values) if ex is not None else {}
    files = {n: f.rsplit("/", 1)[-1] for n, (_data, f) in (ex.files.items() if ex is not None else ())}
    for n, f in entry.form.fields.items():
        if n in values or n in files or n in entry.form.hidden_inputs or not f.required:
            continue
        if f.kind != "audio":
            values[n] = PLACEHOLDERS.get(f.kind)
    return Context(entry, task_ports(entry), base_url.rstrip("/"), keyed, _wyoming_address(wyoming_uri, request_host),
                   values, files, wyoming_voices)


def _wyoming_address(uri: str | None, request_host: str) -> tuple[str, int] | None:
    if not uri or not uri.startswith("tcp://"):
        return None
    parts = urlsplit(uri)
    if parts.port is None:
        return None
    host = parts.hostname or ""
    return (request_host if host in ANY_ADDRESS else host), parts.port


def _py(text: str) -> str:
    """A Python string literal (JSON's double-quoted strings are valid Python)."""
    return json.dumps(text, ensure_ascii=False)


def _auth_curl(ctx: Context) -> list[str]:
    return ["-H", f"Authorization: Bearer ${KEY_VAR}"] if ctx.keyed else []


def _shell(args: list[str]) -> str:
    """One command, quoted for a POSIX shell, with the key's variable left for the shell to expand."""
    words = []
    for a in args:
        if a.startswith("Authorization: Bearer $"):
            words.append(f'"{a}"')
        else:
            words.append(shlex.quote(a))
    return " ".join(words) + "\n"


def add_snippet_routes(app: FastAPI, state: Any) -> None:
    keyed = [Depends(state.keys)] if state.keys else []

    @app.get("/graphs/{name}/snippets", tags=["graphs"], dependencies=keyed,
             summary="Ready-to-paste calls of the graph through every front door it answers")
    async def snippets(name: str, request: Request) -> Response:
        e = state.entry(name)
        door = getattr(state, "wyoming", None)
        voices = None
        if door is not None:
            voices = {n: door.catalog.voices[n][1] for n in door.catalog.voice_names(name)}
        ctx = context(e, state.examples.get(name, []), str(request.base_url), bool(state.keys),
                      getattr(door, "uri", None), request.url.hostname or "127.0.0.1", voices)
        body = {"graph": name, "snippets": [asdict(s) for s in graph_snippets(ctx)]}
        return Response(json.dumps(body, ensure_ascii=False).encode("utf-8"), media_type="application/json")
