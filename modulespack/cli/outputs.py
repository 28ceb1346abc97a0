"""Showing a run's outputs on the terminal and writing them to files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..io.audio_ports import WAV_SUBTYPES, file_stem, is_audio_value  # noqa: F401 (WAV_SUBTYPES: --wav-format)


def summarise(value: Any) -> Any:
    """A JSON-able form of an output: scalars and text in full, arrays as dtype/shape/min/max."""
    import numpy as np

    if isinstance(value, np.ndarray):
        d: dict[str, Any] = {"dtype": value.dtype.name, "shape": list(value.shape)}
        if value.size and _is_real(value):
            d["min"] = value.min().item()
            d["max"] = value.max().item()
        return d
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": len(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [summarise(v) for v in value]
    if isinstance(value, dict):
        return {str(k): summarise(v) for k, v in value.items()}
    return repr(value)


def describe(value: Any) -> str:
    """One human-readable line (or block, for text) for an output value."""
    s = summarise(value)
    if isinstance(s, dict) and "shape" in s and "dtype" in s and not isinstance(value, dict):
        shape = "(" + ", ".join(map(str, s["shape"])) + ("," if len(s["shape"]) == 1 else "") + ")"
        rng = f" min {_num(s['min'])} max {_num(s['max'])}" if "min" in s else ""
        return f"{s['dtype']} array shape {shape}{rng}"
    if isinstance(value, (bytes, bytearray)):
        return f"{len(value)} bytes"
    if isinstance(s, str):
        return s
    if isinstance(s, (list, dict)):
        return json.dumps(s)
    return repr(s) if isinstance(s, float) else str(s)


def _num(x: Any) -> str:
    return f"{x:.6g}" if isinstance(x, float) else str(x)


def _is_real(a: Any) -> bool:
    """Numbers (or booleans) with an order: what has a min/max and fits a float32 file."""
    import numpy as np
    return (np.issubdtype(a.dtype, np.number) and not np.issubdtype(a.dtype, np.complexfloating)) \
        or a.dtype == np.bool_


def audio_sources(graph: Any, keys: list[str]) -> tuple[dict[str, str | None], list[str]]:
    """Audio outputs among `keys` with where each one's rate comes from (`modulespack.io.audio_ports`
    `output_rate`), and the rate outputs to fetch as well because no key names them."""
    from ..core.ports import ANY, NDARRAY
    from ..io.audio_ports import fetch_port, is_audio, is_audio_name, output_rate

    sources: dict[str, str | None] = {}
    extra: list[str] = []
    for k in keys:
        port = fetch_port(graph, k)
        if port is None:  # not an output: the Session says so
            continue
        if not (is_audio(k, port) or (port.dtype in (ANY, NDARRAY) and is_audio_name(k))):
            continue
        src = sources[k] = output_rate(graph, k)
        if src and src.startswith("out:") and src[4:] not in keys and src[4:] not in extra:
            extra.append(src[4:])
    return sources, extra


def audio_rates(sources: dict[str, str | None], outputs: dict[str, Any], feeds: dict[str, Any],
                defaults: dict[str, Any], sr: int | None, warn: Any) -> dict[str, int]:
    """The rate to write each audio output at: the graph's, else `sr` (16000 when None, with a note)."""
    from ..io.audio_ports import as_rate, rate_value

    rates: dict[str, int] = {}
    for key, src in sources.items():
        if key not in outputs:
            continue
        rate = None
        if src is not None:
            try:
                rate = as_rate(rate_value(src, outputs, feeds, defaults))
            except LookupError:
                rate = None
            except ValueError as e:
                raise ValueError(f"output '{key}': {e} (from {src.replace(':', ' ', 1)})") from None
        if rate is None:
            rate = sr or 16000
            if sr is None:
                warn(f"note: the graph gives no sample rate for '{key}': written at {rate} Hz (--sr sets it)")
        elif sr is not None and sr != rate:
            warn(f"note: --sr {sr} not used for '{key}': the graph gives its rate, {rate} Hz")
        rates[key] = rate
    return rates


def write_outputs(outputs: dict[str, Any], outdir: Path, rates: dict[str, int], wav_format: str = "float",
                  ports: dict[str, Any] | None = None) -> dict[str, dict]:
    """Write array, text and bytes outputs into `outdir`; returns name -> {file, ...details}.

    Audio outputs (`modulespack.io.audio_ports`: by port, or by name and value for untyped ports)
    are written as WAV at `rates[name]`; an audio output without a rate there is written as raw
    float32. Every file is written atomically, so an interrupted run never leaves a half-written output.
    """
    import numpy as np

    from ..io import atomic_open, write_raw, write_wav

    outdir.mkdir(parents=True, exist_ok=True)
    ports = ports or {}
    written: dict[str, dict] = {}
    for name, value in outputs.items():
        stem = file_stem(name)
        if isinstance(value, np.ndarray):
            if name in rates and is_audio_value(name, ports.get(name), value):
                path = outdir / f"{stem}.wav"
                write_wav(path, value, rates[name], subtype=WAV_SUBTYPES[wav_format])
                written[name] = {"file": str(path), "sample_rate": rates[name], "samples": int(value.shape[0]),
                                 "format": wav_format}
            elif _is_real(value):
                path = outdir / f"{stem}.f32"
                # write_raw takes 1-D or [frames, dim]; a raw file is flat bytes in C order either way,
                # so flattening lets arrays of any rank through unchanged (the shape is reported)
                write_raw(value.reshape(-1), path)
                written[name] = {"file": str(path), "shape": list(value.shape), "dtype": "float32"}
            else:
                path = outdir / f"{stem}.npy"
                with atomic_open(path) as f:
                    np.save(f, value, allow_pickle=False)
                written[name] = {"file": str(path), "shape": list(value.shape), "dtype": value.dtype.name}
        elif isinstance(value, (str, bytes, bytearray)):
            path = outdir / f"{stem}.txt" if isinstance(value, str) else outdir / f"{stem}.bin"
            with atomic_open(path) as f:
                f.write(value.encode("utf-8") if isinstance(value, str) else bytes(value))
            written[name] = {"file": str(path)}
    return written


def written_text(info: dict) -> str:
    """How a written file is announced: enough to read it back (rate, or raw shape and dim)."""
    if "sample_rate" in info:
        return f"{info['file']} ({info['samples']} samples at {info['sample_rate']} Hz, {info['format']} WAV)"
    if "shape" in info:
        shape = info["shape"]
        if info["dtype"] == "float32" and info["file"].endswith(".f32"):
            dims = f"[{shape[0]}]" if len(shape) == 1 else f"[{', '.join(map(str, shape))}]" + \
                   (f", read with dim={shape[1]}" if len(shape) == 2 else "")
            return f"{info['file']} (raw float32 little endian, shape {dims})"
        return f"{info['file']} ({info['dtype']} shape {tuple(shape)})"
    return info["file"]
