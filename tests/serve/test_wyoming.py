"""The Wyoming front door: a real `modulespack serve --wyoming tcp://127.0.0.1:PORT` (subprocess) serving
the example ASR and TTS graphs, called with the `wyoming` package's own AsyncTcpClient."""
from __future__ import annotations

import asyncio
import io
import shutil
import signal
import subprocess
import sys
import warnings
import wave
from pathlib import Path

import httpx
import numpy as np
import pytest
from servers import accepts, free_ports, process

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    wyoming = pytest.importorskip("wyoming")
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.error import Error
    from wyoming.event import Event
    from wyoming.info import Describe, Info
    from wyoming.tts import Synthesize, SynthesizeVoice

pytestmark = pytest.mark.skipif(shutil.which("flite") is None, reason="flite is not installed")

STARTUP_S = 60
READ_S = 60  # per event: the first run of a graph may still wait for its engine's warm-up
MAX_AUDIO_S = 8
SENTENCE = "the weather is nice today"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(Wyoming URI, HTTP base URL) of `modulespack serve asr.yaml tts.yaml --wyoming ...`."""
    port, wport = free_ports(2)
    log = tmp_path_factory.mktemp("wyoming") / "server.log"
    uri = f"tcp://127.0.0.1:{wport}"
    with process([sys.executable, "-m", "modulespack.cli", "serve", EXAMPLES / "asr.yaml", EXAMPLES / "tts.yaml",
                  "--port", port, "--wyoming", uri, "--max-audio-seconds", MAX_AUDIO_S, "--log-level", "warning"],
                 log=log, ready=lambda: accepts(wport), timeout_s=STARTUP_S) as proc:
        yield uri, f"http://127.0.0.1:{port}"
    # uvicorn re-raises the SIGTERM it handled, after a graceful shutdown
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    for leak in ("Traceback", "Task was destroyed", "never retrieved", "Unclosed"):
        assert leak not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[bytes, str]:
    """(a flite WAV of SENTENCE, 16 kHz mono 16-bit; the text a Session run of asr.yaml gives for it)."""
    import modulespack as mp
    from modulespack.io import read_wav
    path = tmp_path_factory.mktemp("speech") / "weather.wav"
    subprocess.run(["flite", "-voice", "rms", "-t", SENTENCE, "-o", str(path)], check=True, capture_output=True,
                   timeout=60)
    x, sr = read_wav(path)
    with mp.Session(EXAMPLES / "asr.yaml") as s:
        text = s.run({"wav": x, "sr": sr})["text"]
    assert text  # the comparison below means something only if pocketsphinx hears words
    return path.read_bytes(), text


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 4 * READ_S))


async def _read(client: AsyncTcpClient) -> Event:
    event = await asyncio.wait_for(client.read_event(), READ_S)
    assert event is not None, "the server closed the connection"
    return event


async def _send_pcm(client: AsyncTcpClient, pcm: bytes, rate: int, width: int, channels: int,
                    chunk_bytes: int = 4096) -> None:
    await client.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
    for i in range(0, len(pcm), chunk_bytes):
        await client.write_event(AudioChunk(rate=rate, width=width, channels=channels,
                                            audio=pcm[i:i + chunk_bytes]).event())
    await client.write_event(AudioStop().event())


async def _transcribe(uri: str, pcm: bytes, rate: int, width: int = 2, channels: int = 1,
                      name: str | None = None) -> Event:
    async with AsyncTcpClient.from_uri(uri) as client:
        await client.write_event(Transcribe(name=name, language="en").event())
        await _send_pcm(client, pcm, rate, width, channels)
        return await _read(client)


def _pcm_of(wav_bytes: bytes) -> tuple[bytes, int]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        assert (w.getsampwidth(), w.getnchannels()) == (2, 1)
        return w.readframes(w.getnframes()), w.getframerate()


# --------------------------------------------------------------------------- describe


def test_describe_lists_asr_and_tts_graphs_with_voices(server):
    async def go():
        async with AsyncTcpClient.from_uri(server[0]) as client:
            await client.write_event(Describe().event())
            return await _read(client)
    event = run(go())
    assert Info.is_type(event.type)
    info = Info.from_event(event)
    assert [p.name for p in info.asr] == ["asr"]
    assert [m.name for m in info.asr[0].models] == ["asr"] and info.asr[0].models[0].languages == ["en"]
    assert info.asr[0].installed and info.asr[0].models[0].installed
    assert [p.name for p in info.tts] == ["tts"]
    voices = {v.name for v in info.tts[0].voices}
    assert {"slt", "rms", "awb", "kal"} <= voices  # flite's declared voices, from the graph's voice input


# --------------------------------------------------------------------------- speech to text


def test_transcribe_chunks_gives_the_session_text(server, speech):
    wav_bytes, expected = speech
    pcm, rate = _pcm_of(wav_bytes)
    event = run(_transcribe(server[0], pcm, rate, name="asr"))
    assert Transcript.is_type(event.type), event
    assert Transcript.from_event(event).text == expected


def test_audio_in_another_rate_width_and_channels_is_converted(server, speech):
    """22.05 kHz stereo 16-bit: resampled (soxr) and averaged to mono before the graph sees it."""
    import soxr
    wav_bytes, expected = speech
    pcm, rate = _pcm_of(wav_bytes)
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    y = soxr.resample(x, rate, 22050)
    stereo = (np.clip(np.stack([y, 0.5 * y], axis=1), -1, 1) * 32767).astype("<i2").tobytes()
    event = run(_transcribe(server[0], stereo, 22050, width=2, channels=2))
    assert Transcript.is_type(event.type), event
    assert Transcript.from_event(event).text == expected
    # 8-bit unsigned at the same rate as the model: only the width changes
    u8 = (np.clip(x, -1, 1) * 127 + 128).astype(np.uint8).tobytes()
    event = run(_transcribe(server[0], u8, rate, width=1))
    assert Transcript.is_type(event.type), event
    assert Transcript.from_event(event).text == expected


# --------------------------------------------------------------------------- text to speech


@pytest.mark.parametrize("voice", [None, "rms"])
def test_synthesize_gives_chunks_that_make_a_readable_wav(server, voice):
    async def go():
        async with AsyncTcpClient.from_uri(server[0]) as client:
            await client.write_event(Synthesize(text="hello there, this is a test.",
                                                voice=SynthesizeVoice(name=voice) if voice else None).event())
            events = [await _read(client)]
            while not AudioStop.is_type(events[-1].type):
                assert not Error.is_type(events[-1].type), events[-1]
                events.append(await _read(client))
            return events
    events = run(go())
    start = AudioStart.from_event(events[0])
    chunks = [AudioChunk.from_event(e) for e in events[1:-1]]
    assert start.rate == 16000 and start.width == 2 and start.channels == 1 and chunks
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(start.channels)
        w.setsampwidth(start.width)
        w.setframerate(start.rate)
        for c in chunks:
            assert (c.rate, c.width, c.channels) == (start.rate, start.width, start.channels)
            w.writeframes(c.audio)
    from modulespack.io import read_wav_bytes
    x, sr = read_wav_bytes(buf.getvalue())
    assert sr == 16000 and 0.5 < len(x) / sr < 10 and np.abs(x).max() > 0.05


# --------------------------------------------------------------------------- bad input


def test_bad_input_is_answered_and_the_server_keeps_serving(server, speech):
    wav_bytes, expected = speech
    pcm, rate = _pcm_of(wav_bytes)

    async def go():
        errors = []
        async with AsyncTcpClient.from_uri(server[0]) as client:
            # a chunk before audio-start
            await client.write_event(AudioChunk(rate=16000, width=2, channels=1, audio=b"\0\0" * 160).event())
            errors.append(await _read(client))
            # an event this server does not know
            await client.write_event(Event(type="make-coffee", data={"sugar": 2}))
            errors.append(await _read(client))
            # an unknown model: its audio is not transcribed by another
            await client.write_event(Transcribe(name="no-such-model").event())
            errors.append(await _read(client))
            await _send_pcm(client, pcm[:32000], rate, 2, 1)
            # a bad audio-start: its chunks are not each refused again
            await client.write_event(Transcribe().event())
            await _send_pcm(client, pcm[:32000], rate, 5, 1)
            errors.append(await _read(client))
            # too much audio: one error, the rest of the stream dropped quietly
            await client.write_event(Transcribe().event())
            big = b"\0\0" * 16000 * (MAX_AUDIO_S + 2)
            await _send_pcm(client, big, 16000, 2, 1, chunk_bytes=32000)
            errors.append(await _read(client))
            # an unknown voice
            await client.write_event(Synthesize(text="hi", voice=SynthesizeVoice(name="hal9000")).event())
            errors.append(await _read(client))
            # the same connection still transcribes
            await client.write_event(Transcribe().event())
            await _send_pcm(client, pcm, rate, 2, 1)
            after = await _read(client)
        return errors, after
    errors, after = run(go())
    assert all(Error.is_type(e.type) for e in errors), errors
    codes = [Error.from_event(e).code for e in errors]
    assert codes == ["no-audio-start", "unknown-event", "unknown-model", "bad-audio", "too-large", "unknown-voice"]
    texts = [Error.from_event(e).text for e in errors]
    assert "make-coffee" in texts[1] and "no-such-model" in texts[2] and "width=5" in texts[3]
    assert f"{MAX_AUDIO_S:g} s" in texts[4]
    assert Transcript.from_event(after).text == expected


def test_a_client_leaving_mid_stream_does_not_stop_the_others(server, speech):
    wav_bytes, expected = speech
    pcm, rate = _pcm_of(wav_bytes)

    async def leave_mid_stream():
        client = AsyncTcpClient.from_uri(server[0])
        await client.connect()
        await client.write_event(Transcribe().event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        await client.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=pcm[:8000]).event())
        # half an event: the header promises a payload that never comes
        client._writer.write(b'{"type": "audio-chunk", "data": {"rate": 16000, "width": 2, "channels": 1}, '
                             b'"payload_length": 4000}\n' + b"\0" * 100)
        await client._writer.drain()
        await client.disconnect()

    async def go():
        await leave_mid_stream()
        return await _transcribe(server[0], pcm, rate)
    event = run(go())
    assert Transcript.from_event(event).text == expected


def test_runs_are_counted_in_the_metrics(server, speech):
    test_transcribe_chunks_gives_the_session_text(server, speech)
    test_synthesize_gives_chunks_that_make_a_readable_wav(server, None)
    text = httpx.get(server[1] + "/metrics", timeout=10).text
    lines = [ln for ln in text.splitlines() if ln.startswith("modulespack_requests_total{")]
    assert any('graph="asr"' in ln and 'status="200"' in ln for ln in lines), lines
    assert any('graph="tts"' in ln and 'status="200"' in ln for ln in lines), lines
