"""The Wyoming front door in process (`create_app(..., wyoming=...)`, the door started and stopped by
the test): no handler outlives its client or the server, a run in progress is cancelled at stop,
what `describe` offers for several graphs, and what start-up refuses."""
from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from servers import free_port

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    pytest.importorskip("wyoming")
    from wyoming.asr import Transcribe
    from wyoming.audio import AudioChunk, AudioStart
    from wyoming.client import AsyncTcpClient
    from wyoming.info import Describe, Info
    from wyoming.tts import SynthesizeVoice

from test_wyoming import _read, _send_pcm, run

PCM = (b"\x10\x00\xf0\xff" * 8000)  # half a second of a quiet square wave, 16 kHz 16-bit mono


# --------------------------------------------------------------------------- in process: no leaks


def test_no_handler_outlives_its_client_or_the_server():
    """Clients that vanish mid-event or mid-stream end their handlers without an unretrieved error;
    stopping the door ends the handlers of clients still connected."""
    import gc

    from modulespack.serve import create_app
    pcm, rate = PCM, 16000

    async def go():
        loop = asyncio.get_running_loop()
        errors: list[dict] = []
        loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
        uri = f"tcp://127.0.0.1:{free_port()}"
        state = create_app([EXAMPLES / "asr.yaml"], wyoming=uri).state.modulespack
        door = state.wyoming
        await door.start()
        try:
            for half_event in (True, False):
                client = AsyncTcpClient.from_uri(uri)
                await client.connect()
                await client.write_event(Transcribe().event())
                await _send_pcm_start(client, pcm[:8000], rate)
                if half_event:  # a header promising a payload that never comes
                    client._writer.write(b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, '
                                         b'"channels": 1}, "payload_length": 4000}\n' + b"\0" * 100)
                    await client._writer.drain()
                await client.disconnect()
            assert await _until(lambda: not door._handlers)
            gc.collect()  # an exception nobody retrieved is reported when its task is collected
            await asyncio.sleep(0)
            assert errors == []
            still_there = AsyncTcpClient.from_uri(uri)
            await still_there.connect()
            await still_there.write_event(Describe().event())
            assert Info.is_type((await _read(still_there)).type)
            await door.stop()
            assert not door._handlers
            assert await still_there.read_event() is None  # the server closed it
            await still_there.disconnect()
            assert not [t for t in asyncio.all_tasks() if t.get_name() == "wyoming event handler"]
        finally:
            await door.stop()
            state.shutdown()
        gc.collect()
        await asyncio.sleep(0)
        assert errors == []
    run(go())


async def _until(done, tries: int = 250) -> bool:
    for _ in range(tries):
        if done():
            return True
        await asyncio.sleep(0.02)
    return bool(done())


async def _send_pcm_start(client: AsyncTcpClient, pcm: bytes, rate: int) -> None:
    await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
    await client.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=pcm).event())


SLOW_EAR = '''
import time
from modulespack import Module, Port
from modulespack.core import current_token


class SlowEar(Module):
    """Hears nothing for 30 s, unless its run is cancelled."""
    inputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
    outputs = {"text": Port("str")}

    def run(self, wav, sr):
        token, end = current_token(), time.monotonic() + 30
        while time.monotonic() < end:
            if token is not None:
                token.raise_if_set()
            time.sleep(0.02)
        return {"text": "too late"}


class QuickEar(Module):
    """Hears "heard" after a moment (long enough for events sent meanwhile to arrive during the run)."""
    inputs = {"wav": Port("float32", (None,)), "sr": Port("int")}
    outputs = {"text": Port("str")}

    def run(self, wav, sr):
        time.sleep(0.3)
        return {"text": "heard"}
'''


