"""The `modulespack` command: check, run and draw graph files, list modules, and (when installed) serve.

Subcommands come from three places:

- the built-in ones here (check, run, draw, modules);
- `register_command(name, add_parser)` called by another module before `main` runs;
- provider modules imported only when their command is asked for (`PROVIDERS`): `modulespack serve`
  imports `modulespack.serve.cli`, `modulespack corpus` imports `modulespack.speech.cli`. A provider
  module defines `add_parser(subparsers) -> argparse.ArgumentParser`, which adds a parser named after
  the command and sets its `func` default to a callable `func(args) -> int` (the exit code). When
  the provider cannot be imported the command prints why it is not available.

Nothing heavy is imported at start-up, so `modulespack --help` stays fast.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

AddParser = Callable[[Any], argparse.ArgumentParser]

#: commands added in-process by other modules: (name, add_parser(subparsers))
COMMAND_HOOKS: list[tuple[str, AddParser]] = []

#: commands whose parser lives in another module, imported only when the command is used:
#: name -> (provider module, package that must be importable, one-line help)
PROVIDERS: dict[str, tuple[str, str, str]] = {
    "serve": ("modulespack.serve.cli", "modulespack.serve",
              "serve the graphs of a folder over HTTP (one endpoint per graph, demo page)"),
    "corpus": ("modulespack.speech.cli", "modulespack.speech",
               "prepare and inspect speech corpora (file lists, features)"),
}

GRAPH_SUFFIXES = (".yaml", ".yml", ".json")
EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def register_command(name: str, add_parser: AddParser) -> None:
    """Add a subcommand: `add_parser(subparsers)` adds a parser called `name` that sets `func`."""
    COMMAND_HOOKS[:] = [(n, f) for n, f in COMMAND_HOOKS if n != name]
    COMMAND_HOOKS.append((name, add_parser))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)


def _err(msg: str) -> None:
    print(msg, file=sys.stderr)


# =========================================================================== check


def _graph_files(paths: Sequence[str]) -> list[str]:
    """The files to check: each FILE, and every graph file directly inside each folder."""
    out = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(str(f) for f in Path(p).iterdir() if f.suffix in GRAPH_SUFFIXES and f.is_file())
            out += found or [p]
        else:
            out.append(p)
    return out


def cmd_check(args: argparse.Namespace) -> int:
    from . import GraphError, build_graph

    files = _graph_files(args.files)
    bad = 0
    for f in files:
        try:
            if os.path.isdir(f):
                raise OSError(f"{f}: folder holds no graph files ({', '.join(GRAPH_SUFFIXES)})")
            g = build_graph(f)
        except GraphError as e:
            bad += 1
            for p in e.problems:
                print(p)
            continue
        except OSError as e:
            bad += 1
            print(f"{f}: {e.strerror or e}" if getattr(e, "filename", None) is None else
                  f"{e.filename}: {e.strerror or e}")
            continue
        nested = _count_nested(g)
        extra = f", {nested} more in nested graphs" if nested else ""
        print(f"OK {f} ({len(g.nodes)} nodes{extra})")
    if len(files) > 1:
        _err(f"{len(files) - bad} of {len(files)} graph files OK" if bad else f"all {len(files)} graph files OK")
    return EXIT_FAIL if bad else EXIT_OK


def _count_nested(g: Any) -> int:
    n = 0
    for node in g.nodes.values():
        if node.subgraph is not None:
            n += len(node.subgraph.nodes) + _count_nested(node.subgraph)
    return n


# =========================================================================== run: inputs


class InputError(ValueError):
    """A --input could not be turned into a value."""


def _read_wav(path: str) -> Any:
    """float32 samples of a WAV file (PCM scaled to [-1, 1]); multi-channel gives [frames, channels]."""
    try:
        from .io import read_wav  # the project's reader, when available
    except ImportError:
        read_wav = None
    if read_wav is not None:
        try:
            return read_wav(path)[0]
        except ImportError:  # its backend (soundfile) is missing: fall back on scipy
            pass
    import numpy as np
    try:
        from scipy.io import wavfile
    except ImportError:
        raise InputError("reading WAV files needs scipy (pip install scipy)") from None
    try:
        _rate, data = wavfile.read(path)
    except ValueError as e:
        raise InputError(f"{path}: not a readable WAV file ({e})") from None
    if data.dtype == np.uint8:
        return ((data.astype(np.float32) - 128.0) / 128.0)
    if np.issubdtype(data.dtype, np.signedinteger):
        return (data.astype(np.float32) / float(-np.iinfo(data.dtype).min)).astype(np.float32)
    return data.astype(np.float32, copy=False)


def _read_raw(path: str, dim: int | None) -> Any:
    import numpy as np
    size = os.path.getsize(path)
    row = 4 * (dim or 1)
    if size % row:
        raise InputError(f"{path}: size {size} bytes is not a multiple of {row} "
                         f"(float32{f' x dim {dim}' if dim else ''})")
    data = np.fromfile(path, dtype="<f4").astype(np.float32, copy=False)
    return data.reshape(-1, dim) if dim else data


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


def parse_inputs(items: Sequence[str], graph: Any) -> dict[str, Any]:
    feeds: dict[str, Any] = {}
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
        feeds[name] = coerce(value, port)
    return feeds


# =========================================================================== run: outputs


def summarise(value: Any) -> Any:
    """A JSON-able form of an output: scalars and text in full, arrays as dtype/shape/min/max."""
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None
    if np is not None:
        if isinstance(value, np.ndarray):
            d: dict[str, Any] = {"dtype": value.dtype.name, "shape": list(value.shape)}
            if value.size and (np.issubdtype(value.dtype, np.number) or value.dtype == np.bool_) \
                    and not np.issubdtype(value.dtype, np.complexfloating):
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


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write through `write(fileobj)` into a temp file beside `path`, then rename it into place."""
    import tempfile
    fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _file_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name.replace("/", "_")) or "output"


