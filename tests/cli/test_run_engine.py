"""`modulespack run --engine`: the same graph in a worker process gives the same outputs, exit codes
and error messages as on the default thread engine."""
from __future__ import annotations

import json

from cli_helpers import ARITH, run, write_graph


def test_run_on_the_local_engine_matches_the_thread_engine(capsys):
    outs = {}
    for engine in ("thread", "local"):
        code, out, err = run(capsys, "run", ARITH, "-i", "a=1", "-i", "b=2", "--json", "--engine", engine)
        assert code == 0, err
        outs[engine] = json.loads(out)["outputs"]
    assert outs["local"] == outs["thread"] == {"result": 1.0, "doubled": 6.0}


def test_errors_on_the_local_engine_are_the_cores(capsys, tmp_path, gain_graph):
    code, out, err = run(capsys, "run", ARITH, "-i", "a=1", "--engine", "local")
    assert code == 2 and "'b'" in err and err.startswith("error:")          # a FeedError, as on threads
    g = write_graph(tmp_path / "boom.yaml", """\
        module_paths: [.]
        inputs: {x: float}
        nodes:
          - {name: bang, module: Boom, inputs: {x: $x}}
        outputs: {y: bang/y}
        """)
    code, out, err = run(capsys, "run", g, "-i", "x=1", "--engine", "local", "--traceback")
    assert code == 1 and err.startswith("error: node 'bang' (Boom): ZeroDivisionError: cannot divide 1.0")
    assert "deep_helper" in err                                              # the worker's traceback came back


def test_an_unknown_engine_is_a_usage_error(capsys):
    code, out, err = run(capsys, "run", ARITH, "--engine", "fork")
    assert code == 2 and "invalid choice: 'fork'" in err
