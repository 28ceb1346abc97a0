"""`modulespack batch`: run a graph over every utterance of a list, writing its outputs to files."""
from __future__ import annotations

import argparse
import os
from typing import Any

from .common import EXIT_FAIL, EXIT_OK, EXIT_USAGE, add_command, built_graph, err

EPILOG = """\
--input NAME=TEMPLATE, for each utterance NAME of the list:
  DIR/{name}.wav        a file per utterance, read by extension as `modulespack run` reads @file
                        (.wav, .f32/.raw[:DIM], .npy, .txt, .json); a WAV fills the rate input (sr)
  16000, hello          a literal (JSON, or text), the same for every utterance
  @file.wav             one file for every utterance
--output FETCH=TEMPLATE: a graph output (or node/port) to a file per utterance, by extension:
  .wav                  WAV at the rate the graph gives the output (--wav-format; default float)
  anything else         raw little-endian float32 (text outputs: UTF-8 text)

An utterance whose output files all exist is skipped, so an interrupted batch resumes where it
stopped; files are written atomically (no half-written file after a kill). An utterance that fails
(unreadable file, an input a module refuses) is written to the failures file (NAME TAB ERROR) and
the others go on.

Exit status: 0 all done or skipped, 1 some utterances failed (or the graph is invalid), 2 bad options.

examples:
  modulespack batch examples/graphs/features.yaml --list corpus/scp/train.lst \\
      --input wav=corpus/wav_16k/{name}.wav --output mgc=out/mgc/{name}.mgc --output f0=out/f0/{name}.f0
  modulespack batch features.yaml --list all.lst --input wav=wav/{name}.wav --output mgc=mgc/{name}.mgc \\
      --engine ray --address auto --workers 8
"""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    p = add_command(sub, "batch", cmd_batch, help="run a graph over every utterance of a list, writing files",
                    description="Run a graph over a corpus: every name of a list, inputs read from and "
                                "outputs written to files named after it.",
                    epilog=EPILOG)
    p.add_argument("file", metavar="GRAPH", help="graph file")
    p.add_argument("--list", required=True, metavar="FILE", help="utterance names, one per line")
    p.add_argument("-i", "--input", action="append", required=True, metavar="NAME=TEMPLATE",
                   help="a graph input: a file template with {name}, or a literal (repeatable)")
    p.add_argument("-o", "--output", action="append", required=True, metavar="FETCH=TEMPLATE",
                   help="a graph output (or node/port) and its file template with {name} (repeatable)")
    p.add_argument("--engine", choices=("local", "ray", "thread"), default="local",
                   help="where the graph runs: local worker processes (default), Ray, or threads here")
    p.add_argument("--workers", type=int, metavar="N", help="worker processes or Ray actors (default: CPUs)")
    p.add_argument("--address", metavar="ADDR", help="Ray cluster to use: ray://HOST:10001 or auto "
                                                     "(default: start a local one)")
    p.add_argument("--runtime-env", metavar="JSON", help="Ray runtime_env for the actors, e.g. "
                                                         "'{\"working_dir\": \".\"}' (ships this folder to every node)")
    p.add_argument("--failures", metavar="PATH", help="failures file (default: failures.tsv beside the "
                                                      "first output's folder)")
    p.add_argument("--wav-format", choices=("float", "pcm16", "pcm32"), default="float",
                   help="sample format of written WAV files (default float: 32-bit float, lossless)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _templates(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip() or not text:
            raise ValueError(f"--{what} {item!r}: write NAME=TEMPLATE")
        out[name.strip()] = text
    return out


def _inputs(templates: dict[str, str], graph: Any) -> dict[str, Any]:
    """Item inputs: a template with {name} stays a path template, `@file` a fixed file, the rest literals."""
    from .values import coerce, parse_value

    inputs: dict[str, Any] = {}
    for name, text in templates.items():
        if name not in graph.inputs:
            raise ValueError(f"--input {name}: the graph has no input '{name}' "
                             f"(inputs: {', '.join(graph.inputs) or 'none'})")
        if "{name}" in text:
            inputs[name] = text
        elif text.startswith("@") and not text.startswith("@@"):
            inputs[name] = {"file": text[1:]}
        else:
            inputs[name] = {"value": coerce(parse_value(text, graph.inputs[name]), graph.inputs[name])}
    return inputs


def _outputs(templates: dict[str, str], graph: Any) -> dict[str, str]:
    from ..io.audio_ports import fetch_port

    for key, text in templates.items():
        if fetch_port(graph, key) is None:
            raise ValueError(f"--output {key}: the graph has no output '{key}' "
                             f"(outputs: {', '.join(graph.outputs) or 'none'}, or node/port)")
        if "{name}" not in text:
            raise ValueError(f"--output {key}={text}: the template needs {{name}}, or every utterance "
                             f"would write the same file")
    return templates


def default_failures(outputs: dict[str, str]) -> str:
    """failures.tsv in the folder all output templates start from (before any {name})."""
    dirs = [os.path.dirname(t.split("{name}", 1)[0]) or "." for t in outputs.values()]
    try:
        common = os.path.commonpath(dirs)
    except ValueError:   # absolute and relative templates mixed
        common = os.path.commonpath([os.path.abspath(d) for d in dirs])
    return os.path.join(common, "failures.tsv")


def cmd_batch(args: argparse.Namespace) -> int:
    from ..engines.base import EngineError
    from ..engines.batch import BatchSummary, failure_line, run_batch, write_failures
    from ..engines.batch_items import done_already, make_items
    from ..io import read_list

    graph = built_graph(args.file)
    if graph is None:
        return EXIT_FAIL
    try:
        names = read_list(args.list)
    except OSError as e:
        err(f"error: --list {args.list}: {e.strerror or e}")
        return EXIT_USAGE
    if args.workers is not None and args.workers < 1:
        err("error: --workers must be at least 1")
        return EXIT_USAGE
    try:
        inputs = _inputs(_templates(args.input, "input"), graph)
        outputs = _outputs(_templates(args.output, "output"), graph)
    except ValueError as e:
        err(f"error: {e}")
        return EXIT_USAGE
    runtime_env = None
    if args.runtime_env:
        import json
        try:
            runtime_env = json.loads(args.runtime_env)
        except ValueError as e:
            err(f"error: --runtime-env: not JSON: {e}")
            return EXIT_USAGE
        if not isinstance(runtime_env, dict) or args.engine != "ray":
            err("error: --runtime-env takes a JSON object, with --engine ray")
            return EXIT_USAGE
    failures_path = args.failures or default_failures(outputs)
    twice = sorted({n for n in names if names.count(n) > 1}) if len(set(names)) < len(names) else []
    if twice:
        err(f"error: --list {args.list}: names given more than once (they would write the same files): "
            f"{', '.join(twice[:5])}")
        return EXIT_USAGE
    items = make_items(names, inputs, outputs)

    from tqdm import tqdm

    summary = BatchSummary()
    try:
        os.remove(failures_path)   # the last run's failures: this run's are written as they happen
    except FileNotFoundError:
        pass
    # finished ones counted from the start, so that the rate and ETA are those of the work left
    bar = tqdm(total=len(items), initial=sum(map(done_already, items)), unit="utt", desc=graph.name,
               disable=args.quiet, dynamic_ncols=True)
    log = None   # the failures file, appended to and flushed per failure: a Ctrl-C or a kill keeps them
    try:
        for r in run_batch(graph, items, engine=args.engine, workers=args.workers, address=args.address,
                           wav_format=args.wav_format, runtime_env=runtime_env):
            summary.add(r)
            if r.status != "skipped":
                bar.update(1)
            bar.set_postfix(done=summary.done, skipped=summary.skipped, failed=summary.failed, refresh=False)
            if r.status == "failed":
                bar.write(f"failed: {r.name}: {r.error}")
                if log is None:
                    os.makedirs(os.path.dirname(failures_path) or ".", exist_ok=True)
                    log = open(failures_path, "a", encoding="utf-8", newline="\n")
                log.write(failure_line(r.name, r.error or "failed"))
                log.flush()
    except EngineError as e:
        bar.close()
        err(f"error: the {args.engine} engine cannot run {args.file}: {e}")
        return EXIT_FAIL
    finally:
        if log is not None:
            log.close()
    bar.close()
    if summary.failures:
        write_failures(failures_path, summary.failures)   # the same lines, whole (atomic)
    print(summary.text())
    if summary.failures:
        print(f"{summary.failed} failed: see {failures_path}")
        return EXIT_FAIL
    return EXIT_OK