def _ear_graph(tmp_path: Path, module: str = "SlowEar") -> Path:
    (tmp_path / "slow_ear.py").write_text(SLOW_EAR)
    (tmp_path / "slow_asr.yaml").write_text(
        "name: slow_asr\nmodule_paths: ['.']\ninputs: {wav: {dtype: float32, shape: [null]}, sr: int}\n"
        f"nodes:\n  - {{name: ear, module: {module}, inputs: {{wav: $wav, sr: $sr}}}}\noutputs: {{text: ear/text}}\n")
    return tmp_path / "slow_asr.yaml"


def test_stopping_the_server_cancels_a_run_in_progress(tmp_path):
    from modulespack.serve import create_app
    graph = _ear_graph(tmp_path)

    async def go():
        uri = f"tcp://127.0.0.1:{free_port()}"
        state = create_app([graph], wyoming=uri).state.modulespack
        door = state.wyoming
        await door.start()
        try:
            client = AsyncTcpClient.from_uri(uri)
            await client.connect()
            await client.write_event(Transcribe().event())
            await _send_pcm(client, b"\0\0" * 1600, 16000, 2, 1)
            assert await _until(lambda: state.dispatch._live)  # the run has started
            await door.stop()  # waits a few seconds at most for handlers, not 30
            assert not door._handlers
            assert await client.read_event() is None
            await client.disconnect()
        finally:
            await door.stop()
            state.shutdown()
        return state.metrics.render().decode()
    metrics = run(go())
    assert 'modulespack_requests_total{graph="slow_asr",status="499"} 1.0' in metrics


@contextlib.asynccontextmanager
async def _door(graph: Path, uri: str):
    """The app's state with its Wyoming door started on `uri`; stopped and shut down after."""
    from modulespack.serve import create_app
    state = create_app([graph], wyoming=uri).state.modulespack
    await state.wyoming.start()
    try:
        yield state
    finally:
        await state.wyoming.stop()
        state.shutdown()


def test_a_client_leaving_during_its_run_cancels_it(tmp_path):
    """As on the HTTP side: the run is cancelled (not left to its 30 s) and counted as 499."""
    async def go():
        uri = f"tcp://127.0.0.1:{free_port()}"
        async with _door(_ear_graph(tmp_path), uri) as state:
            client = AsyncTcpClient.from_uri(uri)
            await client.connect()
            await client.write_event(Transcribe().event())
            await _send_pcm(client, b"\0\0" * 1600, 16000, 2, 1)
            assert await _until(lambda: state.dispatch._live)  # the run has started
            await client.disconnect()
            assert await _until(lambda: not state.dispatch._live and not state.wyoming._handlers)  # not 30 s
        return state.metrics.render().decode()
    assert 'modulespack_requests_total{graph="slow_asr",status="499"} 1.0' in run(go())


def test_events_sent_during_a_run_are_answered_after_it_in_order(tmp_path):
    """...and mistakes first: a language the graph does not offer (its audio dropped), a voice name
    that is not a string."""
    from wyoming.asr import Transcript
    from wyoming.audio import AudioStop
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.ping import Ping, Pong

    async def go():
        uri = f"tcp://127.0.0.1:{free_port()}"
        async with _door(_ear_graph(tmp_path, "QuickEar"), uri):
            client = AsyncTcpClient.from_uri(uri)
            await client.connect()
            await client.write_event(Transcribe(language="de").event())
            await _send_pcm(client, b"\0\0" * 1600, 16000, 2, 1)
            await client.write_event(Event("synthesize", {"text": "hi", "voice": {"name": 5}}))
            await client.write_event(Transcribe(language="en-US").event())
            await _send_pcm_start(client, b"\0\0" * 1600, 16000)
            for ev in (AudioStop(), Describe(), Ping(text="still there?")):
                await client.write_event(ev.event())
            got = [await _read(client) for _ in range(5)]
            await client.disconnect()
        return got
    german, voice, transcript, info, pong = run(go())
    assert Error.from_event(german).code == "unsupported-language" and "transcribes en" in Error.from_event(german).text
    assert Error.from_event(voice).code == "bad-event" and "voice.name must be a string" in Error.from_event(voice).text
    assert Transcript.from_event(transcript).text == "heard"
    assert Info.is_type(info.type) and Pong.from_event(pong).text == "still there?"


