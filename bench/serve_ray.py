"""`modulespack serve --engine ray` under load, side by side with bare Ray Serve doing the same work.

    python bench/serve_ray.py [--requests 200] [--heavy-requests 16] [--clients 1,8] [--rounds 3]

One local Ray (2 CPUs, 127.0.0.1) runs two Serve applications behind the same Serve HTTP proxy:

- modulespack: what `modulespack serve --engine ray` deploys (`modulespack.serve.ray_serve.start`) for
  examples/graphs/arith.yaml (four float nodes) and asr.yaml (pocketsphinx), at route prefix /;
- bare: a plain Serve deployment (route prefix /bare) whose ingress is the FastAPI app of
  bench/serve_load.py doing the same work without modulespack's serving layer or Session (arith
  from a pydantic body; ASR: the WAV decoded, the graph's module instances called in order).

Both ingresses get one replica (0.5 CPU each for Ray's scheduler: CPUs are not capped). A third
graph, `asr_deploy`, is the ASR graph with its recognizer node marked `deploy: {replicas: 2}`:
pocketsphinx holds the GIL, so one process runs one recognition at a time, and two replicas of the
node run two at once while the ingress stays as it is (its baseline is the same bare app).

The load driver is bench/load_driver.py (a separate process, keep-alive HTTP/1.1 clients sending back
to back, after a warm-up); each point is measured `--rounds` times (ASR: `--heavy-rounds`),
alternating the two apps, keeping each one's best round (on a shared machine other work only slows
a round down). Prints requests/s and p50/p99 per point and the ratio.
Target: modulespack >= bare Ray Serve.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
import serve_load  # noqa: E402  (the bare app, the servers, the table; its load driver is load_driver.py)

REPO = BENCH.parent
GRAPHS = REPO / "examples" / "graphs"
STARTUP_S = 180


def bare_builder():
    """The bare app, built in the Serve replica (it holds module instances, which do not pickle)."""
    import sys
    sys.path.insert(0, BENCH_DIR)
    import serve_load
    return serve_load.bare_app(HEAVY or None)


BENCH_DIR = str(BENCH)
HEAVY = os.environ.get("SERVE_RAY_HEAVY", "")


def deploy_bare(heavy: Path | None) -> None:
    from ray import serve

    global HEAVY
    HEAVY = str(heavy or "")
    dep = serve.deployment(serve.ingress(bare_builder)()).options(
        name="bare", num_replicas=1, ray_actor_options={"num_cpus": 0.5}, max_ongoing_requests=100)
    serve.run(dep.bind(), name="bare", route_prefix="/bare", blocking=False)


def deployed_variant(graph: Path, folder: Path) -> Path:
    """`graph` with its first node in a deployment of 2 replicas (examples dropped: their files are
    relative to the original)."""
    import yaml

    data = yaml.safe_load(graph.read_text())
    data["name"] = f"{graph.stem}_deploy"
    data.pop("examples", None)
    data["nodes"][0]["deploy"] = {"replicas": 2, "num_cpus": 0.5}
    out = folder / f"{graph.stem}_deploy.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def wait_ready(url: str) -> None:
    deadline = time.monotonic() + STARTUP_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"{url} not ready within {STARTUP_S} s")


def main(argv: list[str] | None = None) -> int:
    """`argv`: the options (default: the command line); `serve_load.py --engine ray` passes its own."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=200, help="requests per point, trivial graph (default 200)")
    ap.add_argument("--heavy-requests", type=int, default=16, help="requests per point, ASR graph (default 16)")
    ap.add_argument("--clients", default="1,8", help="concurrent clients per point (default 1,8)")
    ap.add_argument("--concurrency", type=int, default=8, help="modulespack runs at a time per graph (default 8)")
    ap.add_argument("--warmup", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3, help="measurements per arith point (best shown; default 3)")
    ap.add_argument("--heavy-rounds", type=int, default=2, help="measurements per ASR point (default 2)")
    ap.add_argument("--heavy", choices=("auto", "asr", "vc", "resynth", "none"), default="asr")
    args = ap.parse_args(argv)

    import ray

    from modulespack.serve import ray_serve
    from modulespack.serve.access import default_allowed_hosts

    clients = [int(c) for c in args.clients.split(",") if c]
    heavy = serve_load.pick_heavy(args.heavy)
    tmp = Path(tempfile.mkdtemp(prefix="serve_ray_"))
    os.environ.pop("RAY_ADDRESS", None)
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)
    try:
        arith_body = tmp / "arith.json"
        arith_body.write_text(json.dumps({"inputs": {"a": 1.5, "b": 2.5}}))
        wav_body = tmp / "speech.wav"
        if heavy:
            serve_load.speech_wav(wav_body)
        port = serve_load._free_port()
        files = [GRAPHS / "arith.yaml"] + ([heavy, deployed_variant(heavy, tmp)] if heavy else [])
        options = {"paths": [str(f) for f in files], "allowed_hosts": default_allowed_hosts("127.0.0.1"),
                   "concurrency": args.concurrency, "timeout_s": 300}
        print(f"# {os.cpu_count()} CPUs; Ray num_cpus=2; one ingress replica per app; modulespack "
              f"concurrency={args.concurrency} per graph; requests per point: {args.requests} (arith), "
              f"{args.heavy_requests} ({heavy.stem if heavy else '-'})", flush=True)
        ray_serve.start(options, host="127.0.0.1", port=port, num_cpus=0.5)
        deploy_bare(heavy)
        base = f"http://127.0.0.1:{port}"
        wait_ready(base + "/readyz")
        wait_ready(base + "/bare/docs")
        rows = []
        points = [("arith", "/graphs/arith/run", "/bare/arith", "application/json", arith_body, args.requests)]
        if heavy:
            for name in (heavy.stem, f"{heavy.stem}_deploy"):
                points.append((name, f"/graphs/{name}/run", "/bare/heavy", "audio/wav", wav_body,
                               args.heavy_requests))
        for graph, mp_path, bare_path, ctype, body, total in points:
            for c in clients:
                n = max(total, c)
                warm = args.warmup if graph == "arith" else max(c, 4)
                rounds = args.rounds if graph == "arith" else args.heavy_rounds
                a_runs, b_runs = [], []
                for i in range(rounds):  # alternate, keep each app's best round (noise only slows)
                    order = (0, 1) if i % 2 == 0 else (1, 0)
                    for which in order:
                        url = base + (mp_path if which == 0 else bare_path)
                        (a_runs if which == 0 else b_runs).append(
                            serve_load.run_point(url, ctype, body, c, n, warm if i == 0 else 0))
                a = max(a_runs, key=lambda r: r["rps"])
                b = max(b_runs, key=lambda r: r["rps"])
                a["errors"] = sum(r["errors"] for r in a_runs)
                b["errors"] = sum(r["errors"] for r in b_runs)
                rows.append((graph, c, a, b))
                serve_load._print_row(graph, c, a, b, header=len(rows) == 1)
        bad = False
        for g, c, a, b in rows:
            for name, r in (("modulespack", a), ("bare", b)):
                if r["errors"]:
                    bad = True
                    print(f"# {g} x{c} {name}: {r['errors']} errors, first: {r['first_error']}")
        worst = min(a["rps"] / b["rps"] for _, _, a, b in rows)
        print(f"# modulespack on Ray Serve reaches {worst:.0%} of bare Ray Serve's requests/s at worst "
              f"(target >= 100%): {'met' if worst >= 1.0 else 'NOT met'}")
        return 1 if bad else 0
    finally:
        try:
            ray_serve.stop()
        finally:
            ray.shutdown()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
