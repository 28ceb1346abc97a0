"""`modulespack run`: inputs and fetches, printed and JSON results, errors, tracebacks on request."""
from __future__ import annotations

import json

from cli_helpers import ARITH, NESTED, run, write_graph


def test_run_with_inputs_and_fetches(capsys):
    code, out, err = run(capsys, "run", ARITH, "--input", "a=1", "--input", "b=2")
    assert code == 0, err
    lines = dict(line.split(None, 1) for line in out.splitlines())
    assert lines["result"] == "1.0"  # (1 + 2) * 3 - 8, ints converted for the float inputs
    assert lines["doubled"] == "6.0"

    code, out, err = run(capsys, "run", ARITH, "-i", "a=1", "-i", "b=2", "--fetch", "sum/y",
                         "--fetch", "result", "--timings")
    assert code == 0, err
    assert "sum/y" in out and "3.0" in out and "result" in out
    assert "doubled" not in out
    assert "timings:" in out and " ms" in out and "minus" in out
    assert "double " not in out  # only the nodes the fetches need ran


def test_run_json(capsys):
    code, out, _ = run(capsys, "run", NESTED, "-i", "a=1", "-i", "b=2", "--json", "--timings",
                       "--fetch", "result", "--fetch", "block/scaled")
    assert code == 0
    doc = json.loads(out)
    assert doc["outputs"] == {"result": 47.0, "block/scaled": 24.0}
    assert set(doc["timings_ms"]) == {"pre", "block", "post"}


def test_run_missing_input_is_named(capsys):
    code, out, err = run(capsys, "run", ARITH, "--input", "a=1")
    assert code == 2
    assert "'b'" in err and err.startswith("error:") and "Traceback" not in err


def test_run_bad_values_and_fetches(capsys):
    code, _, err = run(capsys, "run", ARITH, "-i", "a=hello", "-i", "b=2")
    assert code == 2 and "graph input 'a'" in err and "expected float" in err
    code, _, err = run(capsys, "run", ARITH, "-i", "a=1", "-i", "b=2", "--fetch", "sum/nope")
    assert code == 2 and "sum/nope" in err
    code, _, err = run(capsys, "run", ARITH, "-i", "a1")
    assert code == 2 and "NAME=VALUE" in err
    code, _, err = run(capsys, "run", ARITH, "-i", "a=@missing.wav", "-i", "b=1")
    assert code == 2 and "missing.wav" in err and "Traceback" not in err


def test_run_invalid_graph_prints_problems(capsys, tmp_path):
    g = write_graph(tmp_path / "g.yaml", """\
        module_paths: [{modules}]
        nodes:
          - {name: s, module: Scale, inputs: {x: nowhere/y}}
        """)
    code, out, err = run(capsys, "run", g)
    assert code == 1 and "node 's': port 'x'" in err and "Traceback" not in err


def test_run_node_error_shows_traceback_only_when_asked(capsys, tmp_path, gain_graph):
    g = write_graph(tmp_path / "boom.yaml", """\
        module_paths: [.]
        inputs: {x: float}
        nodes:
          - {name: bang, module: Boom, inputs: {x: $x}}
        outputs: {y: bang/y}
        """)
    code, out, err = run(capsys, "run", g, "-i", "x=1")
    assert code == 1
    assert err.startswith("error: node 'bang' (Boom): ZeroDivisionError: cannot divide 1.0")
    assert "Traceback" not in err and "--traceback" in err
    code, out, err = run(capsys, "run", g, "-i", "x=1", "--traceback")
    assert code == 1 and "Traceback" in err and "deep_helper" in err


REFUSE_MODULE = '''
from modulespack import InputError, Module, Port

class NonEmpty(Module):
    inputs = {"text": Port("str")}
    outputs = {"n": Port("int")}

    def run(self, text):
        if not text.strip():
            raise InputError("empty text (nothing to count)", port="text")
        return {"n": len(text)}
'''


def test_run_input_refused_by_a_module_is_a_usage_error(capsys, tmp_path):
    (tmp_path / "refuse.py").write_text(REFUSE_MODULE)
    g = write_graph(tmp_path / "count.yaml", """\
        module_paths: [.]
        inputs: {words: str}
        nodes:
          - {name: count, module: NonEmpty, inputs: {text: $words}}
        outputs: {n: count/n}
        """)
    code, out, err = run(capsys, "run", g, "-i", "words=   ")
    assert code == 2, err
    assert err.startswith("error: graph input 'words': empty text (nothing to count)"), err
    assert "Traceback" not in err and "--traceback" not in err
    code, out, err = run(capsys, "run", g, "-i", "words=three", "--json")
    assert code == 0 and '"n": 5' in out