def test_a_unix_socket_answers_and_is_removed_at_stop(tmp_path):
    from wyoming.client import AsyncClient
    sock = tmp_path / "wyoming.sock"

    async def go():
        async with _door(EXAMPLES / "asr.yaml", f"unix://{sock}"):
            client = AsyncClient.from_uri(f"unix://{sock}")
            await client.connect()
            await client.write_event(Describe().event())
            assert Info.is_type((await _read(client)).type)
            await client.disconnect()
    run(go())
    assert not sock.exists()


# --------------------------------------------------------------------------- what is offered, start-up


def test_voices_two_graphs_share_are_named_per_graph(tmp_path):
    from modulespack.serve import create_app
    from modulespack.serve.wyoming_info import UnknownName
    tts = (EXAMPLES / "tts.yaml").read_text()
    (tmp_path / "tts.yaml").write_text(tts)
    (tmp_path / "tts_de.yaml").write_text(tts.replace("name: tts", "name: tts_de")
                                          + "wyoming: {languages: [de, de-AT]}\n")
    (tmp_path / "asr.yaml").write_text((EXAMPLES / "asr.yaml").read_text().split("examples:")[0]
                                       + "wyoming: {rate: 8000}\n")
    state = create_app(tmp_path, wyoming="tcp://127.0.0.1:10300").state.modulespack
    try:
        cat = state.wyoming.catalog
        info = cat.info()
        names = {p.name: [v.name for v in p.voices] for p in info.tts}
        assert names["tts_de"] == cat.voice_names("tts_de")
        assert "tts:slt" in names["tts"] and "tts_de:slt" in names["tts_de"] and "slt" not in cat.voices
        assert info.tts[1].voices[0].languages == ["de", "de-AT"]
        assert cat.rates == {"asr": 8000}
        assert cat.tts_voice(SynthesizeVoice(name="tts_de:rms")) == ("tts_de", "rms")
        assert cat.tts_voice(SynthesizeVoice(name="tts")) == ("tts", None)
        assert cat.tts_voice(SynthesizeVoice(language="de-DE")) == ("tts_de", None)
        assert cat.tts_voice(None) == ("tts", None)
        with pytest.raises(UnknownName, match="tts:klingon"):
            cat.tts_voice(SynthesizeVoice(name="tts:klingon"))
    finally:
        state.shutdown()


def test_a_wrong_wyoming_mapping_or_address_stops_start_up(tmp_path):
    from modulespack.core import GraphError
    from modulespack.serve import create_app
    bad = tmp_path / "asr.yaml"
    bad.write_text((EXAMPLES / "asr.yaml").read_text().split("examples:")[0] + "wyoming: {languages: en, voice: x}\n")
    with pytest.raises(GraphError) as e:
        create_app(bad, wyoming="tcp://127.0.0.1:10300")
    text = str(e.value) + "".join(str(p) for p in e.value.problems)
    assert "languages: a list" in text and "unknown key 'voice'" in text and "asr.yaml" in text
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        create_app(EXAMPLES / "arith.yaml", wyoming="tcp://127.0.0.1")


def test_the_command_line_refuses_what_it_cannot_serve(tmp_path):
    import socket

    def serve(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "modulespack.cli", "serve", str(EXAMPLES / "arith.yaml"),
                               "--port", str(free_port()), *args], check=False, capture_output=True, text=True, timeout=120)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        uri = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        r = serve("--wyoming", uri)
    assert r.returncode == 1 and f"--wyoming {uri}: cannot listen there" in r.stderr and "Traceback" not in r.stderr
    r = serve("--wyoming", "tcp://127.0.0.1:10300", "--workers", "2")
    assert r.returncode == 2 and "--workers 1" in r.stderr
