"""`modulespack run`: run a graph once on inputs given on the command line."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, add_command, built_graph, err
from .outputs import WAV_SUBTYPES, audio_rates, audio_sources, describe, summarise, write_outputs, written_text
from .values import InputError, parse_inputs

EPILOG = """\
VALUE of --input NAME=VALUE:
  a JSON literal        a=1.5   names='["x", "y"]'   (for a str input the text is taken as is)
  plain text            text=hello   (anything that is not JSON)
  @file.wav             float32 samples in [-1, 1] (16/32-bit PCM or float WAV)
  @file.f32, @file.raw  raw little-endian float32, 1-D; @file.f32:DIM for a [frames, DIM] matrix
  @file.npy  @file.txt  @file.json   a numpy array, the text, the parsed JSON
  @other.file           the file's bytes
  @@text                the literal text '@text'
Numbers and lists are converted to the input's declared dtype (float, float32 array, ...).

With -o OUTDIR, audio outputs (1-D float arrays whose name contains "wav" or "audio") are written
as WAV at the rate the graph gives them: a rate output beside them (synth/wav -> synth/sr), else
the rate their producer (or the nearest node upstream) was given or made, e.g. the rate of the
input WAV; --sr only when the graph says nothing. Other numeric arrays are written as raw
little-endian float32 .f32 (the shape is printed; non-numeric arrays as .npy), text as .txt,
bytes as .bin. Files are written atomically (temporary file, then rename).

A WAV file given for an audio input fills the input that carries its rate (sr); a rate given as
well must agree with the file.

--engine says where the graph runs: thread (default: this process), local (a worker process
that builds its own Session: the same results, the module's errors alike), ray (a Ray actor; a
local Ray, or the cluster given by --address).

Exit status: 0 success, 1 invalid graph or a module failed (or the engine could not run it), 2 bad
--input/--fetch (also an input value a module refused, e.g. empty text).

examples:
  modulespack run examples/graphs/arith.yaml --input a=1 --input b=2
  modulespack run examples/graphs/arith.yaml -i a=1 -i b=2 --fetch sum/y --fetch double/y --timings
  modulespack run examples/graphs/resynth.yaml --input wav=@speech.wav -o out/   # out/wav.wav at its rate
  modulespack run mfcc.yaml --input wav=@a.wav --fetch mfcc/feats -o feats/ --json
  modulespack run examples/graphs/asr.yaml --input wav=@a.wav --engine local
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = add_command(sub, "run", cmd_run, help="run a graph once on inputs given on the command line",
                    description="Build a graph, run it once on the given inputs and print (or write) "
                                "the fetched outputs.",
                    epilog=EPILOG)
    p.add_argument("file", metavar="FILE", help="graph file")
    p.add_argument("-i", "--input", action="append", metavar="NAME=VALUE",
                   help="a graph input (repeat for each input); see VALUE below")
    p.add_argument("-f", "--fetch", action="append", metavar="NODE/PORT",
                   help="what to compute: a graph output name or node/port (repeatable; "
                        "default: every graph output)")
    p.add_argument("-o", "--output-dir", metavar="OUTDIR", help="write array, text and audio outputs here")
    p.add_argument("--sr", type=int, default=None, metavar="HZ",
                   help="sample rate for WAV outputs whose rate the graph does not give (default 16000)")
    p.add_argument("--wav-format", choices=sorted(WAV_SUBTYPES), default="float",
                   help="sample format of written WAV files (default float: 32-bit float, lossless)")
    p.add_argument("--no-check", action="store_true",
                   help="skip run-time checks of inputs and module outputs against their ports")
    p.add_argument("--timings", action="store_true", help="print each node's run time in ms")
    p.add_argument("--json", action="store_true", help="print one JSON object (outputs, timings, files)")
    p.add_argument("--traceback", action="store_true", help="when a module fails, print its original traceback")
    p.add_argument("--engine", choices=("thread", "local", "ray"), default="thread",
                   help="where the graph runs (default thread: in this process); see below")
    p.add_argument("--address", default=None, metavar="ADDR",
                   help="Ray cluster for --engine ray ('auto', 'ray://host:10001'; default: a local Ray)")
    return p


