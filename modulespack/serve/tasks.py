"""Which served graphs answer which audio task, and through which ports: the one place the front doors
(the OpenAI audio API, Wyoming) decide it.

A graph is a ``transcription`` graph (speech to text) when it has one audio input (by the audio
convention of `modulespack.io.audio_ports`, with its rate input) and a text output; a ``speech``
graph (text to speech) when it has a text input and an audio output whose rate the graph says. Any
other required input must be one the task fills (a voice, a language), else the graph does not fit.
Ports are found by kind first and by name among several (``text``, ``wav``, ``voice``...).

A graph file overrides the guess with a top-level ``openai:`` mapping (kept opaque by core):

.. code-block:: yaml

    openai:
      task: transcription      # or speech; none (or false) hides the graph from the front doors
      audio: wav               # transcription: the audio input; speech: the audio output
      text: text               # transcription: the text output; speech: the text input
      words: recognise/words   # transcription: word times [{word, start, end}] (seconds)
      voice: voice             # speech: the voice input
      voices: [slt, rms]       # speech: the voices offered (default: what the module declares),
                               # or a mapping client name -> graph voice ({alloy: slt, echo: rms})
      language: lang           # an input given the request's language
      languages: [en]          # the languages the graph handles (default: not said, any accepted)

`graph_task(g)` says the task (or None), `task_ports(g)` gives the `TaskPorts`; both take a
`GraphEntry` or a `BuiltGraph` and raise `TaskSettingsError` (a ValueError naming the file and the
key) for a wrong ``openai:`` mapping; `settings_problems(graphs)` lists those as start-up problems.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

from ..core import GraphInput, Problem
from ..core.ports import Port
from ..io.audio_ports import audio_inputs, fetch_port, is_audio, output_rate

TASKS = ("transcription", "speech")
SETTINGS_KEY = "openai"
SETTING_KEYS = ("task", "audio", "text", "words", "voice", "voices", "language", "languages")
NO_TASK = ("none", "off", False)

# names preferred among several ports of the right kind, best first
TEXT_NAMES = ("text", "transcript", "transcription", "sentence")
AUDIO_NAMES = ("wav", "audio", "speech")
VOICE_NAMES = ("voice", "speaker", "voice_name")
LANGUAGE_NAMES = ("language", "lang")
WORDS_NAMES = ("words", "word_times", "timestamps")


class TaskSettingsError(ValueError):
    """A graph file's ``openai:`` mapping is wrong (an unknown task or key, a port the graph lacks)."""

    def __init__(self, message: str, file: str | None = None, key: str | None = None):
        super().__init__((f"{file}: " if file else "") + f"openai: {message}")
        self.problem = message
        self.file = file
        self.key = key


@dataclass(frozen=True)
class TaskPorts:
    """The ports one task uses in one graph. Inputs are graph input names; outputs are fetch keys (a
    graph output or ``node/port``); `audio_rate` is where the audio output's rate comes from, a
    source of `io.audio_ports.output_rate` (``out:<fetch>``, ``in:<input>``, ``const:<value>``)."""
    task: str                                  # "transcription" | "speech"
    graph: str
    # transcription
    audio_in: str | None = None
    rate_in: str | None = None                 # filled with the uploaded audio's rate
    text_out: str | None = None
    words_out: str | None = None               # word times, fetched only when asked for
    # speech
    text_in: str | None = None
    voice_in: str | None = None
    voices: tuple[str, ...] = ()               # the voices offered (client names), () when unknown
    voice_map: Mapping[str, str] = field(default_factory=dict)  # client voice name -> graph voice
    default_voice: str | None = None
    audio_out: str | None = None
    audio_rate: str | None = None
    # both
    language_in: str | None = None
    languages: tuple[str, ...] = ()            # what the graph handles (`languages:`), () when not said

    @property
    def fetches(self) -> tuple[str, ...]:
        """What a plain run of the task fetches (word times are added only when wanted)."""
        if self.task == "transcription":
            return (self.text_out,)  # type: ignore[return-value]
        out = [self.audio_out]
        if self.audio_rate and self.audio_rate.startswith("out:") and self.audio_rate[4:] != self.audio_out:
            out.append(self.audio_rate[4:])
        return tuple(out)  # type: ignore[arg-type]

    def graph_voice(self, name: str) -> str:
        """The graph's voice for a client's voice name (the mapping's, else the name itself)."""
        return self.voice_map.get(name, name)