def _is_audio_name(name: str) -> bool:
    low = name.lower()
    return "wav" in low or "audio" in low


def _sample_rate(outputs: dict[str, Any], default: int) -> int:
    for key, value in outputs.items():
        if key.rsplit("/", 1)[-1] in ("sr", "sample_rate"):
            try:
                rate = int(value)
            except (TypeError, ValueError):
                continue
            if rate > 0:
                return rate
    return default


WAV_SUBTYPES = {"float": "float32", "pcm16": "int16", "pcm32": "int32"}


def write_outputs(outputs: dict[str, Any], outdir: Path, sr: int, wav_format: str = "float") -> dict[str, dict]:
    """Write array, text and bytes outputs into `outdir`; returns name -> {file, ...details}."""
    import numpy as np

    outdir.mkdir(parents=True, exist_ok=True)
    rate = _sample_rate(outputs, sr)
    written: dict[str, dict] = {}
    for name, value in outputs.items():
        stem = _file_stem(name)
        if isinstance(value, np.ndarray):
            if value.ndim == 1 and np.issubdtype(value.dtype, np.floating) and _is_audio_name(name):
                path = outdir / f"{stem}.wav"
                data = _wav_samples(value, wav_format)

                def write(f, data=data):
                    from scipy.io import wavfile
                    wavfile.write(f, rate, data)
                _atomic_write(path, write)
                written[name] = {"file": str(path), "sample_rate": rate, "samples": int(value.shape[0]),
                                 "format": wav_format}
            elif np.issubdtype(value.dtype, np.number) and not np.issubdtype(value.dtype, np.complexfloating) \
                    or value.dtype == np.bool_:
                path = outdir / f"{stem}.f32"
                data = np.ascontiguousarray(value, dtype="<f4")
                _atomic_write(path, lambda f, data=data: f.write(data.tobytes()))
                written[name] = {"file": str(path), "shape": list(value.shape), "dtype": "float32"}
            else:
                path = outdir / f"{stem}.npy"
                _atomic_write(path, lambda f, value=value: np.save(f, value, allow_pickle=False))
                written[name] = {"file": str(path), "shape": list(value.shape), "dtype": value.dtype.name}
        elif isinstance(value, str):
            path = outdir / f"{stem}.txt"
            text = value.encode("utf-8")
            _atomic_write(path, lambda f, text=text: f.write(text))
            written[name] = {"file": str(path)}
        elif isinstance(value, (bytes, bytearray)):
            path = outdir / f"{stem}.bin"
            _atomic_write(path, lambda f, value=value: f.write(bytes(value)))
            written[name] = {"file": str(path)}
    return written


