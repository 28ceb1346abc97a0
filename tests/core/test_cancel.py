"""Cancelling a run: the Session stops between nodes, inline and on its pool, nested graphs too."""
from __future__ import annotations

import threading

import pytest

import modulespack as mp
from modulespack.core import cancel as cancel_mod

MODES = [False, True, "auto"]


@pytest.fixture
def chain(write):
    return write("chain.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: a, module: Record, params: {tag: a}, inputs: {x: $x}}
          - {name: stop, module: CancelRun, inputs: {x: a/y}}
          - {name: b, module: Record, params: {tag: b}, inputs: {x: stop/y}}
        outputs: {y: b/y}
        """)


@pytest.mark.parametrize("parallel", MODES)
def test_a_set_token_runs_no_node(chain, parallel):
    s = mp.Session(chain, parallel=parallel)
    calls = type(s.modules["a"]).calls
    token = mp.CancelToken()
    token.cancel("client gone")
    with pytest.raises(mp.Cancelled, match="client gone") as ei:
        s.run({"x": 1}, cancel=token)
    assert ei.value.reason == "client gone" and calls == []


@pytest.mark.parametrize("parallel", MODES)
def test_the_run_stops_between_nodes_and_its_modules_see_the_token(chain, parallel):
    s = mp.Session(chain, parallel=parallel)
    calls = type(s.modules["a"]).calls
    token = mp.CancelToken()
    with pytest.raises(mp.Cancelled, match="enough"):
        s.run({"x": 1}, cancel=token)
    assert [(tag, tok) for tag, tok, _ in calls] == [("a", token)]   # b never ran
    assert cancel_mod.CURRENT.get() is None                            # reset after the run
    assert s.run({"x": 2}, fetches=["a/y"], cancel=mp.CancelToken())["a/y"] == 2


def test_without_a_token_the_run_takes_the_current_one(chain):
    s = mp.Session(chain)
    token = mp.CancelToken()
    reset = cancel_mod.CURRENT.set(token)
    try:
        with pytest.raises(mp.Cancelled):
            s.run({"x": 1})
    finally:
        cancel_mod.CURRENT.reset(reset)
    assert token.is_set()


@pytest.mark.parametrize("parallel", MODES)
def test_cancelled_inside_a_nested_graph_is_cancelled_outside(write, chain, parallel):
    p = write("outer.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: inner, graph: chain.yaml, inputs: {x: $x}}
          - {name: after, module: Record, params: {tag: after}, inputs: {x: inner/y}}
        """)
    s = mp.Session(p, parallel=parallel)
    with pytest.raises(mp.Cancelled) as ei:
        s.run({"x": 1}, cancel=mp.CancelToken())
    assert not isinstance(ei.value, mp.NodeError)
    assert [c[0] for c in type(s.modules["after"]).calls] == ["a"]


@pytest.mark.parametrize("parallel", MODES)
def test_a_module_that_fails_because_of_the_cancel_gives_cancelled(write, parallel):
    """A subprocess killed by the cancel makes its module raise something else: still Cancelled."""
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: stop, module: CancelRun, params: {then_fail: true}, inputs: {x: $x}}
        """)
    with pytest.raises(mp.Cancelled) as ei:
        mp.Session(p, parallel=parallel).run({"x": 1}, cancel=mp.CancelToken())
    assert isinstance(ei.value.__cause__, RuntimeError)


@pytest.mark.parametrize("parallel", [True, "auto"])
def test_nodes_running_on_the_pool_are_waited_for(write, parallel):
    p = write("fan.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: any}
        nodes:
          - {name: slow, module: Sleep, params: {seconds: 0.3}, inputs: {x: $x}}
          - {name: stop, module: CancelRun, inputs: {x: $x}}
          - {name: after, module: Record, params: {tag: after}, inputs: {x: stop/y}}
        """)
    s = mp.Session(p, parallel=parallel)
    cls = type(s.modules["slow"])
    with pytest.raises(mp.Cancelled):
        s.run({"x": 1}, cancel=mp.CancelToken())
    assert cls.peak == 1 and cls.active == 0   # `slow` ran, and had ended when run() returned
    assert type(s.modules["after"]).calls == []


def test_concurrent_runs_have_their_own_tokens(chain):
    s = mp.Session(chain, parallel=True)
    results = {}

    def go(k):
        try:
            s.run({"x": k}, cancel=mp.CancelToken())
        except mp.Cancelled as e:
            results[k] = e.reason

    threads = [threading.Thread(target=go, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == {k: "enough" for k in range(8)}
    calls = type(s.modules["a"]).calls
    assert len(calls) == 8 and len({id(tok) for _, tok, _ in calls}) == 8