# ============================================================================ public


def graph_task(entry_or_graph: Any) -> str | None:
    """"transcription", "speech" or None (the graph fits neither, or its file says ``task: none``)."""
    p = task_ports(entry_or_graph)
    return p.task if p is not None else None


def task_ports(entry_or_graph: Any) -> TaskPorts | None:
    """The task and ports of a graph (a `GraphEntry` or `BuiltGraph`), or None if it fits no task."""
    graph = getattr(entry_or_graph, "graph", entry_or_graph)
    settings = graph.spec.front_doors.get(SETTINGS_KEY) or {}
    file = str(graph.spec.path) if graph.spec.path else graph.spec.name
    unknown = [k for k in settings if k not in SETTING_KEYS]
    if unknown:
        raise TaskSettingsError(f"unknown key '{unknown[0]}' (expected {', '.join(SETTING_KEYS)})", file, unknown[0])
    task = settings.get("task")
    if task in NO_TASK:
        return None
    if task is not None and task not in TASKS:
        raise TaskSettingsError(f"task must be transcription, speech or none, not {task!r}", file, "task")
    languages = _languages(settings, file)
    finders = {"transcription": _transcription, "speech": _speech}
    if task is not None:
        ports = finders[task](graph, settings, file, strict=True)
        if isinstance(ports, str):
            raise TaskSettingsError(f"task {task}: {ports}", file, "task")
        return replace(ports, languages=languages)
    wrong: list[tuple[str, TaskSettingsError]] = []  # port settings the graph does not have
    for t in TASKS:
        try:
            ports = finders[t](graph, settings, file, strict=False)
        except TaskSettingsError as err:
            wrong.append((t, err))
            continue
        if not isinstance(ports, str):
            return replace(ports, languages=languages)
    if wrong:  # it fits no task, and the file names ports it lacks: say so rather than hide the graph
        raise TaskSettingsError("; ".join(f"as a {t} graph, {e.problem}" for t, e in wrong), file, wrong[0][1].key)
    return None


def _languages(settings: Mapping[str, Any], file: str) -> tuple[str, ...]:
    given = settings.get("languages")
    if given is None:
        return ()
    if isinstance(given, str):
        given = [given]
    if not isinstance(given, list) or not all(isinstance(x, str) and x for x in given):
        raise TaskSettingsError("languages: a list of language codes (en, de...)", file, "languages")
    return tuple(given)


def language_matches(asked: str, offered: Iterable[str]) -> bool:
    """'en-US' is answered by 'en' and the other way round (case and '_' aside)."""
    a = asked.lower().replace("_", "-")
    return any(a == o.lower() or a.split("-")[0] == o.lower().replace("_", "-").split("-")[0] for o in offered)


def why_not(entry_or_graph: Any) -> str:
    """Why a graph fits neither task, for error messages ("" when it fits one)."""
    graph = getattr(entry_or_graph, "graph", entry_or_graph)
    if task_ports(graph) is not None:
        return ""
    settings = graph.spec.front_doors.get(SETTINGS_KEY) or {}
    if settings.get("task") in NO_TASK:
        return "its graph file says openai: {task: none}"
    file = graph.spec.name
    reasons = [f"not a {t} graph: {find(graph, {}, file, False)}"
               for t, find in (("transcription", _transcription), ("speech", _speech))]
    return "; ".join(reasons)


def settings_problems(entries: Iterable[Any]) -> list[Problem]:
    """Problems of the graphs' ``openai:`` mappings, one per graph (for start-up errors)."""
    out = []
    for e in entries:
        try:
            task_ports(e)
        except TaskSettingsError as err:
            out.append(Problem(f"openai: {err.problem}", file=err.file, kind="front-door"))
    return out


