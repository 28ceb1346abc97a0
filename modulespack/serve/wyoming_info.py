"""What the Wyoming front door offers: the served graphs that fit a task (`tasks`) as Wyoming
programs, and the names clients use for them mapped back onto graphs and voices.

Each transcription graph is an `asr` program with one model, both named after the graph (Home
Assistant's `transcribe` names the model). Each speech graph is a `tts` program whose voices are the
graph's voices (`TaskPorts.voices`: the module's declared choices, or the graph file's
``openai: {voices: ...}``); a graph without a voice input, or whose voices are unknown, offers one
voice named after the graph (its default). A voice name two graphs share is offered as
``graph:voice`` by both, so every name picks one graph.

A graph file may say, in a top-level ``wyoming:`` mapping (`GraphSpec.front_doors`):

.. code-block:: yaml

    wyoming:
      languages: [de, de-AT]   # offered to clients, and a transcribe's language must match one (default:
                               # the openai: mapping's languages, else DEFAULT_LANGUAGES: the bundled
                               # speech modules, pocketsphinx's model and flite's voices, are English)
      rate: 16000              # speech to text: the rate audio is resampled to (default: the rate
                               # input's default, else ASR_RATE)
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from .. import __version__
from ..core import Problem
from .tasks import TaskPorts, TaskSettingsError, language_matches, task_ports

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from wyoming.info import AsrModel, AsrProgram, Attribution, Info, TtsProgram, TtsVoice
    from wyoming.tts import SynthesizeVoice

log = logging.getLogger("modulespack.serve")

DEFAULT_LANGUAGES = ("en",)
ASR_RATE = 16000  # Hz: what speech recognisers take, and what Home Assistant sends
ATTRIBUTION = Attribution(name="modulespack", url="")
SETTINGS_KEY = "wyoming"
SETTING_KEYS = ("languages", "rate")


class UnknownName(LookupError):
    """A model or voice name no served graph answers; `code` is the Wyoming error code."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass
class WyomingCatalog:
    """The graphs the Wyoming front door serves, by task, and the names that pick them."""
    asr: dict[str, TaskPorts] = field(default_factory=dict)                 # graph -> ports
    tts: dict[str, TaskPorts] = field(default_factory=dict)
    languages: dict[str, list[str]] = field(default_factory=dict)           # graph -> languages
    rates: dict[str, int] = field(default_factory=dict)                     # ASR graph -> audio rate
    descriptions: dict[str, str] = field(default_factory=dict)
    voices: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # Wyoming voice -> (graph, client voice)

    @classmethod
    def from_entries(cls, entries: Mapping[str, Any]) -> "WyomingCatalog":
        cat = cls()
        for name, entry in entries.items():
            try:
                ports = task_ports(entry)
            except TaskSettingsError as e:  # start-up reports these (`tasks.settings_problems`)
                log.warning("wyoming: graph '%s' is not served: %s", name, e)
                continue
            if ports is None:
                continue
            (cat.asr if ports.task == "transcription" else cat.tts)[name] = ports
            settings = _settings(entry)
            cat.languages[name] = list(settings.get("languages") or ports.languages or DEFAULT_LANGUAGES)
            if ports.task == "transcription":
                default = entry.graph.defaults.get(ports.rate_in) if ports.rate_in else None
                cat.rates[name] = int(settings.get("rate") or default or ASR_RATE)
            cat.descriptions[name] = entry.description or f"modulespack graph '{name}'"
        cat._name_voices()
        return cat

    def _name_voices(self) -> None:
        offered = {g: (p.voices if p.voice_in and p.voices else ()) for g, p in self.tts.items()}
        count: dict[str, int] = {}
        for vs in offered.values():
            for v in vs:
                count[v] = count.get(v, 0) + 1
        for g, vs in offered.items():
            if not vs:
                self.voices[g] = (g, None)
            for v in vs:
                self.voices[v if count[v] == 1 and v not in self.tts else f"{g}:{v}"] = (g, v)

    def voice_names(self, graph: str) -> list[str]:
        """The Wyoming voice names of speech graph `graph`, as `describe` lists them (for snippets)."""
        return [name for name, (g, _v) in self.voices.items() if g == graph]

    # ---------------------------------------------------------------- describe

    def info(self) -> Info:
        asr = [AsrProgram(name=g, attribution=ATTRIBUTION, installed=True, description=self.descriptions[g],
                          version=__version__,
                          models=[AsrModel(name=g, attribution=ATTRIBUTION, installed=True,
                                           description=self.descriptions[g], version=__version__,
                                           languages=list(self.languages[g]))])
               for g in self.asr]
        tts = []
        for g in self.tts:
            voices = [TtsVoice(name=name, attribution=ATTRIBUTION, installed=True,
                               description=f"{g}: voice {v}" if v else f"{g}: its default voice",
                               version=__version__, languages=list(self.languages[g]))
                      for name in self.voice_names(g) for v in [self.voices[name][1]]]
            tts.append(TtsProgram(name=g, attribution=ATTRIBUTION, installed=True, description=self.descriptions[g],
                                  version=__version__, voices=voices))
        return Info(asr=asr, tts=tts)

    # ---------------------------------------------------------------- names -> graphs

    def asr_graph(self, name: str | None) -> str:
        """The transcription graph a `transcribe` names (its model or program name; the first when None)."""
        if not self.asr:
            raise UnknownName("this server has no speech-to-text graph", "no-asr")
        if not name:
            return next(iter(self.asr))
        if name in self.asr:
            return name
        raise UnknownName(f"no speech-to-text model named '{name}' (models: {', '.join(self.asr)})", "unknown-model")

    def tts_voice(self, voice: SynthesizeVoice | None) -> tuple[str, str | None]:
        """(speech graph, the graph's voice value or None for its default) for a `synthesize` voice."""
        if not self.tts:
            raise UnknownName("this server has no text-to-speech graph", "no-tts")
        name = voice.name if voice is not None else None
        if name:
            if name in self.voices:
                g, v = self.voices[name]
            elif name in self.tts:
                g, v = name, None
            else:
                g, _, v = name.partition(":")  # graph:voice, also for a voice offered by its plain name
                p = self.tts.get(g)
                if p is None or not v or not p.voice_in or (p.voices and v not in p.voices):
                    raise UnknownName(f"no voice named '{name}' (voices: {', '.join(self.voices)})", "unknown-voice")
            return g, (self.tts[g].graph_voice(v) if v else None)
        language = voice.language if voice is not None else None
        if language:
            for g, langs in self.languages.items():
                if g in self.tts and language_matches(language, langs):
                    return g, None
        return next(iter(self.tts)), None


def _settings(entry: Any) -> dict[str, Any]:
    """The graph file's ``wyoming:`` mapping (checked by `settings_problems` at start-up)."""
    return dict(getattr(entry.graph.spec, "front_doors", {}).get(SETTINGS_KEY) or {})


def settings_problems(entries: Iterable[Any]) -> list[Problem]:
    """What is wrong in the graphs' ``wyoming:`` mappings, one Problem (naming file and key) each."""
    out = []
    for e in entries:
        spec = e.graph.spec
        file = str(spec.path) if spec.path else spec.name
        for key, v in _settings(e).items():
            if key not in SETTING_KEYS:
                msg = f"unknown key '{key}' (expected {', '.join(SETTING_KEYS)})"
            elif key == "languages" and not (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v)):
                msg = f"languages: a list of language codes, e.g. [en, en-US], not {v!r}"
            elif key == "rate" and (isinstance(v, bool) or not isinstance(v, int) or v <= 0):
                msg = f"rate: a sample rate in Hz, e.g. 16000, not {v!r}"
            else:
                continue
            out.append(Problem(f"wyoming: {msg}", file=file, port=key, kind="front-door"))
    return out
