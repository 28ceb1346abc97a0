"""The Wyoming front door in process (`create_app(..., wyoming=...)`, the door started and stopped by
the test): no handler outlives its client or the server, a run in progress is cancelled at stop,
what `describe` offers for several graphs, and what start-up refuses."""
from __future__ import annotations

import asyncio
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from v2_server import (
    free_port,  # not `conftest`: another folder's may be imported under that name
)

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
            for _ in range(100):
                if not door._handlers:
                    break
                await asyncio.sleep(0.02)
            assert not door._handlers
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
'''


def test_stopping_the_server_cancels_a_run_in_progress(tmp_path):
    from modulespack.serve import create_app
    (tmp_path / "slow_ear.py").write_text(SLOW_EAR)
    (tmp_path / "slow_asr.yaml").write_text(
        "name: slow_asr\nmodule_paths: ['.']\ninputs: {wav: {dtype: float32, shape: [null]}, sr: int}\n"
        "nodes:\n  - {name: ear, module: SlowEar, inputs: {wav: $wav, sr: $sr}}\noutputs: {text: ear/text}\n")

    async def go():
        uri = f"tcp://127.0.0.1:{free_port()}"
        state = create_app([tmp_path / "slow_asr.yaml"], wyoming=uri).state.modulespack
        door = state.wyoming
        await door.start()
        try:
            client = AsyncTcpClient.from_uri(uri)
            await client.connect()
            await client.write_event(Transcribe().event())
            await _send_pcm(client, b"\0\0" * 1600, 16000, 2, 1)
            for _ in range(200):  # until the run has started
                if state.dispatch._live:
                    break
                await asyncio.sleep(0.02)
            assert state.dispatch._live
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


# --------------------------------------------------------------------------- audio conversion


def test_chunks_become_mono_float_at_the_graph_rate_without_clipping():
    import numpy as np

    from modulespack.serve.wyoming_audio import (
        AudioInputError,
        ChunkReceiver,
        audio_events,
    )
    sr = 22050
    x = (0.9 * np.sin(2 * np.pi * 300 * np.arange(sr) / sr)).astype(np.float32)
    stereo = (np.stack([x, x], axis=1) * 32767).astype("<i2").tobytes()
    rx = ChunkReceiver(AudioStart(rate=sr, width=2, channels=2), 16000, max_seconds=5)
    for i in range(0, len(stereo), 4004):  # chunks of whole frames, not of whole resampler blocks
        rx.add(AudioChunk(rate=sr, width=2, channels=2, audio=stereo[i:i + 4004]))
    y = rx.finish()
    assert y.dtype == np.float32 and abs(len(y) - 16000) <= 2
    assert 0.85 < np.abs(y[100:-100]).max() < 0.95  # averaged, not summed (which clips at 1.0)
    with pytest.raises(AudioInputError, match="whole number") as e:
        rx.add(AudioChunk(rate=sr, width=2, channels=2, audio=b"\0" * 6))
    assert e.value.code == "bad-audio"
    with pytest.raises(AudioInputError, match="22050 Hz"):
        rx.add(AudioChunk(rate=16000, width=2, channels=2, audio=b"\0" * 8))
    events = list(audio_events(y, 16000, samples_per_chunk=1000))
    assert [type(ev).__name__ for ev in (events[0], events[1], events[-1])] == ["AudioStart", "AudioChunk", "AudioStop"]
    pcm = b"".join(ev.audio for ev in events[1:-1])
    assert len(pcm) == 2 * len(y) and np.allclose(np.frombuffer(pcm, "<i2") / 32767, y, atol=1e-4)