# ============================================================================ finding ports


def _pick(names: list[str], preferred: tuple[str, ...]) -> str | None:
    """The one name, or the first preferred one among several (matched on the part after '/')."""
    if len(names) == 1:
        return names[0]
    for want in preferred:
        for n in names:
            if n.rsplit("/", 1)[-1].lower() == want:
                return n
    return None


def _is_text(port: Port) -> bool:
    return port.dtype == "str"


def _given(graph: Any, settings: Mapping[str, Any], key: str, file: str, what: str, exists: Any) -> str | None:
    v = settings.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not exists(v):
        raise TaskSettingsError(f"{key}: {v!r} is not {what} of graph '{graph.spec.name}'", file, key)
    return v


def _required_rest(graph: Any, used: set[str]) -> list[str]:
    return [n for n in graph.inputs if n not in used and n not in graph.optional_inputs and n not in graph.defaults]


def _named_input(graph: Any, settings: Mapping[str, Any], key: str, names: tuple[str, ...], file: str) -> str | None:
    given = _given(graph, settings, key, file, "a text input", lambda v: v in graph.inputs and _is_text(graph.inputs[v]))
    if given is not None:
        return given
    return next((n for n in graph.inputs if n.lower() in names and _is_text(graph.inputs[n])), None)


def _transcription(graph: Any, settings: Mapping[str, Any], file: str, strict: bool) -> TaskPorts | str:
    pairs = audio_inputs(graph)
    audio = _given(graph, settings, "audio", file, "an audio input (a 1-D float input named *wav*/*audio*)",
                   lambda v: v in pairs)
    if audio is None:
        if not pairs:
            return "it has no audio input"
        audio = _pick(list(pairs), AUDIO_NAMES)
        if audio is None:
            return f"it has {len(pairs)} audio inputs ({', '.join(pairs)}); name one with openai: {{audio: ...}}"
    text = _given(graph, settings, "text", file, "a text output (graph output or node/port)",
                  lambda v: (p := fetch_port(graph, v)) is not None and _is_text(p))
    if text is None:
        texts = [k for k, p in graph.outputs.items() if _is_text(p)]
        if not texts:
            return "it has no text output"
        text = _pick(texts, TEXT_NAMES)
        if text is None:
            return f"it has {len(texts)} text outputs ({', '.join(texts)}); name one with openai: {{text: ...}}"
    words = _given(graph, settings, "words", file, "an output (graph output or node/port)",
                   lambda v: fetch_port(graph, v) is not None) or _words_beside(graph, text)
    language = _named_input(graph, settings, "language", LANGUAGE_NAMES, file)
    rate = pairs[audio]
    rest = _required_rest(graph, {audio, rate, language} - {None})  # type: ignore[arg-type]
    if rest:
        return f"its required input{'s' if len(rest) > 1 else ''} {', '.join(rest)} would be left empty"
    return TaskPorts("transcription", graph.spec.name, audio_in=audio, rate_in=rate, text_out=text,
                     words_out=words, language_in=language)


def _words_beside(graph: Any, text: str) -> str | None:
    """Word times next to the text: a graph output so named, or an output so named on the text's node."""
    outs = [k for k in graph.outputs if k.lower() in WORDS_NAMES]
    if outs:
        return outs[0]
    ref = graph.spec.outputs.get(text)
    node = ref.node if ref is not None else text.partition("/")[0]
    n = graph.nodes.get(node)
    if n is None:
        return None
    return next((f"{node}/{p}" for p in n.outputs if p.lower() in WORDS_NAMES), None)


