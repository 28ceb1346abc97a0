"""The Session: fetch subsets, concurrency, parallel branches, errors and run-time checks."""
from __future__ import annotations

import os
import threading
import traceback

import numpy as np
import pytest

import modulespack as mp


@pytest.fixture
def chain(write):
    return write("chain.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: int}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}}
          - {name: b, module: Inc, inputs: {x: a/y}}
          - {name: c, module: AddK, params: {bias: 10}, inputs: {x: b/y, k: a/y}}
          - {name: side, module: Inc, inputs: {x: $x}}
        outputs: {out: c/y, side: side/y}
        """)


def test_run_returns_outputs_and_timings(chain):
    with mp.Session(chain) as s:
        r = s.run({"x": 1})
    # a=2, b=3, c = 3 + 2 + 10
    assert r.outputs == {"out": 15, "side": 2}
    assert set(r.timings) == {"a", "b", "c", "side"}
    assert all(t >= 0 for t in r.timings.values()) and r.seconds >= max(r.timings.values())


def test_only_the_nodes_a_fetch_needs_run(chain):
    s = mp.Session(chain)
    r = s.run({"x": 5}, fetches=["b/y"])
    assert r.outputs == {"b/y": 7} and set(r.timings) == {"a", "b"}
    r = s.run({"x": 5}, fetches="side")
    assert r.outputs == {"side": 6} and set(r.timings) == {"side"}


def test_feed_errors_name_the_input(chain):
    s = mp.Session(chain)
    with pytest.raises(mp.FeedError, match="missing graph input.*'x'"):
        s.run({})
    with pytest.raises(mp.FeedError, match="unknown graph input.*'y'"):
        s.run({"x": 1, "y": 2})
    with pytest.raises(mp.FeedError, match="graph input 'x': expected int, got str") as ei:
        s.run({"x": "one"})
    assert ei.value.port == "x"
    with pytest.raises(mp.FeedError, match="cannot fetch 'nope/y'"):
        s.run({"x": 1}, fetches=["nope/y"])
    with pytest.raises(mp.FeedError, match="node 'a' has outputs y"):
        s.run({"x": 1}, fetches=["a/q"])


def test_many_threads_one_session_each_gets_its_own_answer(chain):
    s = mp.Session(chain, parallel=True)
    errors, results = [], {}
    barrier = threading.Barrier(16)

    def worker(k: int) -> None:
        try:
            barrier.wait()
            for i in range(200):
                x = k * 1000 + i
                r = s.run({"x": x})
                results[(k, i)] = (x, r.outputs["out"], r.outputs["side"])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(results) == 16 * 200
    for x, out, side in results.values():
        assert out == (x + 2) + (x + 1) + 10 and side == x + 1


def test_independent_branches_run_concurrently(write, lib):
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: s1, module: Sleep, params: {seconds: 0.2}, inputs: {x: $x}}
          - {name: s2, module: Sleep, params: {seconds: 0.2}, inputs: {x: $x}}
        outputs: {a: s1/y, b: s2/y}
        """)
    s = mp.Session(p, parallel="auto", max_workers=4)
    cls = type(s.modules["s1"])
    cls.peak = 0
    r = s.run({"x": "v"})
    assert r.outputs == {"a": "v", "b": "v"}
    assert cls.peak == 2    # both ran at once; how much faster that is, bench/parallel.py measures
    s_seq = mp.Session(p, parallel=False)
    cls.peak = 0
    s_seq.run({"x": "v"})
    assert cls.peak == 1


def test_auto_mode_runs_cheap_nodes_inline_after_learning(write):
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: a, module: Record, params: {tag: a}, inputs: {x: $x}}
          - {name: b, module: Record, params: {tag: b}, inputs: {x: $x}}
          - {name: c, module: Record, params: {tag: c}, inputs: {x: $x}}
        """)
    s = mp.Session(p, parallel="auto")
    s.run({"x": 1})          # first run: costs unknown, judged heavy
    assert set(s.cost) == {"a", "b", "c"}
    s.cost = {n: 0.0 for n in s.cost}   # cheap, whatever this machine measured
    calls = type(s.modules["a"]).calls
    calls.clear()
    s.run({"x": 1})          # the next run of the same plan knows it
    assert [t for _, _, t in calls] == [threading.get_ident()] * 3


def test_module_exception_names_node_and_keeps_traceback(write):
    p = write("boom.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: first, module: Sleep, params: {seconds: 0}, inputs: {x: $x}}
          - {name: kaboom, module: Boom, inputs: {x: first/y}}
        """)
    for parallel in (False, True):
        s = mp.Session(p, parallel=parallel)
        with pytest.raises(mp.NodeError) as ei:
            s.run({"x": 7})
        e = ei.value
        assert e.node == "kaboom" and e.module == "Boom"
        assert isinstance(e.cause, ZeroDivisionError)
        assert "node 'kaboom' (Boom): ZeroDivisionError: cannot handle 7" in str(e)
        assert "helper_that_fails" in e.traceback  # the module's own frames survive
        assert "helper_that_fails" in "".join(traceback.format_exception(e))