def _wav_samples(x: Any, wav_format: str) -> Any:
    import numpy as np
    if wav_format == "float":
        return np.ascontiguousarray(x, dtype="<f4")
    scale = 2.0 ** (15 if wav_format == "pcm16" else 31)
    pcm = np.clip(np.rint(x.astype(np.float64) * scale), -scale, scale - 1)
    return pcm.astype("<i2" if wav_format == "pcm16" else "<i4")


def _written_text(info: dict) -> str:
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


# =========================================================================== run


def cmd_run(args: argparse.Namespace) -> int:
    from . import FeedError, GraphError, NodeError, Session, build_graph

    try:
        graph = build_graph(args.file)
    except GraphError as e:
        for p in e.problems:
            _err(str(p))
        return EXIT_FAIL
    try:
        feeds = parse_inputs(args.input or [], graph)
    except InputError as e:
        _err(f"error: {e}")
        return EXIT_USAGE
    try:
        sess = Session(graph, check=not args.no_check)
    except GraphError as e:
        for p in e.problems:
            _err(str(p))
        return EXIT_FAIL
    try:
        try:
            result = sess.run(feeds, args.fetch or None)
        except FeedError as e:
            _err(f"error: {e}")
            return EXIT_USAGE
        except NodeError as e:
            _err(f"error: {e}")
            if args.traceback and e.traceback:
                _err(e.traceback.rstrip("\n"))
            elif e.traceback:
                _err("(run again with --traceback to see the module's traceback)")
            return EXIT_FAIL
    finally:
        sess.close()

    written: dict[str, dict] = {}
    if args.output_dir:
        try:
            written = write_outputs(result.outputs, Path(args.output_dir), args.sr, args.wav_format)
        except (OSError, ValueError, TypeError) as e:
            _err(f"error: cannot write outputs to {args.output_dir}: {e}")
            return EXIT_FAIL

    if args.json:
        doc: dict[str, Any] = {"outputs": {k: summarise(v) for k, v in result.outputs.items()},
                               "seconds": result.seconds}
        if args.timings:
            doc["timings_ms"] = {k: v * 1e3 for k, v in result.timings.items()}
        if written:
            doc["files"] = written
        print(json.dumps(doc, indent=2))
        return EXIT_OK

    width = max((len(k) for k in result.outputs), default=0)
    for k, v in result.outputs.items():
        text = describe(v)
        if "\n" in text:
            print(f"{k}:")
            print("  " + text.replace("\n", "\n  "))
        else:
            print(f"{k.ljust(width)}  {text}")
    if args.timings:
        print("timings:")
        tw = max((len(k) for k in (*result.timings, "total")), default=0)
        for k, v in result.timings.items():
            print(f"  {k.ljust(tw)}  {v * 1e3:9.3f} ms")
        print(f"  {'total'.ljust(tw)}  {result.seconds * 1e3:9.3f} ms")
    for k, info in written.items():
        print(f"wrote {_written_text(info)}")
    return EXIT_OK


# =========================================================================== draw


