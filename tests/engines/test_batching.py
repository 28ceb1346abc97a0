"""Dynamic batching: concurrent runs of a node with `batch:` grouped into `run_batch` calls
(`core.batching.Batcher`, used by the Session, so by every engine that runs one)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import modulespack as mp
from modulespack.core.batching import Batcher
from modulespack.core.cancel import CURRENT
from modulespack.core.registry import Registry
from modulespack.core.spec import parse_graph


class Affine(mp.Module):
    """Batchable: y = x @ W + b for a whole batch in one matrix product. A row whose first value
    is negative is refused alone (InputError in its slot); a NaN anywhere fails the batch."""
    inputs = {"x": mp.Port("float32", (None,))}
    outputs = {"y": mp.Port("float32", (None,))}
    batchable = True

    def __init__(self, dim: int = 4):
        rng = np.random.default_rng(0)
        self.w = rng.standard_normal((dim, dim)).astype(np.float32)
        self.b = np.arange(dim, dtype=np.float32)
        self.sizes: list[int] = []
        self.lock = threading.Lock()

    def expected(self, x):
        return x @ self.w + self.b

    def run_batch(self, items):
        with self.lock:
            self.sizes.append(len(items))
        xs = np.stack([it["x"] for it in items])
        if np.isnan(xs).any():
            raise FloatingPointError("NaN in the batch")
        ys = xs @ self.w + self.b
        return [mp.InputError(f"x[0] must not be negative, got {x[0]}", port="x") if x[0] < 0 else {"y": y}
                for x, y in zip(xs, ys)]


class Plain(mp.Module):
    inputs = {"x": mp.Port("float32", (None,))}
    outputs = {"y": mp.Port("float32", (None,))}

    def run(self, x):
        return {"y": x + 1}


def _session(batch=None, **kw) -> mp.Session:
    reg = Registry(use_entry_points=False)
    reg.register(Affine, "affine")
    reg.register(Plain, "plain")
    node = {"name": "f", "module": "affine", "inputs": {"x": "$x"}}
    if batch is not None:
        node["batch"] = batch
    spec = parse_graph({"inputs": {"x": {"dtype": "float32", "shape": [None]}},
                        "nodes": [node, {"name": "p", "module": "plain", "inputs": {"x": "f/y"}}],
                        "outputs": {"y": "p/y"}})
    return mp.Session(mp.build_graph(spec, reg), **kw)


def _concurrently(n, fn):
    """fn(i) on n threads started together; [(result or exception)] in order."""
    barrier = threading.Barrier(n)
    out: list = [None] * n

    def call(i):
        barrier.wait()
        try:
            out[i] = fn(i)
        except Exception as e:
            out[i] = e
    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads)
    return out


def test_sixteen_concurrent_runs_are_batched_and_each_gets_its_own_result():
    # a long wait: the batch fills with all 16 callers long before it ends
    with _session({"max_size": 16, "max_wait_s": 5.0}) as s:
        model = s.modules["f"]
        xs = [np.full(4, i, np.float32) + np.arange(4, dtype=np.float32) / 10 for i in range(16)]
        results = _concurrently(16, lambda i: s.run({"x": xs[i]}))
        for x, r in zip(xs, results):
            assert isinstance(r, mp.Result), r
            np.testing.assert_allclose(r["y"], model.expected(x) + 1, rtol=1e-6)
        assert sum(model.sizes) == 16 and max(model.sizes) > 1
        assert list(s.batchers["f"].sizes) == model.sizes


def test_without_batch_the_module_runs_one_at_a_time_and_no_batcher_is_made():
    with _session() as s:
        assert s.batchers == {}
        _concurrently(4, lambda i: s.run({"x": np.zeros(4, np.float32)}))
        assert s.modules["f"].sizes == [1, 1, 1, 1]  # the default run() gives run_batch one item


def test_an_item_refused_by_run_batch_fails_only_its_own_run():
    with _session({"max_size": 4, "max_wait_s": 5.0}) as s:
        xs = [np.full(4, v, np.float32) for v in (1, -1, 2, 3)]
        results = _concurrently(4, lambda i: s.run({"x": xs[i]}))
        assert s.modules["f"].sizes == [4]
        bad = results[1]
        assert isinstance(bad, mp.NodeInputError) and bad.inputs == ("x",) and bad.node == "f"
        assert "x[0] must not be negative, got -1.0" in str(bad)
        for i in (0, 2, 3):
            np.testing.assert_allclose(results[i]["y"], s.modules["f"].expected(xs[i]) + 1, rtol=1e-6)


def test_run_batch_raising_fails_every_run_of_the_batch():
    with _session({"max_size": 3, "max_wait_s": 5.0}) as s:
        xs = [np.ones(4, np.float32), np.full(4, np.nan, np.float32), np.ones(4, np.float32)]
        results = _concurrently(3, lambda i: s.run({"x": xs[i]}, cancel=None))
        assert all(isinstance(r, mp.NodeError) and "NaN in the batch" in str(r) for r in results), results


class _Gate(mp.Module):
    """run_batch records its items and the current token, then waits for `release` or for that
    token (the batch's) to be set."""
    batchable = True

    def __init__(self):
        self.batches: list[list] = []
        self.tokens: list = []
        self.started = threading.Event()
        self.release = threading.Event()

    def run_batch(self, items):
        from modulespack.core import current_token
        token = current_token()
        self.batches.append([it["x"] for it in items])
        self.tokens.append(token)
        self.started.set()
        while not self.release.wait(0.01):
            token.raise_if_set()
        return [{"y": it["x"] * 10} for it in items]


def _caller(batcher, x, token, results):
    def go():
        CURRENT.set(token)
        try:
            results[x] = batcher.run(x=x)
        except BaseException as e:
            results[x] = e
    t = threading.Thread(target=go)
    t.start()
    return t


def _until(cond):
    for _ in range(3000):
        if cond():
            return
        threading.Event().wait(0.005)
    raise AssertionError("timed out")


def test_cancelled_callers_leave_a_collecting_batch_and_a_leaving_leader_hands_over():
    gate = _Gate()
    gate.release.set()
    b = Batcher(gate, max_size=3, max_wait_s=60)  # only a full batch runs
    tokens = {x: mp.CancelToken() for x in range(5)}
    results: dict = {}
    t0, t1 = _caller(b, 0, tokens[0], results), _caller(b, 1, tokens[1], results)
    _until(lambda: b.waiting() == 2)
    tokens[0].cancel("client left")  # the leader
    t0.join(10)
    assert isinstance(results[0], mp.Cancelled) and b.waiting() == 1
    t2 = _caller(b, 2, tokens[2], results)
    _until(lambda: b.waiting() == 2)
    tokens[2].cancel("time-out")
    t2.join(10)
    assert isinstance(results[2], mp.Cancelled)
    others = [_caller(b, x, tokens[x], results) for x in (3, 4)]
    for t in (t1, *others):
        t.join(10)
    assert gate.batches == [[1, 3, 4]]
    assert {x: results[x] for x in (1, 3, 4)} == {1: {"y": 10}, 3: {"y": 30}, 4: {"y": 40}}
    assert b.waiting() == 0


def test_a_running_batch_is_cancelled_only_when_every_caller_is():
    gate = _Gate()
    b = Batcher(gate, max_size=2, max_wait_s=60)
    tokens = {0: mp.CancelToken(), 1: mp.CancelToken()}
    results: dict = {}
    threads = [_caller(b, 0, tokens[0], results)]
    _until(lambda: b.waiting() == 1)
    threads.append(_caller(b, 1, tokens[1], results))
    assert gate.started.wait(10)
    tokens[1].cancel("client left")  # waits as a follower: leaves at once, its output dropped
    threads[1].join(10)
    assert isinstance(results[1], mp.Cancelled) and not gate.tokens[0].is_set()
    tokens[0].cancel("shutdown")  # the leader, running the batch: now nobody wants it
    threads[0].join(10)
    assert gate.tokens[0].is_set() and isinstance(results[0], mp.Cancelled)


def test_a_cancelled_session_run_leaves_the_batch():
    with _session({"max_size": 2, "max_wait_s": 60}) as s:
        token = mp.CancelToken()
        out: list = []
        t = threading.Thread(target=lambda: out.append(_catch(lambda: s.run({"x": np.ones(4, np.float32)},
                                                                              cancel=token))))
        t.start()
        _until(lambda: s.batchers["f"].waiting() == 1)
        token.cancel("time-out")
        t.join(10)
        assert isinstance(out[0], mp.Cancelled) and s.batchers["f"].waiting() == 0
        assert s.modules["f"].sizes == []


def _catch(fn):
    try:
        return fn()
    except BaseException as e:
        return e


def test_batcher_arguments_are_checked():
    with pytest.raises(ValueError):
        Batcher(_Gate(), max_size=0)


def test_node_hooks_see_each_batched_run_in_its_own_context():
    from modulespack.core.hooks import HOOKS

    class Seen(mp.NodeHooks):
        def __init__(self):
            self.ended: list = []

        def node_ended(self, path, key, seconds, error):
            self.ended.append((path, threading.get_ident(), error))

    with _session({"max_size": 4, "max_wait_s": 5.0}) as s:
        hooks = [Seen() for _ in range(4)]

        def run(i):
            HOOKS.set(hooks[i])
            s.run({"x": np.zeros(4, np.float32)})
            return threading.get_ident()
        idents = _concurrently(4, run)
        assert s.modules["f"].sizes == [4]
        for h, ident in zip(hooks, idents):
            assert h.ended == [("f", ident, None), ("p", ident, None)]
