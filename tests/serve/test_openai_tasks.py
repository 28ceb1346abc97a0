"""Which graphs fit which audio task (`serve.tasks`), the `openai:` mapping of graph files, the
transcript formats (`serve.openai_formats`) and pocketsphinx's optional word times."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modulespack.core import GraphError, build_graph
from modulespack.core.spec import load_graph

# not imported from conftest: with the whole suite in one process, `conftest` may name another folder's
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "graphs"


def built(tmp_path, text: str, name: str = "g"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    return build_graph(load_graph(path))


TTS = textwrap.dedent("""
    name: speak
    inputs:
      text: str
      voice: {dtype: str, default: rms}
    nodes:
      - {name: flite, module: flite, inputs: {text: $text, voice: $voice}}
    outputs: {wav: flite/wav, sr: flite/sr}
""")


def test_example_graphs_are_told_apart():
    from modulespack.serve.tasks import graph_task, task_ports, why_not
    tasks = {n: graph_task(build_graph(load_graph(EXAMPLES / f"{n}.yaml")))
             for n in ("asr", "tts", "roundtrip", "arith", "resynth", "vc")}
    assert tasks == {"asr": "transcription", "tts": "speech", "roundtrip": "speech", "arith": None,
                     "resynth": None, "vc": None}
    asr = task_ports(build_graph(load_graph(EXAMPLES / "asr.yaml")))
    assert (asr.audio_in, asr.rate_in, asr.text_out, asr.words_out) == ("wav", "sr", "text", "recognise/words")
    assert asr.fetches == ("text",)  # word times only when a format needs them
    tts = task_ports(build_graph(load_graph(EXAMPLES / "tts.yaml")))
    assert (tts.text_in, tts.voice_in, tts.audio_out, tts.audio_rate, tts.default_voice) == \
        ("text", "voice", "wav", "out:sr", "slt")
    assert tts.voices == ("slt", "rms", "awb", "kal", "kal16")  # flite's declared voices
    assert tts.fetches == ("wav", "sr")
    rt = task_ports(build_graph(load_graph(EXAMPLES / "roundtrip.yaml")))
    assert rt.voices == tts.voices  # found through the nested tts graph
    why = why_not(build_graph(load_graph(EXAMPLES / "arith.yaml")))
    assert "no audio input" in why and "no text input" in why


def test_the_example_graphs_say_their_language():
    """Else verbose_json says "unknown"; a regional code is accepted, another language refused (400)."""
    from modulespack.serve.openai_errors import OpenAIError
    from modulespack.serve.openai_routes import _transcription_options
    from modulespack.serve.tasks import task_ports
    ports = {n: task_ports(build_graph(load_graph(EXAMPLES / f"{n}.yaml"))) for n in ("asr", "tts")}
    assert ports["asr"].languages == ports["tts"].languages == ("en",)
    assert _transcription_options({"language": "en-US"}, {}, ports["asr"], "asr")[2] == "en-US"
    with pytest.raises(OpenAIError) as e:
        _transcription_options({"language": "de"}, {}, ports["asr"], "asr")
    assert e.value.status == 400 and "'de'" in str(e.value.message) and "transcribes en" in e.value.message


def test_the_graph_file_overrides_the_guess(tmp_path):
    from modulespack.serve.tasks import graph_task, task_ports
    g = built(tmp_path, TTS + "openai: {task: none}\n")
    assert graph_task(g) is None
    g = built(tmp_path, TTS + "openai: {voices: {alloy: rms, echo: awb}, languages: [en]}\n")
    p = task_ports(g)
    assert p.voices == ("alloy", "echo") and p.graph_voice("echo") == "awb" and p.graph_voice("kal") == "kal"
    assert p.languages == ("en",) and p.default_voice == "rms"
    spec = load_graph(tmp_path / "g.yaml")
    assert load_graph(spec.to_dict()).front_doors == {"openai": {"voices": {"alloy": "rms", "echo": "awb"},
                                                                 "languages": ["en"]}}


@pytest.mark.parametrize("setting, problem", [
    ("{task: translate}", "task must be transcription, speech or none"),
    ("{task: transcription}", "task transcription: it has no audio input"),
    ("{voice: speed}", "voice: 'speed' is not a text input"),
    ("{audio: text}", "as a speech graph, audio: 'text' is not an audio output"),
    ("{voices: 3}", "voices: a list of voice names"),
    ("{colour: blue}", "unknown key 'colour'"),
])
def test_wrong_settings_are_start_up_problems(tmp_path, setting, problem):
    from modulespack.serve import GraphLoadError, create_app
    built(tmp_path, TTS + f"openai: {setting}\n")
    with pytest.raises(GraphLoadError) as e:
        create_app(tmp_path / "g.yaml")
    assert problem in str(e.value.problems[0]) and "g.yaml" in str(e.value.problems[0])


def test_openai_must_be_a_mapping(tmp_path):
    with pytest.raises(GraphError, match="'openai' must be a mapping"):
        built(tmp_path, TTS + "openai: speech\n")


def test_a_graph_with_other_required_inputs_does_not_fit(tmp_path):
    from modulespack.serve.tasks import graph_task, why_not
    g = built(tmp_path, """
        name: two
        inputs: {text: str, other: str}
        nodes:
          - {name: flite, module: flite, inputs: {text: $text, voice: $other}}
        outputs: {wav: flite/wav, sr: flite/sr}
    """)
    assert graph_task(g) is None and "other would be left empty" in why_not(g)


def test_transcript_formats():
    from modulespack.serve.openai_formats import render, segments
    words = [{"word": "good", "start": 0.1, "end": 0.4}, {"word": "morning", "start": 0.4, "end": 0.9},
             {"word": "again", "start": 1.6, "end": 2.0}]
    segs = segments("good morning again", 2.5, words)
    assert [(s.start, s.end, s.text) for s in segs] == [(0.1, 0.9, "good morning"), (1.6, 2.0, "again")]
    assert segments("hi", 1.25, None)[0].end == 1.25 and segments("", 1.0, None) == []
    srt, mt = render("srt", "good morning again", 2.5, "en", words)
    assert srt.decode() == "1\n00:00:00,100 --> 00:00:00,900\ngood morning\n\n2\n00:00:01,600 --> 00:00:02,000\nagain\n\n"
    assert mt.startswith("application/x-subrip")
    vtt, _ = render("vtt", "good morning again", 3700.25, "en", [{"word": "x", "start": 3661.5, "end": 3700.25}])
    assert vtt.decode() == "WEBVTT\n\n01:01:01.500 --> 01:01:40.250\nx\n\n"
    assert render("text", "hi", 1.0, "en", None)[0] == b"hi\n"


def test_word_times_cost_nothing_unless_fetched():
    pytest.importorskip("pocketsphinx")
    from modulespack.core import Session
    from modulespack.io import read_wav
    from modulespack.speech.asr import PocketSphinx
    x, sr = read_wav(EXAMPLES / "audio" / "rms_hello.wav")
    with Session(EXAMPLES / "asr.yaml") as s:
        plain = s.run({"wav": x, "sr": sr})
        timed = s.run({"wav": x, "sr": sr}, ["text", "recognise/words"])
    assert set(plain.outputs) == {"text"} and plain.outputs["text"] == timed.outputs["text"]
    words = timed.outputs["recognise/words"]
    assert [w["word"] for w in words] == plain.outputs["text"].split()
    assert all(0 <= w["start"] < w["end"] <= len(x) / sr + 0.01 for w in words)
    m = PocketSphinx(pool_size=1)
    m.setup()
    try:  # a plan that uses only the text gets a runner that does not collect the word times
        assert set(m.runner(("text",))(wav=x, sr=sr)) == {"text"}
        assert set(m.runner(("text", "words"))(wav=x, sr=sr)) == {"text", "words"}
    finally:
        m.close()
