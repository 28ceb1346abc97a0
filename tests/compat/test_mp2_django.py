"""The graphs of the modulespack2 Django app run end to end with the stand-in modules."""
from __future__ import annotations

import json
from base64 import b64decode, b64encode
from types import SimpleNamespace

import numpy as np
import pytest

import modulespack as mp
from modulespack.compat import ModuleGraph, Session

from mp2_helpers import SR, data_url, dominant_frequency, read_wav_bytes, tone_bursts, wav_bytes


@pytest.fixture
def mp2(graphs, mp2_modules):
    """run(graph file name, feed_dict) with the modulespack2 API."""
    sess = Session(ModuleLibPath=mp2_modules)
    built = {}

    def run(name, feed):
        if name not in built:
            graph = ModuleGraph(JsonFile=graphs / name)
            built[name] = (graph, *sess.build_graph(graph))
        graph, table, order = built[name]
        return sess.run(fetches=order, ModuleTable=table, graph=graph, feed_dict=feed)

    yield run
    sess.close()


def django_post(data: str):
    """What the Django view handed RequestHandler: a request with the audio in POST['data']."""
    return SimpleNamespace(method="POST", POST={"data": data}, GET={}, body=b"")


def django_json(data: str):
    return SimpleNamespace(method="POST", POST={}, GET={}, body=json.dumps({"data": data}).encode())


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_asr_recognises_one_syllable_per_burst(mp2, n):
    audio = wav_bytes(tone_bursts([300 + 100 * k for k in range(n)]))
    got = mp2("django-ASR.json", {'request_handler': {'request': audio}})
    assert got == {'RetDataDict': {'result': "你好世界"[:n], 'success': True}}


@pytest.mark.parametrize("wrap", [
    lambda b: b,                                  # raw bytes
    lambda b: data_url(b),                        # data URL, as the page's readAsDataURL sent it
    lambda b: {"data": b64encode(b).decode()},    # the JSON body
    lambda b: django_post(data_url(b)),           # a Django-like POST request
    lambda b: django_json(b64encode(b).decode()),  # a Django-like request with a JSON body
])
def test_request_handler_accepts_what_the_django_app_sent(mp2, wrap, request_dir):
    audio = wav_bytes(tone_bursts([440, 440]))
    got = mp2("django-ASR.json", {'request_handler': {'request': wrap(audio)}})
    assert got['RetDataDict'] == {'result': '你好', 'success': True}
    files = list(request_dir.iterdir())
    assert len(files) == 1 and files[0].suffix == '.wav' and files[0].read_bytes() == audio


def test_request_handler_writes_the_bytes_it_gets(graphs, registry, request_dir):
    sess = mp.Session(graphs / "django-ASR.json", registry=registry)
    res = sess.run({'request_handler.request': b"RIFF-not-really-audio"}, fetches=['request_handler/data_file_path'])
    path = res['request_handler/data_file_path']
    assert path.startswith(str(request_dir)) and open(path, 'rb').read() == b"RIFF-not-really-audio"
    assert set(res.timings) == {'request_handler'}


def test_inner_asr_graph_on_the_new_api(graphs, registry, tmp_path):
    wav = tmp_path / "three.wav"
    x = tone_bursts([300, 500, 700])
    wav.write_bytes(wav_bytes(x))
    sess = mp.Session(graphs / "django-_ASR.json", registry=registry)
    res = sess.run({'audio2mfcc.wav_file': str(wav)},
                   fetches=['audio2mfcc/mfcc', 'audio2mfcc/seq_len', 'AcousticModel/PinYin', 'HanZi'])
    frames = 1 + len(x) // 160                   # 10 ms hop, centred frames
    assert res['audio2mfcc/mfcc'].shape == (1, frames, 26) and res['audio2mfcc/mfcc'].dtype == np.float32
    assert res['audio2mfcc/seq_len'].tolist() == [[frames]] and res['audio2mfcc/seq_len'].dtype == np.int32
    assert res['AcousticModel/PinYin'] == ['ni3', 'hao3', 'shi4']
    assert res['HanZi'] == '你好世'


def test_mfcc_is_a_real_mfcc(graphs, registry, tmp_path):
    # c0 (energy) is much higher in the bursts than in the silence, and a louder burst has more energy
    wav = tmp_path / "a.wav"
    x = np.zeros(int(1.35 * SR))
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, len(x))
    burst1, burst2 = slice(int(0.25 * SR), int(0.55 * SR)), slice(int(0.8 * SR), int(1.1 * SR))
    x[burst1] = noise[burst1]
    x[burst2] = 0.1 * noise[burst2]              # second burst 20 dB quieter
    wav.write_bytes(wav_bytes(x))
    res = mp.Session(graphs / "django-_ASR.json", registry=registry).run(
        {'audio2mfcc.wav_file': str(wav)}, fetches=['audio2mfcc/mfcc'])
    c0 = res['audio2mfcc/mfcc'][0, :, 0]
    silence, burst1, burst2 = c0[5:20].mean(), c0[30:50].mean(), c0[85:105].mean()
    assert burst1 > burst2 > silence
    # white noise 20 dB quieter: each of the 40 mel bands drops by 20 dB, and c0 is their sum / sqrt(40)
    assert burst1 - burst2 == pytest.approx(20 * np.sqrt(40), rel=0.05)


