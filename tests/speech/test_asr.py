"""PocketSphinx on real flite speech: the same transcripts as pocketsphinx called directly, grammars,
language models from sentences, keyword spotting, other sample rates, concurrent runs, the round trip.

Audio comes from flite's rms voice, which the bundled model recognises best (measured baseline:
2.2% WER with the default language model; espeak-ng speech is recognised too badly to test with).
"""
from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

import jiwer
import numpy as np
import pytest
import soundfile as sf
import soxr
import yaml

import modulespack as mp
from modulespack.core.errors import GraphError, InputError, NodeError
from modulespack.io import read_wav
from modulespack.speech.asr import PocketSphinx, to_int16
from modulespack.speech.lm import jsgf_from_sentences

pocketsphinx = pytest.importorskip("pocketsphinx")

GRAPHS = Path(__file__).resolve().parents[2] / "examples" / "graphs"
N_TEST = 6  # sentences[0:6] for recognition, sentences[6:10] for the round trip


@pytest.fixture(scope="module")
def utterances(flite_wav, sentences):
    """[(reference text, path, float32 samples, sr)] for six flite rms sentences."""
    out = []
    for text in sentences[:N_TEST]:
        path = flite_wav(text, "rms")
        wav, sr = read_wav(path)
        out.append((text, path, wav, sr))
    return out


@pytest.fixture(scope="module")
def direct(utterances):
    """Transcripts from pocketsphinx itself: a fresh default Decoder per file, int16 read from the WAV."""
    hyps = []
    for _text, path, _wav, _sr in utterances:
        pcm, sr = sf.read(path, dtype="int16")
        assert sr == 16000
        d = pocketsphinx.Decoder(loglevel="ERROR")
        d.start_utt()
        d.process_raw(pcm.tobytes(), full_utt=True)
        d.end_utt()
        hyps.append(d.hyp().hypstr if d.hyp() else "")
    return hyps


@pytest.fixture(scope="module")
def asr_session():
    with mp.Session(GRAPHS / "asr.yaml") as s:
        yield s


def refs(utterances) -> list[str]:
    return [u[0] for u in utterances]


def graph_with(tmp_path: Path, params: dict) -> Path:
    """A one-node recognition graph with these pocketsphinx parameters, written as YAML."""
    path = tmp_path / "asr_custom.yaml"
    path.write_text(yaml.safe_dump({
        "name": "asr_custom", "inputs": {"wav": None, "sr": None},
        "nodes": [{"name": "asr", "module": "pocketsphinx", "params": params,
                   "inputs": {"wav": "$wav", "sr": "$sr"}}],
        "outputs": {"text": "asr/text"}}))
    return path


def test_int16_conversion_restores_the_file_samples(utterances):
    _text, path, wav, _sr = utterances[0]
    assert np.array_equal(to_int16(wav), sf.read(path, dtype="int16")[0])


def test_asr_graph_gives_the_transcripts_of_direct_pocketsphinx(asr_session, utterances, direct):
    ours_cfg, default = asr_session.modules["recognise"].decoder_config(), pocketsphinx.Config()
    assert all(ours_cfg[k] == default[k] for k in ("hmm", "dict", "lm", "samprate"))
    ours = [asr_session.run({"wav": wav, "sr": sr})["text"] for _t, _p, wav, sr in utterances]
    assert ours == direct
    wer_direct, wer_ours = jiwer.wer(refs(utterances), direct), jiwer.wer(refs(utterances), ours)
    print(f"\nWER rms, default LM: direct {wer_direct:.1%}, asr.yaml {wer_ours:.1%}")
    assert abs(wer_ours - wer_direct) <= 0.01
    # Measured here: 6 errors in these 48 words (12.5%), all article swaps ("a" -> "the") and
    # word splits ("near the" -> "nearest"); decoding is deterministic, so this bound only
    # leaves room for other pocketsphinx/flite builds (one more wrong word is +2.1%).
    assert wer_ours <= 0.15


def test_grammar_of_the_sentences(tmp_path, utterances, sentences):
    with mp.Session(graph_with(tmp_path, {"grammar_sentences": sentences, "pool_size": 1})) as s:
        hyps = [s.run({"wav": wav, "sr": sr})["text"] for _t, _p, wav, sr in utterances]
    wer = jiwer.wer(refs(utterances), hyps)
    print(f"\nWER rms, grammar of the 20 test sentences: {wer:.1%} (baseline 0%)")
    assert wer < 0.02


def test_jsgf_file_gives_the_same_as_grammar_sentences(tmp_path, utterances, sentences):
    gram = tmp_path / "sentences.gram"
    gram.write_text(jsgf_from_sentences(sentences))
    asr = PocketSphinx(jsgf=str(gram), pool_size=1)
    asr.setup()
    text, _p, wav, sr = utterances[1]
    assert asr.run(wav=wav, sr=sr)["text"] == text


def test_language_model_from_sentences(utterances, sentences):
    asr = PocketSphinx(lm_sentences=sentences, pool_size=1)
    asr.setup()
    hyps = [asr.run(wav=wav, sr=sr)["text"] for _t, _p, wav, sr in utterances]
    wer = jiwer.wer(refs(utterances), hyps)
    print(f"\nWER rms, trigram LM of the 20 test sentences: {wer:.1%}")
    assert wer < 0.05


