"""The Wyoming front door (Home Assistant's voice protocol) of `modulespack serve --wyoming URI`.

Served with the `wyoming` package's own server and events (no framing here), on the app's event
loop: started and stopped with the app's lifespan. What is offered is `wyoming_info`; audio
conversion is `wyoming_audio`; runs go through the app's dispatcher like HTTP runs (time-out,
concurrency, cancel at shutdown) and are counted in its metrics.

Per connection: `describe` -> `info`; `transcribe` (optional: the first speech-to-text graph
otherwise; a language the graph does not offer is refused), `audio-start`, `audio-chunk`..., `audio-stop` -> `transcript`; `synthesize` ->
`audio-start`, `audio-chunk`..., `audio-stop`; `ping` -> `pong`. Anything wrong (an unknown event,
audio-chunk before audio-start, too much audio, a failed run) is answered with an `error` event
{text, code} and the connection stays open (events are checked in `wyoming_events`); a client that
goes away mid-stream only ends its own handler. During a run the connection is still read
(`wyoming_reading`: events that come meanwhile wait their turn), so a client that leaves cancels its
run, counted as 499 as an HTTP client's would be.
"""
from __future__ import annotations

import asyncio
import logging
import warnings
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..io.audio_ports import as_rate
from .encode import rate_value
from .errors import ServeError
from .run import KIND_OF_STATUS, check_output_audio
from .task_runs import tracked
from .tasks import language_matches
from .wyoming_audio import AudioInputError, ChunkReceiver, audio_events
from .wyoming_events import WyomingError, parse_event
from .wyoming_info import UnknownName, WyomingCatalog
from .wyoming_reading import ClientGone, ReadingHandler

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.info import Describe
    from wyoming.ping import Ping, Pong
    from wyoming.server import AsyncServer
    from wyoming.tts import Synthesize

log = logging.getLogger("modulespack.serve")

STOP_WAIT_S = 5.0    # how long stopping waits for the connections' handlers to end


def check_uri(uri: str) -> str:
    """`uri` if it is tcp://HOST:PORT or unix://PATH; ValueError saying what is wrong otherwise."""
    u = urlparse(uri)
    if u.scheme == "tcp":
        try:
            port = u.port
        except ValueError:
            port = None
        if not u.hostname or port is None:
            raise ValueError(f"--wyoming {uri!r}: give tcp://HOST:PORT, e.g. tcp://127.0.0.1:10300")
    elif u.scheme != "unix" or not u.path:
        raise ValueError(f"--wyoming {uri!r}: give tcp://HOST:PORT (e.g. tcp://127.0.0.1:10300) or unix://PATH")
    return uri


def check_can_listen(uri: str) -> None:
    """OSError naming `uri` if a TCP address cannot be listened on now (taken, or not this machine's):
    the CLI asks before it starts the engines, rather than fail after with a traceback."""
    import socket
    u = urlparse(uri)
    if u.scheme != "tcp":
        return
    try:
        infos = socket.getaddrinfo(u.hostname, u.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as asyncio's server does
            s.bind(addr)
    except OSError as e:
        raise OSError(e.errno, f"--wyoming {uri}: cannot listen there: {e.strerror or e}") from None


class WyomingDoor:
    """The Wyoming server of one app (`state`: its ServeState), listening on `uri` once `start`ed."""

    def __init__(self, state: Any, uri: str):
        self.state = state
        self.uri = check_uri(uri)
        self.catalog = WyomingCatalog.from_entries(state.graphs)
        self._server: AsyncServer | None = None
        self._handlers: set[asyncio.Task] = set()

    async def start(self) -> None:
        server = AsyncServer.from_uri(self.uri)
        try:
            await server.start(lambda reader, writer: GraphsHandler(reader, writer, self))
        except OSError as e:
            raise OSError(e.errno, f"--wyoming {self.uri}: cannot listen there: {e.strerror or e}") from None
        self._server = server
        if not self.catalog.asr and not self.catalog.tts:
            log.warning("Wyoming on %s: no served graph is speech-to-text or text-to-speech (see "
                        "modulespack.serve.tasks); describe lists nothing", self.uri)
        log.info("Wyoming on %s: asr %s; tts %s", self.uri, ", ".join(self.catalog.asr) or "none",
                 ", ".join(self.catalog.tts) or "none")

    async def stop(self) -> None:
        """Stop listening, close every connection and end its handler (its run is cancelled)."""
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            path = getattr(server, "socket_path", None)
            if path is not None:  # the wyoming package unlinks a Unix socket only when run(), not start()ed
                path.unlink(missing_ok=True)
        tasks = [t for t in self._handlers if not t.done()]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=0.1)
            for t in pending:  # busy in a run: cancelling it cancels the run (the dispatcher's token)
                t.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_WAIT_S)

    async def run(self, name: str, feeds: dict, fetches: tuple) -> Any:
        """Graph `name` through the app's dispatcher, counted in its metrics as a run request is."""
        async with tracked(self.state, name) as t:
            res = await self.state.dispatch.run(self.state.graphs[name], feeds, fetches)
            t.timings = res.timings
            return res


