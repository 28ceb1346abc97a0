"""What the speech modules say about their outputs (rate, frame shift, dimension), checked at build time."""
from __future__ import annotations

import pytest

from modulespack.core.build import build_graph
from modulespack.core.errors import GraphError

WAV16 = {"dtype": "float32", "shape": [None], "attrs": {"sr": 16000}}


def built(nodes, inputs=None, outputs=None):
    return build_graph({"inputs": inputs or {"wav": WAV16, "sr": "int"}, "nodes": nodes,
                        "outputs": outputs or {}})


def attrs(g, ref):
    node, port = ref.split("/")
    return dict(g.nodes[node].outputs[port].attrs)


def test_world_analysis_and_mcep_carry_frame_timing_and_dimension():
    g = built([{"name": "a", "module": "world_analysis", "inputs": {"wav": "$wav", "sr": "$sr"}},
               {"name": "m", "module": "sp_to_mcep", "params": {"order": 24}, "inputs": {"sp": "a/sp"}}])
    timing = {"sr": 16000, "frame_shift": 80, "frame_period_ms": 5.0}
    assert attrs(g, "a/f0") == attrs(g, "a/sp") == timing
    assert attrs(g, "m/mgc") == {**timing, "dim": 25, "alpha": 0.42}


def test_rate_unknown_gives_only_the_period():
    g = built([{"name": "a", "module": "world_analysis", "params": {"frame_period": 10.0},
                "inputs": {"wav": "$wav", "sr": "$sr"}}],
              inputs={"wav": {"dtype": "float32", "shape": [None]}, "sr": "int"})
    assert attrs(g, "a/sp") == {"frame_period_ms": 10.0}


def test_tts_resample_trim_and_mel():
    g = built([{"name": "t", "module": "flite", "params": {"voice": "kal"}, "inputs": {"text": {"value": "hi"}}},
               {"name": "trim", "module": "trim", "inputs": {"wav": "t/wav", "sr": "t/sr"}},
               {"name": "r", "module": "resample", "params": {"target_sr": 22050},
                "inputs": {"wav": "trim/wav", "sr": "t/sr"}},
               {"name": "mel", "module": "mel", "params": {"hop_length": 256, "n_mels": 80},
                "inputs": {"wav": "r/wav", "sr": "r/sr"}},
               {"name": "e", "module": "espeak", "inputs": {"text": {"value": "hi"}}},
               {"name": "v", "module": "flite", "inputs": {"text": {"value": "hi"}, "voice": {"value": "kal"}}}],
              inputs={})
    assert attrs(g, "t/wav") == attrs(g, "trim/wav") == {"sr": 8000}
    assert attrs(g, "r/wav") == {"sr": 22050} and attrs(g, "e/wav") == {"sr": 22050}
    assert attrs(g, "mel/mel") == {"sr": 22050, "frame_shift": 256, "frame_period_ms": 256 / 22050 * 1000, "dim": 80}
    assert attrs(g, "v/wav") == {}  # a voice chosen per run may change the rate: nothing is claimed


def test_synthesis_refuses_frames_of_another_period_and_decoding_another_alpha():
    with pytest.raises(GraphError) as e:
        built([{"name": "a", "module": "world_analysis", "params": {"frame_period": 10.0},
                "inputs": {"wav": "$wav", "sr": "$sr"}},
               {"name": "m", "module": "sp_to_mcep", "inputs": {"sp": "a/sp"}},
               {"name": "d", "module": "mcep_to_sp", "params": {"alpha": 0.55},
                "inputs": {"mgc": "m/mgc", "sr": "$sr"}},
               {"name": "s", "module": "world_synthesis",
                "inputs": {"f0": "a/f0", "sp": "d/sp", "ap": "a/ap", "sr": "$sr"}}])
    found = {(p.node, p.port) for p in e.value.problems if p.kind == "attrs"}
    assert found == {("d", "mgc"), ("s", "f0"), ("s", "sp"), ("s", "ap")}
    msg = next(p.message for p in e.value.problems if (p.node, p.port) == ("s", "sp"))
    assert "d/sp -> s/sp" in msg and "set at a/sp" in msg and "10.0" in msg