@pytest.mark.parametrize("kind, message", [
    ("dtype", "output 'y': expected dtype float32, got float64 array"),
    ("rank", "output 'y': expected rank 1"),
    ("extra", "undeclared output(s) ['z']"),
    ("missing", "no value for declared output(s) ['y']"),
    ("list", "must return a dict"),
])
def test_runtime_output_check(write, kind, message):
    p = write("liar.yaml", f"""
        module_paths: ["{{lib}}"]
        inputs: {{x: any}}
        nodes:
          - {{name: liar, module: Liar, params: {{kind: {kind}}}, inputs: {{x: $x}}}}
        """)
    with pytest.raises(mp.NodeError) as ei:
        mp.Session(p).run({"x": 1})
    assert ei.value.node == "liar" and message in str(ei.value)


def test_runtime_check_can_be_switched_off(write):
    p = write("liar.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: liar, module: Liar, params: {kind: dtype}, inputs: {x: $x}}
        """)
    r = mp.Session(p, check=False).run({"x": 1})
    assert r.outputs["liar/y"].dtype == np.float64
    # a missing output is an error even unchecked: it cannot be delivered
    p2 = write("liar2.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: liar, module: Liar, params: {kind: missing}, inputs: {x: $x}}
        """)
    with pytest.raises(mp.NodeError, match="liar"):
        mp.Session(p2, check=False).run({"x": 1})


def test_graph_without_outputs_fetches_everything_and_defaults(write):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs:
          x: {dtype: int, default: 41}
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}}
          - {name: k, module: AddK, inputs: {x: a/y}}
        """)
    s = mp.Session(p)
    assert s.run().outputs == {"a/y": 42, "k/y": 42}
    assert s.run({"x": 0}).outputs == {"a/y": 1, "k/y": 1}


def test_errors_survive_pickling_for_process_engines(write):
    import pickle
    p = write("boom.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: kaboom, module: Boom, inputs: {x: $x}}
        """)
    with pytest.raises(mp.NodeError) as ei:
        mp.Session(p).run({"x": 1})
    e = pickle.loads(pickle.dumps(ei.value))
    assert (e.path, e.module, str(e)) == (ei.value.path, "Boom", str(ei.value))
    assert "helper_that_fails" in e.traceback and isinstance(e.cause, ZeroDivisionError)
    fe = pickle.loads(pickle.dumps(mp.FeedError("bad x", port="x")))
    assert (str(fe), fe.port) == ("bad x", "x")
    ge = pickle.loads(pickle.dumps(mp.GraphError([mp.Problem("m", node="n")])))
    assert ge.problems[0].node == "n"


def test_input_defaults_take_the_port_type_and_bad_ones_fail_the_build(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs:
          wav: {dtype: float32, shape: [null], default: [0.5, 0.25]}
        nodes:
          - {name: m, module: Mel, inputs: {wav: $wav}}
          - {name: l, module: Liar, inputs: {x: $wav}}
        """)
    s = mp.Session(p)
    assert s.graph.defaults["wav"].dtype == np.float32
    assert s.run(fetches=["m/mel"])["m/mel"].shape == (0, 80)
    bad = write("bad.yaml", """
        module_paths: ["{lib}"]
        inputs:
          n: {dtype: int, default: seven}
        nodes:
          - {name: a, module: Inc, inputs: {x: $n}}
        """)
    (pr,) = problems_of(bad)
    assert pr.port == "n" and "default 'seven'" in pr.message


def test_path_parameters_are_relative_to_the_graph_file(write, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "m.txt").write_text("weights")
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: m, module: NeedsModel, params: {path: {path: models/m.txt}}, inputs: {x: $x}}
        """)
    import os
    cwd = os.getcwd()
    os.chdir("/")
    try:
        assert mp.Session(p).run({"x": 0})["m/y"] == "weights"
    finally:
        os.chdir(cwd)
    assert mp.load_graph(p).node("m").params == {"path": {"path": "models/m.txt"}}  # the file keeps its form


