"""The ports of one graph as a form: a field per input (kind, decoders, the audio pairing of
`kinds`), and per fetch set a plan of what to fetch and how to encode each output.

Decoding requests is in `decode`, encoding answers in `encode`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..core import BuiltGraph, Port
from .encode import to_jsonable
from .errors import ServeError
from .kinds import RATE_NAMES, is_audio, is_rate, port_info, port_kind, rate_candidates
from .values import text_decoder, value_decoder


@dataclass
class InputField:
    name: str
    port: Port
    kind: str
    required: bool
    default: Any = None
    rate: str | None = None          # audio: the graph input its sample rate goes to
    decode: Callable[[Any], Any] = field(default=None, repr=False)        # type: ignore[assignment]
    from_text: Callable[[str], Any] = field(default=None, repr=False)     # type: ignore[assignment]


@dataclass
class OutputPlan:
    """How to fetch and encode one fetch set: session fetches, and per visible key how to encode it."""
    fetches: tuple[str, ...]
    items: list[tuple[str, str, str | None]]   # (key, kind, rate: 'out:<fetch>', 'in:<input>', 'const:<v>')
    audio_keys: list[str]


class GraphForm:
    """Ports of one graph as a form: kinds, audio pairing, decoders, output plans."""

    def __init__(self, graph: BuiltGraph, max_audio_seconds: float = 600.0):
        self.graph = graph
        self.max_audio_seconds = max_audio_seconds
        spec_inputs = graph.spec.inputs
        self.fields: dict[str, InputField] = {}
        self.rate_inputs: dict[str, list[str]] = {}   # rate input -> audio inputs feeding it
        audio_inputs = {n for n, p in graph.inputs.items() if is_audio(n, p)}
        pairs: dict[str, str | None] = {}
        for n in audio_inputs:
            pairs[n] = next((c for c in rate_candidates(n)
                             if c in graph.inputs and c not in audio_inputs and is_rate(graph.inputs[c])), None)
            if pairs[n]:
                self.rate_inputs.setdefault(pairs[n], []).append(n)
        for n, p in graph.inputs.items():
            optional = n in graph.optional_inputs
            default = spec_inputs[n].get("default") if optional and isinstance(spec_inputs.get(n), dict) else None
            kind = "audio" if n in audio_inputs else port_kind(p)
            dec = value_decoder(n, p)
            f = InputField(n, p, kind, not optional, default, pairs.get(n), dec, None)
            f.from_text = text_decoder(n, p, "array" if kind == "audio" else kind, dec)
            self.fields[n] = f
        self.hidden_inputs = set(self.rate_inputs)
        self._plans: dict[tuple[str, ...] | None, OutputPlan] = {}
        self._out_ports = dict(graph.outputs)

    # ---------------------------------------------------------------- listing

    def inputs_info(self) -> dict[str, dict]:
        out = {}
        for n, f in self.fields.items():
            if n in self.hidden_inputs:
                continue
            d = port_info(f.port, f.kind)
            d["required"] = f.required
            if not f.required:
                d["default"] = to_jsonable(f.default)
            if f.kind == "audio":
                d["sample_rate_input"] = f.rate
                d["upload"] = "WAV file (multipart) or {\"wav_base64\": ...}"
            out[n] = d
        return out

    def outputs_info(self) -> dict[str, dict]:
        plan = self.output_plan(None)
        out = {}
        for key, kind, rate in plan.items:
            d = port_info(self.fetch_port(key), kind)
            if kind == "audio":
                where, _, src = (rate or "").partition(":")
                d["sample_rate_from"] = {"in": f"input {src}", "out": src, "const": f"constant {src}"}.get(where)
            out[key] = d
        return out

    # ---------------------------------------------------------------- outputs

    def fetch_port(self, key: str) -> Port:
        if key in self._out_ports:
            return self._out_ports[key]
        node, _, port = key.partition("/")
        n = self.graph.nodes.get(node)
        if n is None or port not in n.outputs:
            outs = ", ".join(self._out_ports) or "none"
            raise ServeError(422, f"cannot fetch '{key}': no graph output or node/port of that name "
                                  f"(graph outputs: {outs}; or fetch node/port)", port=key)
        return n.outputs[port]

    def default_fetches(self) -> tuple[str, ...]:
        if self.graph.spec.outputs:
            return tuple(self.graph.spec.outputs)
        return tuple(f"{n}/{p}" for n in self.graph.order for p in self.graph.nodes[n].outputs)

    def output_plan(self, fetch: tuple[str, ...] | None) -> OutputPlan:
        plan = self._plans.get(fetch)
        if plan is not None:
            return plan
        keys = self.default_fetches() if not fetch else tuple(dict.fromkeys(fetch))
        ports = {k: self.fetch_port(k) for k in keys}
        fetches = list(keys)
        items: list[tuple[str, str]] = []   # (audio key, where its rate comes from)
        hidden: set[str] = set()
        audio_keys = []
        for k in keys:
            p = ports[k]
            if not (is_audio(k, p)):
                continue
            rate = None
            for c in rate_candidates(k):
                if c in ports or c in self._out_ports or ("/" in c and self._has_node_port(c)):
                    try:
                        cp = ports.get(c) or self.fetch_port(c)
                    except ServeError:
                        continue
                    if is_rate(cp):
                        rate = "out:" + c
                        if c not in ports:
                            fetches.append(c)
                            hidden.add(c)
                        elif fetch is None or c not in fetch:
                            hidden.add(c)
                        break
            if rate is None:
                rate = self._upstream_rate(k)
                if rate is not None and rate.startswith("out:") and rate[4:] not in ports:
                    fetches.append(rate[4:])
                    hidden.add(rate[4:])
            if rate is None and len(self.rate_inputs) == 1:
                rate = "in:" + next(iter(self.rate_inputs))
            if rate is not None:
                audio_keys.append(k)
                items.append((k, rate))
        audio = dict(items)
        items = [(k, "audio", audio[k]) if k in audio else (k, port_kind(ports[k]), None)
                 for k in keys if k in audio or k not in hidden]
        plan = OutputPlan(tuple(dict.fromkeys(fetches)), items, audio_keys)
        if len(self._plans) < 256:
            self._plans[fetch] = plan
        return plan

    def _upstream_rate(self, key: str) -> str | None:
        """The rate of an audio output without a rate output beside it: the nearest node upstream
        (its producer first) with a rate output (`out:<node/port>`) or else a rate input (`in:<graph
        input>`, `out:<node/port>`, `const:<v>`). A graph that resamples (`resample/sr`) is right this way,
        where the graph's own rate input would be wrong."""
        from ..core import Const, Edge, GraphInput

        g = self.graph
        ref = g.spec.outputs.get(key)
        start = ref.node if ref is not None else key.partition("/")[0]
        if start not in g.nodes:
            return None
        queue, seen = [start], {start}
        while queue:
            n = queue.pop(0)
            node = g.nodes[n]
            for port, p in node.outputs.items():
                if port in RATE_NAMES and is_rate(p):
                    return f"out:{n}/{port}"
            for port, src in node.sources.items():
                if port in RATE_NAMES and is_rate(node.inputs.get(port, Port())):
                    if isinstance(src, GraphInput):
                        return "in:" + src.name
                    if isinstance(src, Edge):
                        return f"out:{src.node}/{src.port}"
                    if isinstance(src, Const) and isinstance(src.value, (int, float)):
                        return f"const:{src.value}"
            for src in node.sources.values():
                if isinstance(src, Edge) and src.node not in seen:
                    seen.add(src.node)
                    queue.append(src.node)
        return None

    def _has_node_port(self, key: str) -> bool:
        node, _, port = key.partition("/")
        n = self.graph.nodes.get(node)
        return n is not None and port in n.outputs

    def unknown_input(self, name: str) -> ServeError:
        known = ", ".join(k for k in self.fields if k not in self.hidden_inputs) or "none"
        return ServeError(422, f"unknown input '{name}' (inputs: {known})", port=name)