def cmd_draw(args: argparse.Namespace) -> int:
    from . import GraphError, build_graph, load_graph
    from .draw import FORMATS, GraphvizError, render, suffix_format, to_dot, to_mermaid

    fmt = args.format
    if fmt is None and args.output:
        fmt = suffix_format(args.output)
        if fmt is None:
            _err(f"error: cannot tell the format from {args.output!r}: use a .dot, .svg, .png, .pdf or .mmd "
                 "file name, or --format")
            return EXIT_USAGE
    fmt = fmt or "dot"
    try:
        graph = load_graph(args.file) if args.no_check else build_graph(args.file)
    except GraphError as e:
        for p in e.problems:
            _err(str(p))
        if not args.no_check:
            _err("(use --no-check to draw the graph as written without validating it)")
        return EXIT_FAIL
    if fmt == "mermaid":
        data = to_mermaid(graph).encode("utf-8")
    else:
        dot = to_dot(graph)
        if fmt in FORMATS:
            try:
                data = render(dot, fmt)
            except GraphvizError as e:
                _err(f"error: {e}")
                return EXIT_FAIL
        else:
            data = dot.encode("utf-8")
    if args.output:
        out = Path(args.output)
        try:
            _atomic_write(out, lambda f: f.write(data))
        except OSError as e:
            _err(f"error: cannot write {out}: {e.strerror or e}")
            return EXIT_FAIL
        _err(f"wrote {out} ({fmt})")
    else:
        sys.stdout.flush()
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except AttributeError:  # a text-only stdout (some test harnesses)
            sys.stdout.write(data.decode("utf-8", "replace"))
    return EXIT_OK


# =========================================================================== modules


def _port_info(port: Any) -> dict[str, Any]:
    d = {"dtype": getattr(port, "dtype", "any")}
    shape = getattr(port, "shape", None)
    d["shape"] = None if shape is None else list(shape)
    if getattr(port, "doc", ""):
        d["doc"] = port.doc
    return d


def _module_entry(name: str, cls: Any, source: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": name, "source": source, "class": f"{cls.__module__}.{cls.__qualname__}"}
    try:
        entry["description"] = cls.describe()
    except Exception:
        entry["description"] = ""
    try:
        ins, outs = cls.ports({})
        try:
            optional = set(cls.optional_inputs({}))
        except Exception:
            optional = set()
        entry["inputs"] = {k: {**_port_info(p), **({"optional": True} if k in optional else {})}
                           for k, p in ins.items()}
        entry["outputs"] = {k: _port_info(p) for k, p in outs.items()}
    except Exception as e:  # ports that need parameters
        entry["error"] = f"ports depend on parameters: {type(e).__name__}: {e}"
    return entry


def _folder_modules(folder: Path) -> list[dict[str, Any]]:
    """Every module class in the .py files of a folder; a file that fails to import is one entry
    carrying the error. Uses a private import name, like the registry, so nothing is shadowed."""
    import hashlib
    import importlib.util

    from . import Registry

    if not folder.is_dir():
        return [{"name": str(folder), "group": str(folder), "source": str(folder), "error": "no such folder"}]
    out: list[dict[str, Any]] = []
    tag = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]
    sys.path.insert(0, str(folder))
    try:
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            modname = f"_modulespack_cli_{tag}_{path.stem}"
            try:
                mod = sys.modules.get(modname)
                if mod is None:
                    spec = importlib.util.spec_from_file_location(modname, path)
                    assert spec and spec.loader
                    mod = importlib.util.module_from_spec(spec)
                    sys.modules[modname] = mod
                    try:
                        spec.loader.exec_module(mod)
                    except BaseException:
                        del sys.modules[modname]
                        raise
            except Exception as e:
                out.append({"name": path.stem, "group": str(path), "source": str(path),
                            "error": f"cannot import: {type(e).__name__}: {e}"})
                continue
            except SystemExit as e:
                out.append({"name": path.stem, "group": str(path), "source": str(path),
                            "error": f"cannot import: exits ({e.code})"})
                continue
            scratch = Registry(use_entry_points=False)
            for attr, obj in vars(mod).items():
                if isinstance(obj, type) and getattr(obj, "__module__", None) == modname:
                    try:
                        scratch.register(obj, attr)  # accepts Module classes and adapted foreign ones
                    except TypeError:
                        continue
            for attr, cls in scratch.available().items():
                if not isinstance(cls, str):
                    out.append({"group": str(path), **_module_entry(attr, cls, str(path))})
    finally:
        try:
            sys.path.remove(str(folder))
        except ValueError:
            pass
    return out


