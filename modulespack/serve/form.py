"""The ports of one graph as a form: a field per input (kind, decoders, the audio pairing of
`kinds`), and per fetch set a plan of what to fetch and how to encode each output.

Decoding requests is in `feeds`, encoding answers in `encode`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ..core import BuiltGraph, Port
from ..core.ports import ANY, NDARRAY
from ..io.audio_ports import audio_inputs as _audio_inputs, is_audio, is_audio_name, is_audio_value, output_rate, \
    rate_beside
from .encode import to_jsonable
from .errors import ServeError
from .kinds import port_info, port_kind
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
    """How to fetch and encode one fetch set: session fetches, and per visible key how to encode it.

    `audio_keys` are the outputs that are audio by the convention: by their port, or (`untyped`)
    by an audio name on an untyped port, which are audio only when their value is 1-D float samples
    (`audio_in` tells after the run)."""
    fetches: tuple[str, ...]
    items: list[tuple[str, str, str | None]]   # (key, kind, rate: 'out:<fetch>', 'in:<input>', 'const:<v>')
    audio_keys: list[str]
    untyped: frozenset[str] = frozenset()

    def is_audio(self, key: str, value: Any) -> bool:
        return key not in self.untyped or is_audio_value(key, None, value)

    def audio_in(self, outputs: Mapping[str, Any]) -> list[str]:
        """The audio outputs of one run (an untyped one whose value is not samples is not)."""
        return [k for k in self.audio_keys if self.is_audio(k, outputs.get(k))]


class GraphForm:
    """Ports of one graph as a form: kinds, audio pairing, decoders, output plans."""

    def __init__(self, graph: BuiltGraph, max_audio_seconds: float = 600.0):
        self.graph = graph
        self.max_audio_seconds = max_audio_seconds
        spec_inputs = graph.spec.inputs
        self.fields: dict[str, InputField] = {}
        self.rate_inputs: dict[str, list[str]] = {}   # rate input -> audio inputs feeding it
        pairs = _audio_inputs(graph)
        audio_inputs = set(pairs)
        for n, r in pairs.items():
            if r:
                self.rate_inputs.setdefault(r, []).append(n)
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
        untyped = set()
        for k in keys:
            p = ports[k]
            if not is_audio(k, p):
                if not (p.dtype in (ANY, NDARRAY) and is_audio_name(k)):
                    continue
                untyped.add(k)  # audio if its value is samples (modulespack2 modules declare no types)
            beside = rate_beside(self.graph, k)
            rate = beside or output_rate(self.graph, k)
            if rate is not None and rate.startswith("out:"):
                c = rate[4:]
                if c not in ports:
                    fetches.append(c)
                    hidden.add(c)
                elif beside and (fetch is None or c not in fetch):
                    hidden.add(c)  # folded into the audio output it belongs to
            if rate is not None:
                audio_keys.append(k)
                items.append((k, rate))
        audio = dict(items)
        items = [(k, "audio", audio[k]) if k in audio else (k, port_kind(ports[k]), None)
                 for k in keys if k in audio or k not in hidden]
        plan = OutputPlan(tuple(dict.fromkeys(fetches)), items, audio_keys, frozenset(untyped) & set(audio_keys))
        if len(self._plans) < 256:
            self._plans[fetch] = plan
        return plan

    def unknown_input(self, name: str) -> ServeError:
        known = ", ".join(k for k in self.fields if k not in self.hidden_inputs) or "none"
        return ServeError(422, f"unknown input '{name}' (inputs: {known})", port=name)