class GraphsHandler(ReadingHandler):
    """One client connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, door: WyomingDoor):
        super().__init__(reader, writer)
        self.door = door
        self.asr: tuple[str, str | None] | None = None  # (graph, language) of the last transcribe
        self.audio: ChunkReceiver | None = None
        self.audio_graph: str | None = None
        self.dropping = False  # a refused stream: its chunks are ignored until its audio-stop

    async def run(self) -> None:
        task = asyncio.current_task()
        self.door._handlers.add(task)  # type: ignore[arg-type]
        try:
            await super().run()
        finally:
            self.door._handlers.discard(task)  # type: ignore[arg-type]
            self.audio = None

    async def handle_event(self, event: Event) -> bool:
        try:
            await self._handle(event)
        except ClientGone:
            log.info("wyoming: a client left during its run; the run was cancelled")
            return False
        except WyomingError as e:
            await self._error(e.message, e.code)
        except (UnknownName, AudioInputError) as e:
            await self._error(str(e), e.code)
        except ServeError as e:
            await self._error(e.message, e.context.get("kind") or KIND_OF_STATUS.get(e.status, "error"))
        except (ConnectionError, asyncio.CancelledError):
            raise
        except Exception as e:
            log.exception("wyoming: %s event failed", event.type)
            await self._error(f"internal error: {type(e).__name__}: {e}", "internal")
        return True

    async def _error(self, text: str, code: str) -> None:
        await self.write_event(Error(text=text, code=code).event())

    async def _handle(self, event: Event) -> None:
        t = event.type
        if Describe.is_type(t):
            await self.write_event(self.door.catalog.info().event())
        elif Ping.is_type(t):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif Transcribe.is_type(t):
            self.asr, self.audio, self.dropping = None, None, True  # if refused, so is the audio that follows
            tr = parse_event(Transcribe, event)
            graph = self.door.catalog.asr_graph(tr.name)
            offered = self.door.catalog.languages[graph]
            if tr.language and not language_matches(tr.language, offered):
                raise WyomingError(f"transcribe: language '{tr.language}': model '{graph}' transcribes "
                                   f"{', '.join(offered)}", "unsupported-language")
            self.asr = (graph, tr.language)
            self.dropping = False
        elif AudioStart.is_type(t):
            if not self.dropping:
                self._start_audio(event)
        elif AudioChunk.is_type(t):
            self._add_audio(event)
        elif AudioStop.is_type(t):
            await self._transcribe()
        elif Synthesize.is_type(t):
            await self._synthesize(parse_event(Synthesize, event))
        else:
            raise WyomingError(f"unknown event '{t}' (this server answers describe, transcribe, audio-start, "
                               f"audio-chunk, audio-stop, synthesize, ping)", "unknown-event")

    # ---------------------------------------------------------------- speech to text

    def _start_audio(self, event: Event) -> None:
        self.audio, self.dropping = None, True  # if refused, its chunks are dropped quietly
        start = parse_event(AudioStart, event)
        graph = self.asr[0] if self.asr else self.door.catalog.asr_graph(None)
        entry = self.door.state.graphs[graph]
        self.audio = ChunkReceiver(start, self.door.catalog.rates[graph], entry.max_audio_seconds)
        self.audio_graph, self.dropping = graph, False

    def _add_audio(self, event: Event) -> None:
        if self.audio is None:
            if self.dropping:
                return
            raise WyomingError("audio-chunk before audio-start: send audio-start {rate, width, channels} first",
                               "no-audio-start")
        try:
            self.audio.add(parse_event(AudioChunk, event))
        except AudioInputError:
            self.audio, self.dropping = None, True
            raise

    async def _transcribe(self) -> None:
        audio, self.audio = self.audio, None
        if audio is None:
            if self.dropping:
                self.dropping = False
                return
            raise WyomingError("audio-stop without audio-start", "no-audio-start")
        graph, language = self.audio_graph, (self.asr[1] if self.asr else None)
        self.asr = None
        door = self.door
        ports, entry = door.catalog.asr[graph], door.state.graphs[graph]
        x = audio.finish()
        feeds: dict[str, Any] = {ports.audio_in: x.astype(entry.form.fields[ports.audio_in].port.dtype, copy=False)}
        if ports.rate_in:
            f = entry.form.fields[ports.rate_in]
            feeds[ports.rate_in] = f.decode(audio.rate if f.kind == "integer" else float(audio.rate))
        if ports.language_in and language:
            feeds[ports.language_in] = language
        res = await self._unless_client_leaves(door.run(graph, feeds, ports.fetches))
        text = res.outputs[ports.text_out]
        await self.write_event(Transcript(text=str(text), language=language).event())

    # ---------------------------------------------------------------- text to speech

    async def _synthesize(self, syn: Synthesize) -> None:
        door = self.door
        graph, voice = door.catalog.tts_voice(syn.voice)
        ports, entry = door.catalog.tts[graph], door.state.graphs[graph]
        text = syn.text or ""
        if len(text) > entry.max_text_chars:
            raise WyomingError(f"synthesize: the text is {len(text):,} characters long; the limit is "
                               f"{entry.max_text_chars:,}", "too-large")
        feeds: dict[str, Any] = {ports.text_in: text}
        if voice is not None and ports.voice_in:
            feeds[ports.voice_in] = voice
        language = syn.voice.language if syn.voice is not None else None
        if ports.language_in and language:
            feeds[ports.language_in] = language
        res = await self._unless_client_leaves(door.run(graph, feeds, ports.fetches))
        form = entry.form
        check_output_audio(entry.max_audio_seconds, form, form.output_plan(ports.fetches), res.outputs, feeds)
        try:
            rate = as_rate(rate_value(form, ports.audio_rate, res.outputs, feeds))
        except ValueError as e:
            raise WyomingError(f"graph '{graph}': its audio output '{ports.audio_out}' has no usable rate: {e}",
                               "internal") from None
        x = np.asarray(res.outputs[ports.audio_out])
        for ev in audio_events(x, rate):
            await self.write_event(ev.event())