def list_modules(paths: Sequence[str] = (), imports: Sequence[str] = ()) -> list[dict[str, Any]]:
    import importlib
    from importlib.metadata import entry_points

    from . import ENTRY_POINT_GROUP, default_registry

    out: list[dict[str, Any]] = []
    for name in imports:
        try:
            importlib.import_module(name)
        except Exception as e:
            out.append({"name": name, "group": "--import", "source": f"--import {name}", "error": f"cannot import: {type(e).__name__}: {e}"})
    for name, cls in sorted(default_registry.available().items()):
        if not isinstance(cls, str):
            out.append({"group": "registered", **_module_entry(name, cls, "registered")})
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        source = f"entry point {ep.value}"
        group = f"entry points '{ENTRY_POINT_GROUP}'"
        try:
            obj = ep.load()
            from . import Registry
            scratch = Registry(use_entry_points=False)
            scratch.register(obj, ep.name)
            cls = scratch.available()[ep.name]
        except Exception as e:
            out.append({"name": ep.name, "group": group, "source": source,
                        "error": f"cannot load: {type(e).__name__}: {e}"})
            continue
        out.append({"group": group, **_module_entry(ep.name, cls, source)})
    for p in paths:
        out += _folder_modules(Path(p))
    return out


def _ports_text(ports: dict[str, dict]) -> str:
    if not ports:
        return "(none)"
    parts = []
    for k, p in ports.items():
        t = port_text_from_info(p)
        parts.append(f"{k}{'?' if p.get('optional') else ''}: {t or 'any'}")
    return ", ".join(parts)


def port_text_from_info(p: dict) -> str:
    dtype = p.get("dtype", "any")
    text = "" if dtype == "any" else dtype
    if p.get("shape"):
        text = f"{text} [{', '.join('*' if d is None else str(d) for d in p['shape'])}]".strip()
    return text


def cmd_modules(args: argparse.Namespace) -> int:
    entries = list_modules(args.path or [], args.imports or [])
    if args.json:
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    if not entries:
        print("no modules found (give folders of module files with --path DIR)")
        return EXIT_OK
    group = None
    for e in entries:
        if e["group"] != group:
            group = e["group"]
            print(f"{group}:")
        where = f"  ({e['source'].removeprefix('entry point ')})" if e["source"].startswith("entry point") else ""
        if "inputs" not in e:
            print(f"  {e['name']}{where}  ERROR {e.get('error', '')}")
            continue
        desc = f"  -- {e['description']}" if e.get("description") else ""
        print(f"  {e['name']}{where}{desc}")
        print(f"      in:  {_ports_text(e['inputs'])}")
        print(f"      out: {_ports_text(e['outputs'])}")
    return EXIT_OK


# =========================================================================== parser


EPILOG_MAIN = """\
examples:
  modulespack check examples/graphs/*.yaml
  modulespack run examples/graphs/arith.yaml --input a=1 --input b=2
  modulespack draw examples/graphs/nested_demo.yaml -o nested.svg
  modulespack modules --path examples/modules

Run `modulespack COMMAND --help` for the options of a command.
"""

EPILOG_CHECK = """\
Each graph is loaded and validated completely (modules, ports, dtypes and shapes along edges,
cycles, unconnected inputs, parameters, nested graphs); nothing runs. A folder stands for the
graph files directly inside it. Exit status 1 if any file has a problem.

examples:
  modulespack check examples/graphs/arith.yaml
  modulespack check examples/graphs            # every .yaml/.yml/.json in the folder
"""