def cmd_run(args: argparse.Namespace) -> int:
    from .. import FeedError, GraphError, NodeError, NodeInputError
    from ..engines import EngineError, WorkerDied, make_engine
    from ..io.audio_ports import default_fetches, fetch_port

    graph = built_graph(args.file)
    if graph is None:
        return EXIT_FAIL
    try:
        feeds = parse_inputs(args.input or [], graph)
    except InputError as e:
        err(f"error: {e}")
        return EXIT_USAGE
    options: dict[str, Any] = {"workers": 1, "session_options": {"check": not args.no_check}}
    if args.address:
        options["address"] = args.address
    try:
        engine = make_engine(args.engine, graph, **options)
        engine.start()
    except GraphError as e:
        for p in e.problems:
            err(str(p))
        return EXIT_FAIL
    except (EngineError, ValueError) as e:
        err(f"error: the {args.engine} engine cannot run the graph: {e}")
        return EXIT_FAIL
    keys = list(dict.fromkeys(args.fetch)) if args.fetch else list(default_fetches(graph))
    sources, extra = audio_sources(graph, keys) if args.output_dir else ({}, [])
    try:
        try:
            result = engine.run(feeds, keys + extra if (args.fetch or extra) else None)
        except (EngineError, WorkerDied) as e:
            err(f"error: the {args.engine} engine could not run the graph: {e}")
            return EXIT_FAIL
        except (FeedError, NodeInputError) as e:  # the inputs given were wrong: name them, no traceback
            err(f"error: {e}")
            return EXIT_USAGE
        except NodeError as e:
            err(f"error: {e}")
            if args.traceback and e.traceback:
                err(e.traceback.rstrip("\n"))
            elif e.traceback:
                err("(run again with --traceback to see the module's traceback)")
            return EXIT_FAIL
    finally:
        engine.close()

    outputs = {k: v for k, v in result.outputs.items() if k not in extra}
    written: dict[str, dict] = {}
    if args.output_dir:
        try:
            rates = audio_rates(sources, result.outputs, feeds, graph.defaults, args.sr, err)
            ports = {k: p for k in outputs if (p := fetch_port(graph, k)) is not None}
            written = write_outputs(outputs, Path(args.output_dir), rates, args.wav_format, ports)
        except (OSError, ValueError, TypeError) as e:
            err(f"error: cannot write outputs to {args.output_dir}: {e}")
            return EXIT_FAIL

    if args.json:
        doc: dict[str, Any] = {"outputs": {k: summarise(v) for k, v in outputs.items()},
                               "seconds": result.seconds}
        if args.timings:
            doc["timings_ms"] = {k: v * 1e3 for k, v in result.timings.items()}
        if written:
            doc["files"] = written
        print(json.dumps(doc, indent=2))
        return EXIT_OK

    _print_result(outputs, result, args.timings)
    for info in written.values():
        print(f"wrote {written_text(info)}")
    return EXIT_OK


def _print_result(outputs: dict[str, Any], result: Any, timings: bool) -> None:
    width = max((len(k) for k in outputs), default=0)
    for k, v in outputs.items():
        text = describe(v)
        if "\n" in text:  # multi-line text reads better as an indented block under its name
            print(f"{k}:")
            print("  " + text.replace("\n", "\n  "))
        else:
            print(f"{k.ljust(width)}  {text}")
    if timings:
        print("timings:")
        tw = max((len(k) for k in (*result.timings, "total")), default=0)
        for k, v in result.timings.items():
            print(f"  {k.ljust(tw)}  {v * 1e3:9.3f} ms")
        print(f"  {'total'.ljust(tw)}  {result.seconds * 1e3:9.3f} ms")
