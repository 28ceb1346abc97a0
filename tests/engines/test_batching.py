"""Dynamic batching: concurrent runs of a node with `batch:` grouped into `run_batch` calls
(`core.batching.Batcher`, used by the Session, so by every engine that runs one)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import modulespack as mp
from modulespack.core.batching import Arrivals, Batcher
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


class Hold(mp.Module):
    """y = x, once `parties` runs are all in it: so that many runs are in flight before any reaches
    the node after it. A run whose x[0] is 99 fails here (after the others have come)."""
    inputs = {"x": mp.Port("float32", (None,))}
    outputs = {"y": mp.Port("float32", (None,))}

    def __init__(self, parties: int = 1):
        self.barrier = threading.Barrier(parties)

    def run(self, x):
        self.barrier.wait(30)
        if x[0] == 99:
            raise RuntimeError("held run fails")
        return {"y": x}


class Plain(mp.Module):
    inputs = {"x": mp.Port("float32", (None,))}
    outputs = {"y": mp.Port("float32", (None,))}

    def run(self, x):
        return {"y": x + 1}


def _session(batch=None, hold=None, **kw) -> mp.Session:
    """$x -> f (Affine, with `batch`) -> p; with `hold`, $x -> hold (Hold of `hold` parties) -> f."""
    reg = Registry(use_entry_points=False)
    reg.register(Affine, "affine")
    reg.register(Plain, "plain")
    reg.register(Hold, "hold")
    node = {"name": "f", "module": "affine", "inputs": {"x": "hold/y" if hold else "$x"}}
    if batch is not None:
        node["batch"] = batch
    before = [{"name": "hold", "module": "hold", "params": {"parties": hold}, "inputs": {"x": "$x"}}] if hold else []
    spec = parse_graph({"inputs": {"x": {"dtype": "float32", "shape": [None]}},
                        "nodes": [*before, node, {"name": "p", "module": "plain", "inputs": {"x": "f/y"}}],
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
    # all 16 runs in flight (held) before any reaches f: its first batch waits for all of them
    with _session({"max_size": 16, "max_wait_s": 60}, hold=16) as s:
        model = s.modules["f"]
        xs = [np.full(4, i, np.float32) + np.arange(4, dtype=np.float32) / 10 for i in range(16)]
        results = _concurrently(16, lambda i: s.run({"x": xs[i]}))
        for x, r in zip(xs, results):
            assert isinstance(r, mp.Result), r
            np.testing.assert_allclose(r["y"], model.expected(x) + 1, rtol=1e-6)
        assert model.sizes == [16] and list(s.batchers["f"].sizes) == model.sizes
        assert s.batchers["f"]._pending == 0


def test_a_run_alone_does_not_wait_for_max_wait_s():
    # as on the local and Ray engines, whose workers run one run at a time: nobody else can join
    with _session({"max_size": 16, "max_wait_s": 60}) as s:
        for v in (1, 2):
            r = s.run({"x": np.full(4, v, np.float32)})
            np.testing.assert_allclose(r["y"], s.modules["f"].expected(np.full(4, v, np.float32)) + 1, rtol=1e-6)
        assert list(s.batchers["f"].reasons) == ["all-joined", "all-joined"]
        assert s.modules["f"].sizes == [1, 1] and s.batchers["f"]._pending == 0


def test_batches_start_when_full_or_when_every_run_in_flight_has_joined():
    with _session({"max_size": 4, "max_wait_s": 60}, hold=10) as s:
        xs = [np.full(4, i, np.float32) for i in range(10)]
        results = _concurrently(10, lambda i: s.run({"x": xs[i]}))
        for x, r in zip(xs, results):
            np.testing.assert_allclose(r["y"], s.modules["f"].expected(x) + 1, rtol=1e-6)
        b = s.batchers["f"]
        assert sorted(b.sizes) == [2, 4, 4] and sum(s.modules["f"].sizes) == 10
        assert sorted(b.reasons) == ["all-joined", "full", "full"]


def test_a_run_failing_before_the_node_is_not_waited_for():
    # both runs are in flight at f's batcher; one fails in `hold`: the other goes without max_wait_s
    with _session({"max_size": 4, "max_wait_s": 60}, hold=2) as s:
        results = _concurrently(2, lambda i: s.run({"x": np.full(4, (1, 99)[i], np.float32)}))
        assert isinstance(results[1], mp.NodeError) and "held run fails" in str(results[1])
        assert isinstance(results[0], mp.Result)
        assert list(s.batchers["f"].reasons) == ["all-joined"] and s.batchers["f"]._pending == 0


def test_only_runs_whose_fetches_need_the_node_are_counted_in_flight_there():
    with _session({"max_size": 4, "max_wait_s": 60}, hold=3) as s:
        hold, b = s.modules["hold"], s.batchers["f"]
        out: list = []
        short = threading.Thread(target=lambda: out.append(s.run({"x": np.ones(4, np.float32)}, fetches=["hold/y"])))
        short.start()
        _until(lambda: hold.barrier.n_waiting == 1)
        assert b._pending == 0  # it stops before f
        full = threading.Thread(target=lambda: out.append(s.run({"x": np.ones(4, np.float32)})))
        full.start()
        _until(lambda: hold.barrier.n_waiting == 2)
        assert b._pending == 1
        hold.barrier.wait(10)  # the third party: both runs go on
        for t in (short, full):
            t.join(10)
        assert len(out) == 2 and list(b.reasons) == ["all-joined"] and b._pending == 0


def test_without_batch_the_module_runs_one_at_a_time_and_no_batcher_is_made():
    with _session() as s:
        assert s.batchers == {}
        _concurrently(4, lambda i: s.run({"x": np.zeros(4, np.float32)}))
        assert s.modules["f"].sizes == [1, 1, 1, 1]  # the default run() gives run_batch one item


def test_an_item_refused_by_run_batch_fails_only_its_own_run():
    with _session({"max_size": 4, "max_wait_s": 60}, hold=4) as s:
        xs = [np.full(4, v, np.float32) for v in (1, -1, 2, 3)]
        results = _concurrently(4, lambda i: s.run({"x": xs[i]}))
        assert s.modules["f"].sizes == [4]
        bad = results[1]
        assert isinstance(bad, mp.NodeInputError) and bad.inputs == ("x",) and bad.node == "f"
        assert "x[0] must not be negative, got -1.0" in str(bad)
        for i in (0, 2, 3):
            np.testing.assert_allclose(results[i]["y"], s.modules["f"].expected(xs[i]) + 1, rtol=1e-6)


def test_run_batch_raising_fails_every_run_of_the_batch_each_with_its_own_exception():
    with _session({"max_size": 3, "max_wait_s": 60}, hold=3) as s:
        xs = [np.ones(4, np.float32), np.full(4, np.nan, np.float32), np.ones(4, np.float32)]
        results = _concurrently(3, lambda i: s.run({"x": xs[i]}, cancel=None))
        assert s.modules["f"].sizes == [3]
        assert all(isinstance(r, mp.NodeError) and str(r) == "node 'f' (Affine): FloatingPointError: NaN in the batch"
                   for r in results), results
        causes = [r.cause for r in results]
        # one exception object raised in three threads would have its traceback rewritten by each
        assert len({id(c) for c in causes}) == 3 and all(type(c) is FloatingPointError for c in causes)
        assert causes[0].__cause__ is causes[1].__cause__ is causes[2].__cause__  # where run_batch failed
        assert all("in run_batch" in r.traceback for r in results)


def test_one_exception_in_several_slots_is_raised_as_a_copy_each():
    class Same(mp.Module):
        batchable = True
        error = mp.InputError("bad", port="x")

        def run_batch(self, items):
            return [self.error] * len(items)

    b = Batcher(Same(), max_size=2, max_wait_s=60)
    results: dict = {}
    threads = [_caller(b, x, None, results) for x in (0, 1)]
    for t in threads:
        t.join(10)
    assert results[0] is not results[1]
    for r in results.values():
        assert type(r) is mp.InputError and str(r) == "bad" and r.port == "x"


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


def test_a_cancelled_leader_gets_cancelled_once_its_batch_has_run():
    gate = _Gate()
    b = Batcher(gate, max_size=2, max_wait_s=60)
    tokens = {0: mp.CancelToken(), 1: mp.CancelToken()}
    results: dict = {}
    t0 = _caller(b, 0, tokens[0], results)
    _until(lambda: b.waiting() == 1)
    t1 = _caller(b, 1, tokens[1], results)
    assert gate.started.wait(10)
    tokens[0].cancel("client left")  # the leader, whose thread runs the batch: it cannot leave now
    assert not gate.tokens[0].is_set()  # the follower still wants its result
    gate.release.set()
    for t in (t0, t1):
        t.join(10)
    assert isinstance(results[0], mp.Cancelled) and results[0].reason == "client left"
    assert results[1] == {"y": 10}


def test_a_cancelled_session_run_leaves_the_batch():
    with _session({"max_size": 2, "max_wait_s": 60}) as s:
        other = Arrivals([s.batchers["f"]])  # another run in flight that will reach f: the batch waits
        token = mp.CancelToken()
        out: list = []
        t = threading.Thread(target=lambda: out.append(_catch(lambda: s.run({"x": np.ones(4, np.float32)},
                                                                              cancel=token))))
        t.start()
        _until(lambda: s.batchers["f"].waiting() == 1)
        token.cancel("time-out")
        t.join(10)
        other.close()
        assert isinstance(out[0], mp.Cancelled) and s.batchers["f"].waiting() == 0
        assert s.modules["f"].sizes == [] and s.batchers["f"]._pending == 0


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

    with _session({"max_size": 4, "max_wait_s": 60}, hold=4) as s:
        hooks = [Seen() for _ in range(4)]

        def run(i):
            HOOKS.set(hooks[i])
            s.run({"x": np.zeros(4, np.float32)})
            return threading.get_ident()
        idents = _concurrently(4, run)
        assert s.modules["f"].sizes == [4]
        for h, ident in zip(hooks, idents):
            assert h.ended == [("hold", ident, None), ("f", ident, None), ("p", ident, None)]
