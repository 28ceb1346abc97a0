"""Load test of the web app, side by side with a bare FastAPI endpoint doing the same work.

    python bench/serve_load.py [--requests 400] [--heavy-requests 24] [--clients 1,8,32] [--workers 1]
                               [--concurrency 4] [--heavy-engine thread|local] [--heavy asr|vc|resynth|none]
                               [--engine thread|local|ray]

`--engine ray` runs the Ray Serve comparison instead (bench/serve_ray.py: `modulespack serve
--engine ray` against bare Ray Serve), with the options both take (--requests, --heavy-requests,
--clients, --concurrency, --warmup, --rounds, --heavy) passed on as given; serve_ray.py's own
defaults otherwise. `--engine local` serves every graph on worker processes.

Two servers run under the same uvicorn settings (a subprocess each, 127.0.0.1, a free port, `--workers`
processes, log level warning):

- modulespack: `modulespack serve` on examples/graphs/arith.yaml (a trivial graph: four float nodes)
  and a speech graph (ASR if examples/graphs/asr.yaml exists, else VC, else WORLD resynthesis);
- bare: a tiny FastAPI app defined here, with one route per graph doing the same work without
  modulespack's serving layer or Session: arith computes (a + b) * 3 - 8 and (a + b) * 2 from a
  pydantic body; the speech route decodes the WAV with soundfile and calls the graph's module
  instances in order itself (built once at start-up, as any hand-written server would).

Both get the same requests (JSON for arith, a WAV body for the speech graph) from a load driver in a
second process (bench/load_driver.py): asyncio with a small keep-alive HTTP/1.1 client (httpx costs more CPU than the
trivial server it measures, on a 2-core machine), N clients each sending its share of the requests
back to back, after a warm-up. Each arith point is measured `--rounds` times, alternating the two
servers, and each server's best round is shown (on a shared machine other work only slows a round
down). Prints requests/s and p50/p99 latency per point and the ratio.
Target: the trivial graph reaches at least 85% of the bare endpoint's requests/s.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
GRAPHS = REPO / "examples" / "graphs"
STARTUP_S = 120


# ============================================================================ the bare app


def bare_app(heavy_graph: str | None = None) -> Any:
    """FastAPI app doing the benchmark's work without modulespack's serving layer."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    ArithBody = _models()
    app = FastAPI()

    def arith(body):  # a sync route: run on a worker thread, as modulespack runs graphs
        t = time.perf_counter()
        s = body.inputs.a + body.inputs.b
        out = {"result": s * 3 - 8, "doubled": s * 2}
        return {"outputs": out, "timings_ms": {}, "seconds": time.perf_counter() - t}

    arith.__annotations__ = {"body": ArithBody, "return": dict}  # real classes, not strings (future import)
    app.post("/arith")(arith)

    if heavy_graph:
        import base64

        import numpy as np

        from modulespack.core import Edge, GraphInput, Session
        from modulespack.core.spec import Const
        from modulespack.io import read_wav_bytes, wav_to_bytes

        sess = Session(heavy_graph)          # only to build the module instances once
        g = sess.graph
        steps = [(n, sess.modules[n], g.nodes[n].sources) for n in g.order]
        outs = {k: (e.node, e.port) for k, e in g.spec.outputs.items()}

        def compute(wav: np.ndarray, sr: int) -> dict:
            vals: dict[tuple[str, str], Any] = {}
            feeds = {"wav": wav, "sr": sr}
            for name, inst, sources in steps:
                kw = {}
                for port, src in sources.items():
                    if isinstance(src, Edge):
                        kw[port] = vals[(src.node, src.port)]
                    elif isinstance(src, GraphInput):
                        kw[port] = feeds[src.name]
                    elif isinstance(src, Const):
                        kw[port] = src.value
                for p, v in inst.run(**kw).items():
                    vals[(name, p)] = v
            return {k: vals[ref] for k, ref in outs.items()}

        async def heavy(request):
            data = await request.body()
            wav, sr = read_wav_bytes(data)

            def work():
                res = compute(wav.astype(np.float32), int(sr))
                out = {}
                for k, v in res.items():
                    if k == "wav":
                        out[k] = {"wav_base64": base64.b64encode(wav_to_bytes(v, sr)).decode(), "sr": int(sr)}
                    elif isinstance(v, np.ndarray):
                        out[k] = v.tolist()
                    else:
                        out[k] = v.item() if isinstance(v, np.generic) else v
                return out

            from starlette.concurrency import run_in_threadpool
            out = await run_in_threadpool(work)
            return Response(json.dumps({"outputs": out}), media_type="application/json")

        heavy.__annotations__ = {"request": Request, "return": Response}
        app.post("/heavy")(heavy)

    return app


def _models() -> Any:
    from pydantic import BaseModel, create_model
    inputs = create_model("ArithInputs", a=(float, ...), b=(float, ...))
    return create_model("ArithBody", inputs=(inputs, ...), __base__=BaseModel)


