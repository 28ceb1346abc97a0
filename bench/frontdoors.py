"""The ASR graph through each front door of one `modulespack serve`: requests/s and p50 latency.

    python bench/frontdoors.py [--requests 16] [--clients 1,8] [--rounds 2] [--concurrency 4]
                               [--engine local|thread] [--chunk-samples 1024]

One server (a subprocess: `modulespack serve examples/graphs/asr.yaml --wyoming tcp://127.0.0.1:PORT
--engine local`, 127.0.0.1, free ports, log level warning) answers the same spoken sentence (flite, 16 kHz mono
16-bit) through:

- native: `POST /graphs/asr/run` with the WAV as the body (audio/wav);
- openai: `POST /v1/audio/transcriptions` (multipart: file, model=asr), skipped if the route is absent;
- wyoming: `transcribe`, `audio-start`, the PCM in `audio-chunk`s of --chunk-samples samples (Home
  Assistant sends 1024), `audio-stop` -> `transcript`, with the `wyoming` package's AsyncTcpClient
  (one connection per client, reused as HTTP keep-alive is).

`--engine local` by default: pocketsphinx holds the GIL while it decodes, so on the thread engine
the server's event loop (which reads every request, and Wyoming's many small chunk events) waits
behind the decodes; `--engine thread` shows that.

The HTTP doors are called with httpx (one AsyncClient per client, keep-alive). N clients each send
their share of --requests back to back after a short warm-up. Each point is measured --rounds
times, the doors taken in turn (their order rotated each round, so drift favours none), and each
door's best round is shown: on a shared machine other work only slows a round down. Every answer must
carry the text a `Session.run` of the graph gives, else it counts as an error.

Prints per door and client count: requests/s, p50, the decode time of the same requests (the
graph's node time per run, from the server's /metrics before and after the point: measured under the
same load, unlike `Session.run` alone in this process, which the header gives for reference), p50
minus it (what the protocol and the server add), requests/s as a ratio to native, and the same ratio
with each point's requests/s scaled by its decode time ("per decode": on a shared machine the decode
time of a point moves with the other work, by more than the doors differ; requests/s x decode time is
the graph's busy share, which the protocol's cost lowers and the machine's load does not).
Target: each front door within 5% of native.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Awaitable, Callable

REPO = Path(__file__).resolve().parents[1]
GRAPH = REPO / "examples" / "graphs" / "asr.yaml"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import _free_port, _wait, speech_wav, stop  # the same helpers as the load test

DOORS = ("native", "openai", "wyoming")


# ============================================================================ one request per door


def native(base: str, wav: bytes) -> Callable[[Any], Awaitable[str]]:
    async def call(http: Any) -> str:
        r = await http.post(base + "/graphs/asr/run", content=wav,
                            headers={"Content-Type": "audio/wav", "Accept": "application/json"})
        r.raise_for_status()
        return r.json()["outputs"]["text"]
    return call


def openai(base: str, wav: bytes) -> Callable[[Any], Awaitable[str]]:
    async def call(http: Any) -> str:
        r = await http.post(base + "/v1/audio/transcriptions", files={"file": ("speech.wav", wav, "audio/wav")},
                            data={"model": "asr", "response_format": "json"})
        r.raise_for_status()
        return r.json()["text"]
    return call


def wyoming(pcm: bytes, rate: int, chunk_samples: int) -> Callable[[Any], Awaitable[str]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from wyoming.asr import Transcribe, Transcript
        from wyoming.audio import AudioChunk, AudioStart, AudioStop
        from wyoming.error import Error
    step = 2 * chunk_samples

    async def call(client: Any) -> str:
        await client.write_event(Transcribe(name="asr", language="en").event())
        await client.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        for i in range(0, len(pcm), step):
            await client.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=pcm[i:i + step]).event())
        await client.write_event(AudioStop().event())
        event = await client.read_event()
        if event is None or not Transcript.is_type(event.type):
            raise RuntimeError(Error.from_event(event).text if event and Error.is_type(event.type) else repr(event))
        return Transcript.from_event(event).text
    return call


# ============================================================================ the load


async def _point(door: str, call: Callable[[Any], Awaitable[str]], connect: Callable[[], Any], clients: int,
                 total: int, expected: str) -> dict:
    lat: list[float] = []
    errors: list[str] = []

    async def one_client(n: int, measure: bool) -> None:
        conn = await connect()
        try:
            for _ in range(n):
                t = time.perf_counter()
                try:
                    text = await call(conn)
                    if text != expected:
                        raise RuntimeError(f"text {text!r}, not {expected!r}")
                except Exception as e:
                    errors.append(f"{type(e).__name__}: {e}")
                    continue
                if measure:
                    lat.append(time.perf_counter() - t)
        finally:
            await _close(conn)

    await asyncio.gather(*[one_client(1, False) for _ in range(clients)])  # warm-up: connections, engine pools
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
    node0 = await node_seconds()
    t0 = time.perf_counter()
    await asyncio.gather(*[one_client(n, True) for n in share if n])
    wall = time.perf_counter() - t0
    node1 = await node_seconds()
    runs = node1[1] - node0[1]
    return {"door": door, "clients": clients, "rps": len(lat) / wall if lat else 0.0,
            "p50": statistics.median(lat) * 1000 if lat else float("nan"),
            "decode": (node1[0] - node0[0]) / runs * 1000 if runs else float("nan"), "errors": errors}


METRICS_URL = ""  # the server's /metrics, set by main


async def node_seconds() -> tuple[float, float]:
    """(seconds, runs) the server has spent in the ASR graph's nodes so far (its node histogram)."""
    import httpx
    async with httpx.AsyncClient() as http:
        text = (await http.get(METRICS_URL, timeout=30)).text
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("modulespack_node_seconds_sum{") and 'graph="asr"' in line:
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("modulespack_node_seconds_count{") and 'graph="asr"' in line:
            count = max(count, float(line.rsplit(" ", 1)[1]))  # runs: every node counts each once
    return total, count