def test_scalar_ports_without_shape_take_numpy_scalars_and_dict_subclasses_pass(write):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs:
          g: {dtype: float32, default: 0.5}
        nodes:
          - {name: o, module: Ordered, inputs: {x: $g}}
        """)
    s = mp.Session(p)
    assert s.run().outputs == {"o/y": np.float32(0.5)}
    assert s.run({"g": np.float32(2)}).outputs == {"o/y": 2.0}


def test_callers_run_the_last_heavy_node_themselves_so_threads_are_not_capped_by_the_pool(write):
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: s1, module: Sleep, params: {seconds: 0.1}, inputs: {x: $x}}
          - {name: s2, module: Sleep, params: {seconds: 0.1}, inputs: {x: $x}}
        outputs: {a: s1/y, b: s2/y}
        """)
    s = mp.Session(p, parallel=True, max_workers=1)
    cls = type(s.modules["s1"])
    cls.peak = 0
    threads = [threading.Thread(target=s.run, args=({"x": i},)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    # one pool thread plus the four callers: more than the pool alone could run
    assert cls.peak >= 3


def test_auto_mode_notices_nodes_that_became_slow(write):
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: s1, module: Sleep, params: {seconds: 0}, inputs: {x: $x}}
          - {name: s2, module: Sleep, params: {seconds: 0}, inputs: {x: $x}}
        outputs: {a: s1/y, b: s2/y}
        """)
    s = mp.Session(p)
    for _ in range(5):
        s.run({"x": 0})
    assert max(s.cost.values()) < 1e-3
    s.modules["s1"].seconds = s.modules["s2"].seconds = 0.02   # the work got heavier
    cls = type(s.modules["s1"])
    for _ in range(130):
        s.run({"x": 0})
    cls.peak = 0
    s.run({"x": 0})
    assert cls.peak == 2


def test_context_variables_reach_modules_on_the_pool(write):
    import contextvars
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: s1, module: Sleep, params: {seconds: 0.01}, inputs: {x: $x}}
          - {name: s2, module: Sleep, params: {seconds: 0.01}, inputs: {x: $x}}
        """)
    var = contextvars.ContextVar("request", default=None)
    s = mp.Session(p, parallel=True)
    seen = {}
    for name in ("s1", "s2"):
        orig = s.modules[name].run
        s.modules[name].run = (lambda orig, name: lambda x: (seen.__setitem__(name, (var.get(), threading.get_ident())), orig(x))[1])(orig, name)
    var.set("req-42")
    s.run({"x": 1})
    assert {v[0] for v in seen.values()} == {"req-42"}
    assert len({v[1] for v in seen.values()}) == 2  # one of them did run on a pool thread


def test_latency_bound_branches_are_not_capped_at_the_core_count(write):
    """Branches waiting on sleeps, sockets or subprocesses: by default all of them run at once."""
    n = 2 * (os.cpu_count() or 1) + 2
    nodes = "\n".join(f"  - {{name: g{i}, module: Gate, params: {{parties: {n}}}, inputs: {{x: $x}}}}"
                      for i in range(n))
    p = write("gates.yaml", f"""
module_paths: ["{{lib}}"]
inputs: {{x: any}}
nodes:
{nodes}
""")
    for parallel in ("auto", True):  # Gate passes only when all n wait at its barrier together
        r = mp.Session(p, parallel=parallel).run({"x": 1})
        assert len(r.outputs) == n


def test_the_caller_runs_work_the_busy_pool_has_not_started(write):
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: s1, module: Sleep, params: {seconds: 0}, inputs: {x: $x}}
          - {name: s2, module: Sleep, params: {seconds: 0}, inputs: {x: $x}}
          - {name: s3, module: Sleep, params: {seconds: 0}, inputs: {x: $x}}
        """)
    s = mp.Session(p, parallel=True, max_workers=1)
    release = threading.Event()
    blocker = s._pool_executor().submit(release.wait, 30)   # the only pool thread is busy
    done = []
    t = threading.Thread(target=lambda: done.append(s.run({"x": 1}).outputs))
    t.start()
    t.join(10)
    release.set()
    blocker.result(10)
    assert done == [{"s1/y": 1, "s2/y": 1, "s3/y": 1}]