def bare_app_from_env() -> Any:
    return bare_app(os.environ.get("SERVE_LOAD_HEAVY") or None)


# ============================================================================ servers


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(proc: subprocess.Popen, url: str, log: Path) -> None:
    import urllib.request
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"server did not start within {STARTUP_S} s:\n{log.read_text()[-3000:]}")


def start_modulespack(files: list[Path], port: int, args: argparse.Namespace, logdir: Path) -> subprocess.Popen:
    log = logdir / "modulespack.log"
    cmd = [sys.executable, "-m", "modulespack.cli", "serve", *map(str, files), "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(args.workers), "--log-level", "warning",
           "--concurrency", str(args.concurrency), "--timeout", "300"]
    if args.engine == "local":
        cmd += ["--engine", "local"]
    elif args.heavy_executor in ("process", "local") and len(files) > 1:
        cmd += ["--engine-graph", f"{files[1].stem}=local"]
    proc = subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT, cwd=REPO)
    _wait(proc, f"http://127.0.0.1:{port}/readyz", log)
    return proc


def start_bare(heavy: Path | None, port: int, args: argparse.Namespace, logdir: Path) -> subprocess.Popen:
    log = logdir / "bare.log"
    env = {**os.environ, "SERVE_LOAD_HEAVY": str(heavy or "")}
    code = ("import sys, uvicorn; sys.path.insert(0, %r); "
            "uvicorn.run('serve_load:bare_app_from_env', factory=True, host='127.0.0.1', port=%d, "
            "workers=%d, log_level='warning')" % (str(Path(__file__).parent), port, args.workers))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            cwd=REPO, env=env)
    _wait(proc, f"http://127.0.0.1:{port}/docs", log)
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def run_point(url: str, ctype: str, body_file: Path, clients: int, total: int, warmup: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).with_name("load_driver.py")), url, "--ctype", ctype,
                          "--body", str(body_file), "--clients", str(clients), "--total", str(total),
                          "--warmup", str(warmup)],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise SystemExit(f"load driver failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def pick_heavy(choice: str) -> Path | None:
    order = {"asr": ["asr"], "vc": ["vc"], "resynth": ["resynth"], "auto": ["asr", "vc", "resynth"], "none": []}
    for name in order[choice]:
        p = GRAPHS / f"{name}.yaml"
        if p.exists():
            return p
    return None


def speech_wav(path: Path) -> None:
    """A spoken sentence (flite) or, without flite, 2 s of a vowel-like tone, as 16 kHz WAV."""
    import numpy as np

    from modulespack.io import wav_to_bytes
    if shutil.which("flite"):
        raw = path.with_suffix(".flite.wav")
        subprocess.run(["flite", "-voice", "rms", "-t", "the quick brown fox jumps over the lazy dog",
                        "-o", str(raw)], check=True, timeout=60)
        from modulespack.io import read_wav
        x, sr = read_wav(raw)
        path.write_bytes(wav_to_bytes(x, sr))
        return
    sr = 16000
    t = np.arange(2 * sr) / sr
    x = 0.3 * np.sign(np.sin(2 * np.pi * 120 * t)) * np.hanning(len(t))
    path.write_bytes(wav_to_bytes(x.astype(np.float32), sr))


RAY_OPTIONS = ("--requests", "--heavy-requests", "--clients", "--concurrency", "--warmup", "--rounds", "--heavy")


def ray_argv(argv: list[str]) -> list[str]:
    """The options of `argv` that serve_ray.py takes too (as given: its own defaults otherwise);
    ValueError for one that has no meaning on Ray Serve."""
    out, i = [], 0
    while i < len(argv):
        name, eq, _ = argv[i].partition("=")
        takes = 0 if eq else 1  # every option here has a value, after '=' or as the next word
        if name == "--engine":
            pass
        elif name in RAY_OPTIONS:
            out += argv[i:i + 1 + takes]
        else:
            raise ValueError(f"{name} has no meaning with --engine ray (options: {', '.join(RAY_OPTIONS)})")
        i += 1 + takes
    return out


def on_ray(argv: list[str]) -> int:
    try:
        forwarded = ray_argv(argv)
    except ValueError as e:
        print(f"serve_load.py: {e}", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import serve_ray
    return serve_ray.main(forwarded)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=400, help="requests per point, trivial graph (default 400)")
    ap.add_argument("--heavy-requests", type=int, default=24, help="requests per point, speech graph (default 24)")
    ap.add_argument("--clients", default="1,8,32", help="concurrent clients per point (default 1,8,32)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes, both servers (default 1)")
    ap.add_argument("--concurrency", type=int, default=4, help="modulespack runs at a time per graph (default 4)")
    ap.add_argument("--heavy-executor", "--heavy-engine", choices=("thread", "local", "process"), default="thread",
                    help="how modulespack runs the speech graph (process: pocketsphinx holds the GIL)")
    ap.add_argument("--heavy", choices=("auto", "asr", "vc", "resynth", "none"), default="auto")
    ap.add_argument("--engine", choices=("thread", "local", "ray"), default="thread",
                    help="where modulespack runs the graphs: thread (default), local (worker processes), or "
                         "ray: the Ray Serve comparison of bench/serve_ray.py instead")
    ap.add_argument("--warmup", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5,
                    help="measurements per arith point, alternating servers; the best of each is shown (default 5)")
    args = ap.parse_args()
    if args.engine == "ray":
        return on_ray(sys.argv[1:])

    clients = [int(c) for c in args.clients.split(",") if c]
    heavy = pick_heavy(args.heavy)
    files = [GRAPHS / "arith.yaml"] + ([heavy] if heavy else [])
    tmp = Path(tempfile.mkdtemp(prefix="serve_load_"))
    try:
        arith_body = tmp / "arith.json"
        arith_body.write_text(json.dumps({"inputs": {"a": 1.5, "b": 2.5}}))
        wav_body = tmp / "speech.wav"
        if heavy:
            speech_wav(wav_body)
        mp_port, bare_port = _free_port(), _free_port()
        print(f"# {os.cpu_count()} CPUs; uvicorn workers={args.workers}; modulespack concurrency={args.concurrency} "
              f"per graph, speech graph executor={args.heavy_executor}; requests per point: {args.requests} (arith), "
              f"{args.heavy_requests} (speech)", flush=True)
        if heavy is None:
            print("# no ASR/VC graph in examples/graphs: the speech rows are skipped", flush=True)
        elif heavy.stem != "asr":
            print(f"# no examples/graphs/asr.yaml: the speech rows use {heavy.name}", flush=True)
        mp = start_modulespack(files, mp_port, args, tmp)
        bare = start_bare(heavy, bare_port, args, tmp)
        rows = []
        try:
            points = [("arith", "/graphs/arith/run", "/arith", "application/json", arith_body, args.requests)]
            if heavy:
                points.append((heavy.stem, f"/graphs/{heavy.stem}/run", "/heavy", "audio/wav", wav_body,
                               args.heavy_requests))
            for graph, mp_path, bare_path, ctype, body, total in points:
                for c in clients:
                    n = max(total, c)
                    warm = args.warmup if graph == "arith" else max(c, 2)
                    rounds = args.rounds if graph == "arith" else 1
                    a_runs, b_runs = [], []
                    for i in range(rounds):  # alternate, keep each server's best round (noise only slows)
                        first_mp = i % 2 == 0
                        for which in ((0, 1) if first_mp else (1, 0)):
                            if which == 0:
                                a_runs.append(run_point(f"http://127.0.0.1:{mp_port}{mp_path}", ctype, body, c, n,
                                                        warm if i == 0 else 0))
                            else:
                                b_runs.append(run_point(f"http://127.0.0.1:{bare_port}{bare_path}", ctype, body, c,
                                                        n, warm if i == 0 else 0))
                    a = max(a_runs, key=lambda r: r["rps"])
                    b = max(b_runs, key=lambda r: r["rps"])
                    a["errors"] = sum(r["errors"] for r in a_runs)
                    b["errors"] = sum(r["errors"] for r in b_runs)
                    rows.append((graph, c, a, b))
                    _print_row(graph, c, a, b, header=len(rows) == 1)
        finally:
            stop(mp)
            stop(bare)
        bad = [(g, c) for g, c, a, b in rows if a["errors"] or b["errors"]]
        for g, c, a, b in rows:
            for name, r in (("modulespack", a), ("bare", b)):
                if r["errors"]:
                    print(f"# {g} x{c} {name}: {r['errors']} errors, first: {r['first_error']}")
        arith = [(c, a["rps"] / b["rps"]) for g, c, a, b in rows if g == "arith"]
        worst = min(r for _, r in arith) if arith else float("nan")
        print(f"# trivial graph: modulespack reaches {worst:.0%} of the bare endpoint's requests/s at worst "
              f"(target >= 85%): {'met' if worst >= 0.85 else 'NOT met'}")
        return 1 if bad else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _print_row(graph: str, c: int, a: dict, b: dict, header: bool) -> None:
    if header:
        print(f"{'graph':<10}{'clients':>8} | {'modulespack req/s':>17}{'p50 ms':>9}{'p99 ms':>9} | "
              f"{'bare req/s':>10}{'p50 ms':>9}{'p99 ms':>9} | {'ratio':>6}")
    print(f"{graph:<10}{c:>8} | {a['rps']:>17.1f}{a['p50']:>9.2f}{a['p99']:>9.2f} | "
          f"{b['rps']:>10.1f}{b['p50']:>9.2f}{b['p99']:>9.2f} | {a['rps'] / b['rps']:>6.0%}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