async def _close(conn: Any) -> None:
    if hasattr(conn, "aclose"):
        await conn.aclose()
    else:
        await conn.disconnect()


def decode_ms(wav_path: Path, runs: int = 5) -> tuple[float, str]:
    """Median ms of `Session.run` on the WAV (after one warm-up run), and its text."""
    import modulespack as mp
    from modulespack.io import read_wav
    x, sr = read_wav(wav_path)
    with mp.Session(GRAPH) as s:
        text = s.run({"wav": x, "sr": sr})["text"]
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            s.run({"wav": x, "sr": sr})
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000, text


# ============================================================================ main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=16, help="measured requests per door and point (default 16)")
    ap.add_argument("--rounds", type=int, default=2, help="measurements per point, doors alternating; best shown (default 2)")
    ap.add_argument("--clients", default="1,8", help="concurrent clients per point (default 1,8)")
    ap.add_argument("--concurrency", type=int, default=4, help="the server's runs at a time per graph (default 4)")
    ap.add_argument("--engine", choices=("local", "thread"), default="local",
                    help="where the server runs the graph (default local: worker processes)")
    ap.add_argument("--chunk-samples", type=int, default=1024, help="samples per Wyoming audio-chunk (default 1024)")
    args = ap.parse_args(argv)
    import httpx

    clients = [int(c) for c in args.clients.split(",") if c]
    tmp = Path(tempfile.mkdtemp(prefix="frontdoors_"))
    try:
        wav_path = tmp / "speech.wav"
        speech_wav(wav_path)
        wav = wav_path.read_bytes()
        import io
        import wave
        with wave.open(io.BytesIO(wav)) as w:
            pcm, rate, seconds = w.readframes(w.getnframes()), w.getframerate(), w.getnframes() / w.getframerate()
        dec_ms, expected = decode_ms(wav_path)
        port, wport = _free_port(), _free_port()
        log = tmp / "server.log"
        cmd = [sys.executable, "-m", "modulespack.cli", "serve", str(GRAPH), "--host", "127.0.0.1", "--port",
               str(port), "--wyoming", f"tcp://127.0.0.1:{wport}", "--concurrency", str(args.concurrency),
               "--engine", args.engine, "--timeout", "300", "--log-level", "warning"]
        with log.open("wb") as out:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=REPO)
        base = f"http://127.0.0.1:{port}"
        global METRICS_URL
        METRICS_URL = base + "/metrics"
        try:
            _wait(proc, base + "/readyz", log)
            has_openai = httpx.post(base + "/v1/audio/transcriptions", timeout=30).status_code != 404
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from wyoming.client import AsyncTcpClient

            async def wyoming_client() -> Any:
                c = AsyncTcpClient("127.0.0.1", wport)
                await c.connect()
                return c

            async def http_client() -> Any:
                return httpx.AsyncClient(timeout=300)

            doors = {"native": (native(base, wav), http_client),
                     "openai": (openai(base, wav), http_client),
                     "wyoming": (wyoming(pcm, rate, args.chunk_samples), wyoming_client)}
            if not has_openai:
                del doors["openai"]
            print(f"# asr.yaml on one `modulespack serve --engine {args.engine}` (concurrency {args.concurrency}); a {seconds:.2f} s "
                  f"utterance ({rate} Hz); {args.requests} requests per point, best of {args.rounds} round(s); "
                  f"Session.run alone: {dec_ms:.0f} ms (text {expected!r})", flush=True)
            if not has_openai:
                print("# no /v1/audio/transcriptions on this server: the openai rows are skipped", flush=True)
            print(f"{'door':<8} {'clients':>7} {'req/s':>8} {'p50 ms':>8} {'decode ms':>9} {'p50-decode':>10} "
                  f"{'vs native':>9} {'per decode':>10}  errors")
            rows = []
            turn = 0
            for c in clients:
                res: dict[str, dict] = {}
                for _ in range(args.rounds):
                    names = list(doors)
                    names = names[turn % len(names):] + names[:turn % len(names)]  # rotated each round
                    turn += 1
                    for name in names:
                        call, connect = doors[name]
                        r = asyncio.run(_point(name, call, connect, c, max(args.requests, c), expected))
                        best = res.get(name)
                        if best is not None:
                            r["errors"] += best["errors"]
                        res[name] = r if best is None or r["rps"] > best["rps"] else {**best, "errors": r["errors"]}
                for name in doors:
                    r = res[name]
                    nat = res["native"]
                    ratio = r["rps"] / nat["rps"] if nat["rps"] else float("nan")
                    scaled = (r["rps"] * r["decode"]) / (nat["rps"] * nat["decode"]) if nat["rps"] else float("nan")
                    rows.append((name, c, scaled, r))
                    print(f"{name:<8} {c:>7} {r['rps']:>8.2f} {r['p50']:>8.0f} {r['decode']:>9.0f} "
                          f"{r['p50'] - r['decode']:>10.0f} "
                          f"{ratio:>9.1%} {scaled:>10.1%}  {len(r['errors'])}", flush=True)
        finally:
            stop(proc)
        for name, c, _, r in rows:
            if r["errors"]:
                print(f"# {name} x{c}: {len(r['errors'])} errors, first: {r['errors'][0]}")
        worst = min((ratio, name, c) for name, c, ratio, _ in rows if name != "native")
        print(f"# worst front door: {worst[1]} with {worst[2]} client(s) at {worst[0]:.1%} of native requests/s "
              f"per decode time (target: within 5%, i.e. >= 95%)")
        return 1 if any(r["errors"] for *_, r in rows) else 0
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
