"""The items of a batch: one utterance each, ``{"name", "inputs", "outputs"}``; made from names and
templates, their input files read (by extension; a WAV fills the input carrying its rate, as
`modulespack run` does) and their outputs written atomically in the toolkit's conventions; what
counts as done already, and the temporary files an interrupted run left."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

NAME = "{name}"

class ItemInputError(ValueError):
    """An item's input could not be read (missing or unreadable file, a rate that contradicts it)."""


def expand(template: str, name: str) -> str:
    """A template with ``{name}`` filled (plain replacement: paths may hold other braces)."""
    return template.replace(NAME, name)


def make_items(names: Iterable[str], inputs: Mapping[str, Any],
               outputs: Mapping[str, str] | None = None) -> list[dict]:
    """Items from utterance names and templates: a string input with ``{name}`` is that file for
    each name; other inputs (``{"value": V}``, numbers, a fixed file) are the same for all."""
    out = []
    for n in names:
        item: dict[str, Any] = {"name": n, "inputs": {k: expand(v, n) if isinstance(v, str) else v
                                                      for k, v in inputs.items()}}
        if outputs:
            item["outputs"] = {k: expand(v, n) for k, v in outputs.items()}
        out.append(item)
    return out


def _file_of(value: Any) -> str | None:
    if isinstance(value, (str, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, dict) and set(value) == {"file"}:
        return os.fspath(value["file"])
    return None


def _read_file(path: str) -> tuple[Any, int | None]:
    """(value, rate) of an input file by its extension; rate only for WAV files."""
    import numpy as np

    from ..io import read_raw, read_wav

    head, sep, tail = path.rpartition(":")
    dim = None
    if sep and tail.isdigit() and Path(head).suffix.lower() in (".f32", ".raw"):
        path, dim = head, int(tail)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such file")
    suffix = Path(path).suffix.lower()
    if suffix == ".wav":
        wav, sr = read_wav(path)
        return wav, int(sr)
    if suffix in (".f32", ".raw"):
        return read_raw(path, dim=dim or 1, squeeze=dim is None), None
    if suffix == ".npy":
        return np.load(path, allow_pickle=False), None
    if suffix == ".txt":
        return Path(path).read_text(encoding="utf-8"), None
    if suffix == ".json":
        return json.loads(Path(path).read_text(encoding="utf-8")), None
    return Path(path).read_bytes(), None


def read_item(item: Mapping[str, Any], graph: Any) -> dict[str, Any]:
    """The feeds of one item: files read, literals as given, and the rate input of each WAV input
    filled from the file (a rate given as well must agree). Raises ValueError/OSError naming the
    input and file. Module-level and free of state, so Ray actors call it too."""
    from ..io.audio_ports import audio_inputs, rate_input

    feeds: dict[str, Any] = {}
    rates: dict[str, tuple[int, str]] = {}
    for name, value in item["inputs"].items():
        path = _file_of(value)
        if path is None:
            feeds[name] = value["value"] if isinstance(value, dict) and set(value) == {"value"} else value
            continue
        try:
            feeds[name], sr = _read_file(path)
        except (OSError, ValueError) as e:   # FormatError names the file
            raise ItemInputError(f"input '{name}': {e}") from None
        if sr is not None:
            rates[name] = (sr, path)
    pairs = audio_inputs(graph)
    for name, (sr, path) in rates.items():
        target = pairs[name] if name in pairs else rate_input(graph, name, exclude=pairs)
        if target is None:
            continue
        if target in feeds:
            try:
                same = float(feeds[target]) == float(sr)
            except (TypeError, ValueError):
                same = False
            if not same:
                raise ItemInputError(f"input '{target}' is {feeds[target]!r} but {path} is {sr} Hz")
            continue
        port = graph.inputs[target]
        feeds[target] = float(sr) if port.dtype == "float" else sr
    return feeds


def light_feeds(item: Mapping[str, Any], graph: Any) -> tuple[dict[str, Any], float]:
    """What the driver needs to write an item's outputs without reading its inputs again: the
    scalar inputs (rates from WAV headers), and the seconds of audio of its first WAV input."""
    import soundfile

    from ..io.audio_ports import audio_inputs, rate_input

    feeds: dict[str, Any] = {}
    seconds = 0.0
    pairs = audio_inputs(graph)
    for name, value in item["inputs"].items():
        path = _file_of(value)
        if path is None:
            v = value["value"] if isinstance(value, dict) and set(value) == {"value"} else value
            if isinstance(v, (int, float)):
                feeds[name] = v
        elif path.lower().endswith(".wav"):
            try:
                info = soundfile.info(path)
            except (OSError, RuntimeError):
                continue
            seconds = seconds or float(info.duration)
            target = pairs[name] if name in pairs else rate_input(graph, name, exclude=pairs)
            if target is not None:
                feeds.setdefault(target, int(info.samplerate))
    return feeds, seconds


# --------------------------------------------------------------------------- outputs


def _wav_rate_sources(graph: Any, files: Mapping[str, str]) -> dict[str, str | None]:
    from ..io.audio_ports import output_rate
    return {k: output_rate(graph, k) for k, p in files.items() if p.lower().endswith(".wav")}


def fetches_for(graph: Any, files: Mapping[str, str]) -> tuple[str, ...]:
    """What to fetch to write `files`: their keys, and the rate outputs their WAV files need."""
    keys = list(files)
    for src in _wav_rate_sources(graph, files).values():
        if src and src.startswith("out:") and src[4:] not in keys:
            keys.append(src[4:])
    return tuple(keys)


def write_item(graph: Any, item: Mapping[str, Any], outputs: Mapping[str, Any], wav_format: str = "float",
               feeds: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Write an item's fetched outputs to its files, each atomically; returns fetch -> path."""
    import numpy as np

    from ..io import atomic_open, write_raw, write_wav
    from ..io.audio_ports import WAV_SUBTYPES, as_rate, rate_value

    files = item["outputs"]
    if feeds is None:
        feeds = light_feeds(item, graph)[0]
    sources = _wav_rate_sources(graph, files)
    for key, path in files.items():
        value = outputs[key]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        if key in sources:
            src = sources[key]
            if src is None:
                raise ValueError(f"output '{key}': the graph gives no sample rate for it, so it cannot be "
                                 f"written as WAV ({path}); give it another extension (raw float32)")
            arr = np.asarray(value)
            if arr.dtype.kind != "f" or arr.ndim not in (1, 2):
                raise ValueError(f"output '{key}' is not audio ({arr.dtype} shape {arr.shape}), cannot write {path}")
            write_wav(path, arr, as_rate(rate_value(src, outputs, feeds, graph.defaults)),
                      subtype=WAV_SUBTYPES[wav_format])
        elif isinstance(value, (str, bytes, bytearray)):
            with atomic_open(path) as f:
                f.write(value.encode("utf-8") if isinstance(value, str) else bytes(value))
        else:
            arr = np.asarray(value)
            if arr.dtype.kind not in "fiub":
                raise ValueError(f"output '{key}' ({arr.dtype}) cannot be written as raw float32 to {path}")
            # a raw file is flat bytes in C order whatever the rank: [frames, dim] stays as it is
            write_raw(arr if arr.ndim == 2 else arr.reshape(-1), path)
    return dict(files)


def done_already(item: Mapping[str, Any]) -> bool:
    files = item.get("outputs") or {}
    return bool(files) and all(os.path.exists(p) for p in files.values())


_TEMP = re.compile(r"^\.(.+)\.[0-9a-f]{12}\.tmp$")


def remove_stale_temps(items: Sequence[Mapping[str, Any]]) -> int:
    """Delete temporary files that a killed batch left beside its outputs (modulespack.io's atomic
    writes: `.<file>.<hex>.tmp`); only those of this batch's output files. Returns how many."""
    wanted: dict[str, set[str]] = {}
    for it in items:
        for p in (it.get("outputs") or {}).values():
            d, base = os.path.split(os.path.abspath(p))
            wanted.setdefault(d, set()).add(base[:120])
    removed = 0
    for d, bases in wanted.items():
        try:
            entries = os.listdir(d)
        except OSError:
            continue
        for e in entries:
            m = _TEMP.match(e)
            if m and m[1] in bases:
                try:
                    os.unlink(os.path.join(d, e))
                    removed += 1
                except FileNotFoundError:
                    pass
    return removed


# --------------------------------------------------------------------------- running