EPILOG_RUN = """\
VALUE of --input NAME=VALUE:
  a JSON literal        a=1.5   names='["x", "y"]'   (for a str input the text is taken as is)
  plain text            text=hello   (anything that is not JSON)
  @file.wav             float32 samples in [-1, 1] (16/32-bit PCM or float WAV)
  @file.f32, @file.raw  raw little-endian float32, 1-D; @file.f32:DIM for a [frames, DIM] matrix
  @file.npy  @file.txt  @file.json   a numpy array, the text, the parsed JSON
  @other.file           the file's bytes
  @@text                the literal text '@text'
Numbers and lists are converted to the input's declared dtype (float, float32 array, ...).

With -o OUTDIR, 1-D float arrays whose output name contains "wav" or "audio" are written as WAV
(at the rate of a fetched output named sr or sample_rate, else --sr), other numeric arrays as
raw little-endian float32 .f32 (the shape is printed; non-numeric arrays as .npy), text as .txt,
bytes as .bin. Files are written atomically (temporary file, then rename).

Exit status: 0 success, 1 invalid graph or a module failed, 2 bad --input/--fetch.

examples:
  modulespack run examples/graphs/arith.yaml --input a=1 --input b=2
  modulespack run examples/graphs/arith.yaml -i a=1 -i b=2 --fetch sum/y --fetch double/y --timings
  modulespack run denoise.yaml --input wav=@noisy.wav -o out/ --sr 16000
  modulespack run mfcc.yaml --input wav=@a.wav --fetch mfcc/feats -o feats/ --json
"""

EPILOG_DRAW = """\
The format follows the -o file's suffix (.dot/.gv, .svg, .png, .pdf, .mmd/.mermaid) unless
--format says otherwise; without -o, DOT text goes to standard output. SVG, PNG and PDF need
Graphviz's `dot` program (Debian: apt-get install graphviz). Nested graphs are drawn as
clusters holding their own nodes.

examples:
  modulespack draw examples/graphs/arith.yaml                  # DOT on stdout
  modulespack draw examples/graphs/nested_demo.yaml -o nested.svg
  modulespack draw examples/graphs/arith.yaml --format mermaid > arith.mmd
  modulespack draw examples/graphs/arith.yaml | dot -Tpdf > arith.pdf
"""

EPILOG_MODULES = """\
Lists registered module names, the '%s' entry points of installed packages, and the module
classes in each --path folder, with their input and output ports (dtype [shape]; '?' marks an
optional input) and a one-line description. A module file that fails to import is listed with
its error.

examples:
  modulespack modules --path examples/modules
  modulespack modules --path examples/modules --json
"""


def _add_check(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="validate graph files and print every problem",
                       description="Validate graph files and print every problem found.",
                       epilog=EPILOG_CHECK, formatter_class=_Formatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="graph file (.yaml, .yml, .json) or folder of them")
    p.set_defaults(func=cmd_check)
    return p