def test_keyphrase_spotting(utterances):
    # "bag of rice" is said in sentence 1, "seven apples" in sentence 4, "small boat" in none
    said = {"bag of rice": 1, "seven apples": 4}
    for phrase, i in said.items():
        assert [phrase in u[0] for u in utterances].count(True) == 1 and phrase in utterances[i][0]
    assert not any("small boat" in u[0] for u in utterances)
    asr = PocketSphinx(keyphrases=[*said, "small boat"], pool_size=1)
    asr.setup()
    heard = [asr.run(wav=wav, sr=sr)["text"] for _t, _p, wav, sr in utterances]
    print("\nkeyphrases heard:", heard)
    for phrase, i in said.items():
        assert phrase in heard[i]
    assert not any("small boat" in h for h in heard)


def test_other_rates_are_resampled_with_a_warning(asr_session, utterances, direct, caplog):
    text, _p, wav, _sr = utterances[0]
    wav8 = soxr.resample(wav, 16000, 8000)
    with caplog.at_level(logging.WARNING, logger="modulespack.speech.asr"):
        at8 = asr_session.run({"wav": wav8, "sr": 8000})["text"]
    assert any("8000 Hz" in r.getMessage() and "16000 Hz" in r.getMessage() for r in caplog.records)
    # telephone band: the model misses 4-8 kHz. Measured: one more wrong word than at 16 kHz
    # ("painted the" -> "came to the"); allow two.
    print(f"\n16 kHz: {direct[0]!r}\n 8 kHz: {at8!r}")
    assert jiwer.wer(text, at8) <= jiwer.wer(text, direct[0]) + 0.25


def test_other_rates_raise_when_resampling_is_off(utterances):
    asr = PocketSphinx(pool_size=1, resample=False, grammar_sentences=[utterances[0][0]])
    asr.setup()
    with pytest.raises(InputError, match="needs 16000 Hz audio, got 8000 Hz") as e:
        asr.run(wav=np.zeros(8000, np.float32), sr=8000)
    assert e.value.port == "sr"


def test_silence_and_empty_audio(asr_session):
    assert asr_session.run({"wav": np.zeros(0, np.float32), "sr": 16000})["text"] == ""
    assert isinstance(asr_session.run({"wav": np.zeros(8000, np.float32), "sr": 16000})["text"], str)


def test_concurrent_runs_each_get_their_own_transcript(asr_session, utterances, direct):
    picks = [0, 2, 3, 5]   # four different sentences, one per thread, all decoding at once
    results: dict[int, list[str]] = {i: [] for i in picks}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(picks))

    def work(i: int) -> None:
        try:
            barrier.wait()
            _t, _p, wav, sr = utterances[i]
            results[i].append(asr_session.run({"wav": wav, "sr": sr})["text"])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in picks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    for i in picks:
        assert results[i] == [direct[i]]
    assert 1 <= asr_session.modules["recognise"].decoders_built <= 2  # pool_size: 2, never more


def test_decoders_are_built_when_first_needed(utterances, direct):
    """A one-shot run (setup, one decode) builds one decoder, not pool_size of them."""
    with mp.Session(GRAPHS / "asr.yaml") as s:
        asr = s.modules["recognise"]
        assert asr.pool_size == 2 and asr.decoders_built == 1  # set up: one, so a bad model fails the build
        _t, _p, wav, sr = utterances[1]
        assert s.run({"wav": wav, "sr": sr})["text"] == direct[1]
        assert s.run({"wav": wav, "sr": sr})["text"] == direct[1]
        assert asr.decoders_built == 1  # runs one after another share it
        # runs at the same time: a second decoder is built for the second, a third run waits its turn
        first, second = asr._acquire(), asr._acquire()
        assert first is not second and asr.decoders_built == 2
        got = []
        waiter = threading.Thread(target=lambda: got.append(asr._acquire()))
        waiter.start()
        waiter.join(0.2)
        assert got == [] and asr.decoders_built == 2
        asr._release(second)
        waiter.join(10)
        assert got == [second]
        asr._release(first), asr._release(second)


def test_roundtrip_graph(sentences):
    # Measured with rms on these four sentences (38 words): one error ("the" -> "a"), 2.6%,
    # no sentence above 10%. Over all 20 test sentences: 10.6% while sentences.py wrote the
    # British "neighbour", which the US language model always spells "neighbor". The bounds allow
    # two more wrong words in all, at most two in one sentence (sentences have 9-10 words).
    texts = sentences[6:10]
    with mp.Session(GRAPHS / "roundtrip.yaml") as s:
        outs = [s.run({"text": t}) for t in texts]
    assert all(o["sr"] == 16000 and len(o["wav"]) > 16000 for o in outs)
    hyps = [o["text"] for o in outs]
    print(f"\nround trip (rms) WER: {jiwer.wer(texts, hyps):.1%}")
    assert jiwer.wer(texts, hyps) <= 0.08
    for t, h in zip(texts, hyps):
        assert jiwer.wer(t, h) <= 0.25, (t, h)


def test_parameter_errors_at_build_time(tmp_path):
    with pytest.raises(GraphError) as e:
        mp.build_graph(graph_with(tmp_path, {"keyphrases": ["red box"], "grammar_sentences": ["a red box"],
                                             "pool_size": 0}))
    msg = str(e.value)
    assert "give at most one of" in msg and "pool_size" in msg
    with pytest.raises(GraphError, match="keyphrases.*expected"):
        mp.build_graph(graph_with(tmp_path, {"keyphrases": "red box"}))


def test_words_missing_from_the_dictionary_are_named(tmp_path):
    with pytest.raises(GraphError, match="not in the dictionary.*zorblax"):
        mp.Session(graph_with(tmp_path, {"grammar_sentences": ["the zorblax opened the door"]}))


def test_generated_grammar_files_are_removed(tmp_path, monkeypatch, sentences):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    PocketSphinx(lm_sentences=sentences[:3], pool_size=1).setup()
    assert list(tmp.iterdir()) == []
