"""Turning `--input NAME=VALUE` text into the values a graph's inputs take."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence


class InputError(ValueError):
    """A --input could not be turned into a value."""


def _read_wav(path: str) -> Any:
    try:
        from ..io import read_wav
        return read_wav(path)[0]
    except ImportError as e:  # soundfile comes with the speech extra, not with the core package
        raise InputError(f"reading WAV files needs soundfile (pip install soundfile): {e}") from None


def _read_raw(path: str, dim: int | None) -> Any:
    from ..io import read_raw
    # no dimension means a plain 1-D signal, so that a raw file can feed a [None] port directly
    return read_raw(path, dim=dim or 1, squeeze=dim is None)


def read_input_file(ref: str) -> Any:
    """The value of `@path`: .wav (float32 samples), .f32/.raw[:DIM] (float32), .npy, .txt, .json."""
    path, dim = ref, None
    head, sep, tail = ref.rpartition(":")
    if sep and tail.isdigit() and Path(head).suffix.lower() in (".f32", ".raw"):
        path, dim = head, int(tail)
        if dim < 1:
            raise InputError(f"{ref}: the dimension after ':' must be at least 1")
    suffix = Path(path).suffix.lower()
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    if suffix == ".wav":
        return _read_wav(path)
    if suffix in (".f32", ".raw"):
        return _read_raw(path, dim)
    if suffix == ".npy":
        import numpy as np
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as e:
            raise InputError(f"{path}: not a readable .npy file ({e})") from None
    if suffix == ".txt":
        return Path(path).read_text(encoding="utf-8")
    if suffix == ".json":
        try:
            return json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: invalid JSON: {e}") from None
    return Path(path).read_bytes()


def parse_value(text: str, port: Any = None) -> Any:
    """A --input VALUE: `@file`, `@@...` (a literal '@...'), a JSON literal, or else the plain string.

    For a `str` port the text is taken as it is (no JSON parsing), so `--input text=123` is "123".
    """
    if text.startswith("@@"):
        return text[1:]
    if text.startswith("@"):
        return read_input_file(text[1:])
    if port is not None and getattr(port, "dtype", None) == "str":
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def coerce(value: Any, port: Any) -> Any:
    """Fit a command-line value to the input port it feeds: int -> float for float ports, lists and
    numbers -> numpy arrays of the port's dtype. Anything else is left for the Session to check."""
    if port is None:
        return value
    dtype = getattr(port, "dtype", "any")
    if dtype == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if dtype in ("any", "int", "float", "str", "bytes", "bool", "list", "dict"):
        return value
    import numpy as np
    if isinstance(value, (list, int, float)) and not isinstance(value, bool):
        try:
            return np.asarray(value, dtype=None if dtype == "ndarray" else dtype)
        except (ValueError, TypeError):
            return value
    if isinstance(value, np.ndarray) and dtype != "ndarray" and value.dtype != np.dtype(dtype) \
            and np.can_cast(value.dtype, dtype, casting="same_kind"):
        return value.astype(dtype)
    return value


#: file types `@file` reads; a value ending so without the '@' was most likely meant as a file
FILE_SUFFIXES = (".wav", ".f32", ".raw", ".npy", ".txt", ".json")


def parse_inputs(items: Sequence[str], graph: Any) -> dict[str, Any]:
    """Feeds from --input items. A WAV file given for an audio input fills the input that carries
    its rate (`modulespack.io.audio_ports`), which, if given as well, must agree with the file."""
    feeds: dict[str, Any] = {}
    wav_rates: dict[str, tuple[int, str]] = {}   # input -> (rate of its WAV file, the file)
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"--input {item!r}: write NAME=VALUE (VALUE: JSON, text, or @file)")
        port = graph.inputs.get(name)
        try:
            value = parse_value(text, port)
        except InputError as e:
            raise InputError(f"--input {name}: {e}") from None
        except OSError as e:
            raise InputError(f"--input {name}: {e.filename or text}: {e.strerror or e}") from None
        except ValueError as e:  # e.g. modulespack.io's FormatError, which names the file
            raise InputError(f"--input {name}: {e}") from None
        if isinstance(value, str) and not text.startswith("@") and _meant_as_file(name, port, text):
            raise InputError(f"--input {name}={text}: '{name}' takes {_takes(name, port)}, not the text {text!r}; "
                             f"to read the file, write {name}=@{text}")
        feeds[name] = coerce(value, port)
        if text.startswith("@") and not text.startswith("@@") and text.lower().endswith(".wav"):
            wav_rates[name] = (_wav_rate(text[1:]), text[1:])
    _fill_rates(graph, feeds, wav_rates)
    return feeds


def _meant_as_file(name: str, port: Any, text: str) -> bool:
    from ..io.audio_ports import is_audio_name

    if port is None:
        return False
    takes_text = port.dtype in ("str", "bytes", "any")
    names_file = text.lower().endswith(FILE_SUFFIXES) or os.path.isfile(text)
    if not takes_text:
        return names_file
    # an untyped audio input takes anything, but text is never audio
    return port.dtype == "any" and is_audio_name(name) and text.lower().endswith(".wav")


def _takes(name: str, port: Any) -> str:
    from ..io.audio_ports import is_audio

    if is_audio(name, port):
        return "audio samples"
    shape = "" if port.shape is None else f" {list(port.shape)}".replace("None", "null")
    return f"{port.dtype}{shape} values"


def _fill_rates(graph: Any, feeds: dict[str, Any], wav_rates: dict[str, tuple[int, str]]) -> None:
    from ..io.audio_ports import audio_inputs, rate_input

    pairs = audio_inputs(graph)
    filled: dict[str, tuple[int, str]] = {}   # rate input -> (rate, the WAV file that set it)
    for name, (sr, path) in wav_rates.items():
        target = pairs[name] if name in pairs else rate_input(graph, name, exclude=pairs)
        if target is None:
            continue
        if target in filled:
            other_sr, other = filled[target]
            if other_sr != sr:
                raise InputError(f"{other} ({other_sr} Hz) and {path} ({sr} Hz) have different sample rates "
                                 f"but share the graph input '{target}': resample one of them")
            continue
        if target in feeds:
            given = feeds[target]
            try:
                same = float(given) == float(sr)
            except (TypeError, ValueError):
                same = False
            if not same:
                raise InputError(f"--input {target}={given} contradicts {path}, which is {sr} Hz; leave "
                                 f"{target} out (the WAV file fills it) or resample the file")
            continue
        filled[target] = (sr, path)
        feeds[target] = coerce(sr, graph.inputs[target])
    # a rate input left empty beside audio not read from a WAV: say how to give it, rather than the
    # Session's bare "missing graph input"
    for name, target in pairs.items():
        if name in feeds and target and target not in feeds and target not in graph.optional_inputs:
            raise InputError(f"--input {name}: samples given without a rate; read them from a WAV file "
                             f"({name}=@file.wav fills '{target}') or give --input {target}=HZ")


def _wav_rate(path: str) -> int:
    import soundfile
    return int(soundfile.info(path).samplerate)