def test_voice_conversion_end_to_end(mp2):
    audio = wav_bytes(tone_bursts([440], seconds=0.5))
    got = mp2("django-VC.json", {'request_handler': {'request': data_url(audio)}})
    ret = got['RetDataDict']
    assert ret['success'] is True and ret['result'].startswith('data:audio/wav;base64,')
    sr, y = read_wav_bytes(b64decode(ret['result'].split(',', 1)[1]))
    assert sr == SR
    assert len(y) == 96 * 333                    # 334 frames of hop 96: 2 s
    assert np.abs(y).max() == pytest.approx(0.9, abs=0.01)
    f = dominant_frequency(y)
    assert abs(f - 440 * 1.25) < 15, f           # the stand-in model shifts frequencies up by 1.25


def test_inner_vc_graph_on_the_new_api(graphs, registry, tmp_path):
    wav = tmp_path / "tone.wav"
    wav.write_bytes(wav_bytes(tone_bursts([440], seconds=0.5)))
    sess = mp.Session(graphs / "django-_VC.json", registry=registry)
    res = sess.run({'mfcc_spec_mel.wav_file': str(wav)},
                   fetches=['mfcc_spec_mel/mfcc', 'mfcc_spec_mel/spec', 'mfcc_spec_mel/mel',
                            'voice_conversion/ppgs', 'voice_conversion/pred_spec'])
    assert res['mfcc_spec_mel/mfcc'].shape == (334, 60)
    spec, mel = res['mfcc_spec_mel/spec'], res['mfcc_spec_mel/mel']
    assert spec.shape == (334, 569) and mel.shape == (334, 90)
    assert 0 <= spec.min() and spec.max() <= 1 and 0 <= mel.min() and mel.max() <= 1
    bin_hz = SR / 1136
    assert abs(np.argmax(spec[50]) * bin_hz - 440) < bin_hz        # the tone, after trimming, at the start
    pred = res['voice_conversion/pred_spec']
    assert pred.shape == (1, 334, 569) and pred.dtype == np.float32
    assert abs(np.argmax(pred[0, 50]) * bin_hz - 550) < bin_hz
    ppgs = res['voice_conversion/ppgs']
    assert ppgs.shape == (1, 334, 61)
    np.testing.assert_allclose(ppgs.sum(axis=2), 1.0, rtol=1e-5)
    # the tone is 0.5 s, padded with silence to 2 s: the last frames are at the floor (80 dB below the peak)
    assert spec[50].max() > 0.8
    assert spec[-20:].max() == pytest.approx(spec.min())


def test_response_handler_text_and_audio(tmp_path, registry):
    p = tmp_path / "resp.json"
    p.write_text(json.dumps({"version": {"nodeNum": 1}, "node": [
        {"startNode": "True", "name": "resp", "module": "ResponseHandler",
         "input": {"data": "None", "return_type": "None"}, "output": {"RetDataDict": ""}}]}))
    sess = mp.Session(p, registry=registry)
    assert sess.run({'resp.data': 'hi', 'resp.return_type': 'text'}).outputs == \
        {'RetDataDict': {'result': 'hi', 'success': True}}
    out = sess.run({'resp.data': b'\x00\x01', 'resp.return_type': 'audio'}).outputs['RetDataDict']
    assert out == {'result': 'data:audio/wav;base64,AAE=', 'success': True}
    with pytest.raises(mp.NodeError, match="return_type must be"):
        sess.run({'resp.data': 'hi', 'resp.return_type': 'video'})


def test_lm_rejects_unknown_pinyin(tmp_path, registry):
    p = tmp_path / "lm.json"
    p.write_text(json.dumps({"version": {"nodeNum": 1}, "node": [
        {"startNode": "True", "name": "lm", "module": "LM_serving", "input": {"PinYin": "None"},
         "output": {"HanZi": ""}}]}))
    sess = mp.Session(p, registry=registry)
    assert sess.run({'lm.PinYin': ['hao3', 'ni3']}).outputs == {'HanZi': '好你'}
    with pytest.raises(mp.NodeError) as e:
        sess.run({'lm.PinYin': ['zzz9']})
    assert e.value.node == 'lm' and isinstance(e.value.cause, ValueError)