def _speech(graph: Any, settings: Mapping[str, Any], file: str, strict: bool) -> TaskPorts | str:
    audio_in = set(audio_inputs(graph))
    text = _given(graph, settings, "text", file, "a text input", lambda v: v in graph.inputs and _is_text(graph.inputs[v]))
    voice = _named_input(graph, settings, "voice", VOICE_NAMES, file)
    language = _named_input(graph, settings, "language", LANGUAGE_NAMES, file)
    if text is None:
        texts = [n for n, p in graph.inputs.items() if _is_text(p) and n not in (voice, language)]
        if not texts:
            return "it has no text input"
        text = _pick(texts, TEXT_NAMES)
        if text is None:
            return f"it has {len(texts)} text inputs ({', '.join(texts)}); name one with openai: {{text: ...}}"
    if audio_in and not strict:
        return f"it also takes audio ({', '.join(sorted(audio_in))})"
    audio = _given(graph, settings, "audio", file, "an audio output (a 1-D float output named *wav*/*audio*)",
                   lambda v: (p := fetch_port(graph, v)) is not None and is_audio(v, p))
    if audio is None:
        outs = [k for k, p in graph.outputs.items() if is_audio(k, p)]
        if not outs:
            return "it has no audio output"
        audio = _pick(outs, AUDIO_NAMES)
        if audio is None:
            return f"it has {len(outs)} audio outputs ({', '.join(outs)}); name one with openai: {{audio: ...}}"
    rate = output_rate(graph, audio)
    if rate is None:
        return f"the graph does not say the sample rate of its audio output '{audio}'"
    rest = _required_rest(graph, {text, voice, language} - {None})  # type: ignore[arg-type]
    if rest:
        return f"its required input{'s' if len(rest) > 1 else ''} {', '.join(rest)} would be left empty"
    voices, voice_map = _voices(graph, settings, voice, file)
    default = graph.defaults.get(voice) if voice else None
    return TaskPorts("speech", graph.spec.name, text_in=text, voice_in=voice, voices=voices, voice_map=voice_map,
                     default_voice=default if isinstance(default, str) else None, audio_out=audio, audio_rate=rate,
                     language_in=language)


# ============================================================================ voices


def _voices(graph: Any, settings: Mapping[str, Any], voice: str | None, file: str
            ) -> tuple[tuple[str, ...], dict[str, str]]:
    given = settings.get("voices")
    if given is not None:
        if voice is None:
            raise TaskSettingsError("voices: the graph has no voice input (name it with voice: ...)", file, "voices")
        if isinstance(given, list) and given and all(isinstance(v, str) for v in given):
            return tuple(given), {}
        if isinstance(given, dict) and given and all(isinstance(k, str) and isinstance(v, str) for k, v in given.items()):
            return tuple(given), dict(given)
        raise TaskSettingsError("voices: a list of voice names or a mapping client name -> graph voice", file, "voices")
    return (declared_choices(graph, voice) if voice else ()), {}


def declared_choices(graph: Any, graph_input: str) -> tuple[str, ...]:
    """The values a module declares for the port that graph input `graph_input` feeds: a `Literal`
    annotation on its `run` parameter, else on the `__init__` parameter of the same name (flite's
    `voice: FliteVoice`), looking into nested graphs; () when no node declares them."""
    for node in graph.nodes.values():
        for port, src in node.sources.items():
            if isinstance(src, GraphInput) and src.name == graph_input:
                if node.subgraph is not None:
                    inner = declared_choices(node.subgraph, port)
                    if inner:
                        return inner
                    continue
                for fn in (node.cls.run, node.cls.__init__):
                    choices = _literal_values(_hint(fn, port))
                    if choices:
                        return choices
    return ()


def _hint(fn: Any, name: str) -> Any:
    try:
        return typing.get_type_hints(fn).get(name)
    except Exception:  # an annotation that does not resolve: no choices known
        return None


def _literal_values(hint: Any) -> tuple[str, ...]:
    if hint is None:
        return ()
    if typing.get_origin(hint) is typing.Literal:
        return tuple(v for v in typing.get_args(hint) if isinstance(v, str))
    out: list[str] = []
    for a in typing.get_args(hint):  # Optional[Literal[...]], Literal[...] | None
        out += _literal_values(a)
    return tuple(dict.fromkeys(out))