def _add_run(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("run", help="run a graph once on inputs given on the command line",
                       description="Build a graph, run it once on the given inputs and print (or write) "
                                   "the fetched outputs.",
                       epilog=EPILOG_RUN, formatter_class=_Formatter)
    p.add_argument("file", metavar="FILE", help="graph file")
    p.add_argument("-i", "--input", action="append", metavar="NAME=VALUE",
                   help="a graph input (repeat for each input); see VALUE below")
    p.add_argument("-f", "--fetch", action="append", metavar="NODE/PORT",
                   help="what to compute: a graph output name or node/port (repeatable; "
                        "default: every graph output)")
    p.add_argument("-o", "--output-dir", metavar="OUTDIR", help="write array, text and audio outputs here")
    p.add_argument("--sr", type=int, default=16000, metavar="HZ",
                   help="sample rate for WAV outputs when no 'sr'/'sample_rate' output is fetched (default 16000)")
    p.add_argument("--wav-format", choices=sorted(WAV_SUBTYPES), default="float",
                   help="sample format of written WAV files (default float: 32-bit float, lossless)")
    p.add_argument("--no-check", action="store_true",
                   help="skip run-time checks of inputs and module outputs against their ports")
    p.add_argument("--timings", action="store_true", help="print each node's run time in ms")
    p.add_argument("--json", action="store_true", help="print one JSON object (outputs, timings, files)")
    p.add_argument("--traceback", action="store_true", help="when a module fails, print its original traceback")
    p.set_defaults(func=cmd_run)
    return p


def _add_draw(sub: Any) -> argparse.ArgumentParser:
    p = sub.add_parser("draw", help="draw a graph as DOT, Mermaid, SVG or PNG",
                       description="Draw a graph: inputs and outputs as ellipses, nodes as boxes, constants "
                                   "as notes, edges labelled out -> in, nested graphs as clusters.",
                       epilog=EPILOG_DRAW, formatter_class=_Formatter)
    p.add_argument("file", metavar="FILE", help="graph file")
    p.add_argument("-o", "--output", metavar="OUT", help="output file: .dot, .svg, .png, .pdf or .mmd")
    p.add_argument("--format", choices=["dot", "mermaid", "svg", "png", "pdf"],
                   help="output format (default: from the -o suffix, else dot)")
    p.add_argument("--no-check", action="store_true", help="draw the graph as written, without validating it")
    p.set_defaults(func=cmd_draw)
    return p


def _add_modules(sub: Any) -> argparse.ArgumentParser:
    from . import ENTRY_POINT_GROUP
    p = sub.add_parser("modules", help="list available modules and their ports",
                       description="List the modules graph files can name, with their ports.",
                       epilog=EPILOG_MODULES % ENTRY_POINT_GROUP, formatter_class=_Formatter)
    p.add_argument("--path", action="append", metavar="DIR", help="a folder of module .py files (repeatable)")
    p.add_argument("--import", dest="imports", action="append", metavar="PACKAGE",
                   help="import a Python package first, so the modules it registers are listed (repeatable)")
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.set_defaults(func=cmd_modules)
    return p


BUILTIN: list[tuple[str, AddParser]] = [("check", _add_check), ("run", _add_run), ("draw", _add_draw),
                                        ("modules", _add_modules)]


def load_provider(name: str) -> tuple[AddParser | None, str]:
    """(add_parser, "") for a provider command, or (None, why it is not available)."""
    import importlib
    modname, package, _help = PROVIDERS[name]
    try:
        mod = importlib.import_module(modname)
    except ImportError as e:
        missing = getattr(e, "name", None) or ""
        if missing == modname:
            return None, f"{package} provides no command-line part yet (no module {modname!r})"
        if missing and (modname.startswith(missing + ".") or package == missing):
            return None, f"{package} is not installed in this environment (no module {missing!r})"
        return None, f"importing {modname} failed: {type(e).__name__}: {e}"
    add = getattr(mod, "add_parser", None)
    if add is None:
        return None, f"{modname} defines no add_parser(subparsers)"
    return add, ""


def build_parser(command: str | None = None, provider: AddParser | None = None) -> argparse.ArgumentParser:
    """The argument parser; `provider` adds the parser of `command`, a PROVIDERS command about to run."""
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="modulespack",
        description="Compose speech-processing modules into validated graphs; check, run, draw and serve them.",
        epilog=EPILOG_MAIN, formatter_class=_Formatter)
    parser.add_argument("--version", action="version", version=f"modulespack {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    added: set[str] = set()
    for name, add in BUILTIN:
        add(sub)
        added.add(name)
    for name, add in COMMAND_HOOKS:
        if name not in added:
            add(sub)
            added.add(name)
    for name, (_mod, _pkg, help_text) in PROVIDERS.items():
        if name in added:
            continue
        add = provider if name == command else None
        if add is not None:
            add(sub)
        else:  # listed in --help only; its module is imported when the command is used
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    for a in argv:
        if a == "--":
            return None
        if not a.startswith("-"):
            return a
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `modulespack` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_of(argv)
    provider = None
    if command in PROVIDERS and command not in {n for n, _ in (*BUILTIN, *COMMAND_HOOKS)}:
        provider, why = load_provider(command)
        if provider is None:
            _err(f"modulespack {command} is not available: {why}")
            return EXIT_FAIL
    parser = build_parser(command, provider)
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help, --version, or a usage error (already printed)
        return int(e.code) if isinstance(e.code, int) else (0 if e.code is None else EXIT_USAGE)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(func(args) or 0)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # e.g. `modulespack draw g.yaml | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
