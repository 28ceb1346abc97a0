"""The demo page's tritonclient call of a graph (the Open Inference Protocol door, `v2_routes`): a
`snippets` maker, registered when the V2 routes are added.

The call sends every input the snippet context has a value for as a tensor of the graph's metadata
(`v2_metadata`), an audio input read from a WAV file with its rate input set from the file; it
prints the outputs, and writes an audio output whose rate is another output to `<graph>.wav`.
"""
from __future__ import annotations

import json
from urllib.parse import urlsplit

from ..io.audio_ports import audio_inputs
from .snippets import KEY_VAR, Context, Snippet, _py
from .v2_metadata import NUMPY_OF, is_scalar, output_ports, port_datatype


def tritonclient_http(ctx: Context) -> list[Snippet]:
    e = ctx.entry
    graph = e.graph
    parts = urlsplit(ctx.base_url)
    audio = audio_inputs(graph)
    rate_of = {r: a for a, r in audio.items() if r}  # rate input -> its audio input
    head = ["import numpy as np", "import tritonclient.http as httpclient"]
    if ctx.keyed:
        head.insert(0, "import os")
    body: list[str] = [f"client = httpclient.InferenceServerClient(url={_py(parts.netloc + parts.path)}"
                       + (", ssl=True)" if parts.scheme == "https" else ")")]
    feeds: list[tuple[str, str, str]] = []  # (input, datatype, numpy expression)
    for n, port in graph.inputs.items():
        dt = port_datatype(port)
        np_dtype = "object" if dt == "BYTES" else f"np.{NUMPY_OF[dt].name}"
        if n in audio:
            if "import soundfile as sf" not in head:
                head.append("import soundfile as sf")
            wav = ctx.example_files.get(n, "speech.wav")
            body.append(f"{_var(n)}, {_var(n)}_rate = sf.read({_py(wav)}, dtype=\"float32\")  # mono")
            feeds.append((n, dt, f"np.asarray({_var(n)}, dtype={np_dtype})"))
        elif n in rate_of and rate_of[n] in audio:
            feeds.append((n, dt, f"np.array([{_var(rate_of[n])}_rate], dtype={np_dtype})"))
        elif n in ctx.example and ctx.example[n] is not None:
            v = ctx.example[n]
            if dt == "BYTES" and not isinstance(v, str):
                v = json.dumps(v, ensure_ascii=False)  # an untyped port takes JSON text
            literal = _py(v) if isinstance(v, str) else repr(v)
            feeds.append((n, dt, f"np.array({'[' + literal + ']' if is_scalar(port) else literal}, dtype={np_dtype})"))
    body.append("inputs = []")
    for n, dt, expr in feeds:
        body += [f"x = {expr}", f"inputs.append(httpclient.InferInput({_py(n)}, list(x.shape), {_py(dt)}))",
                 "inputs[-1].set_data_from_numpy(x)"]
    auth = f', headers={{"Authorization": "Bearer " + os.environ["{KEY_VAR}"]}}' if ctx.keyed else ""
    body.append(f"result = client.infer({_py(e.name)}, inputs{auth})")
    outs, writes_audio = _outputs(ctx)
    if writes_audio and "import soundfile as sf" not in head:
        head.append("import soundfile as sf")
    body += outs
    return [Snippet("v2", "Python (tritonclient)", "python", "\n".join(head) + "\n\n" + "\n".join(body) + "\n")]


def _outputs(ctx: Context) -> tuple[list[str], bool]:
    """The lines that show the result, and whether they write a WAV."""
    e = ctx.entry
    ports = output_ports(e)
    plan = e.form.output_plan(None)
    written: dict[str, str] = {}  # audio output -> the output holding its rate
    for key, kind, rate in plan.items:
        if kind == "audio" and key in ports and (rate or "").startswith("out:") and rate[4:] in ports:
            written[key] = rate[4:]
    lines = []
    for k, rate in written.items():
        lines.append(f"sf.write({_py(e.name + '.wav')}, result.as_numpy({_py(k)}), "
                     f"int(result.as_numpy({_py(rate)})[0]))")
    for k, port in ports.items():
        if k in written or k in written.values():
            continue
        if port.dtype == "str":
            lines.append(f"print({_py(k + ':')}, result.as_numpy({_py(k)})[0].decode())")
        else:
            lines.append(f"print({_py(k + ':')}, result.as_numpy({_py(k)}))")
    return lines, bool(written)


def _var(name: str) -> str:
    """A Python name for input `name` (inputs are identifiers in graph files, but be safe)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else "in_" + out
