"""The modulespack2 program runs unchanged on the compat Session; the same graphs run on the new API."""
from __future__ import annotations

import copy
import sys
import threading

import pytest

import modulespack as mp
from modulespack.compat import ModuleGraph, ModuleTable, Session, Stop
from modulespack.core.errors import NodeError


def rmse(x1, x2):
    s = x1 + x2
    return s * (2 * s) - 8


def test_seed_readme_program(graphs, mp2_modules):
    # the program from the modulespack2 README, with only the import lines changed
    graph = ModuleGraph(JsonFile=str(graphs / "RMSE_graph.json"))
    sess = Session(ModuleLibPath=str(mp2_modules))
    feed_dic = {'firstadd': {'x1': 1, 'x2': 2}}
    ModuleTable, toposort = sess.build_graph(graph)  # noqa: N806 (the README's names)
    result = sess.run(fetches=toposort, ModuleTable=ModuleTable, graph=graph, feed_dict=feed_dic)
    assert result == {'y': 10}
    assert toposort == ['firstadd', 'secondadd', 'multiply', 'minus']
    assert str(mp2_modules) not in sys.path


def test_test_json_runs_rmse_as_a_module(graphs, mp2_modules):
    # test.py of modulespack2: one node, RMSE, which runs RMSE_graph.json inside itself
    graph = ModuleGraph(JsonFile=graphs / "test.json")
    sess = Session(ModuleLibPath=mp2_modules)
    table, toposort = sess.build_graph(graph)
    assert toposort == ['RMSE']
    assert sess.run(fetches=toposort, ModuleTable=table, graph=graph,
                    feed_dict={'RMSE': {'x1': 1, 'x2': 2}}) == {'y': 10}
    assert sess.run(fetches=toposort, ModuleTable=table, graph=graph,
                    feed_dict={'RMSE': {'x1': 2, 'x2': 5}}) == {'y': rmse(2, 5)}


def test_run_is_a_static_method_as_in_mp2(graphs, mp2_modules):
    graph = ModuleGraph(JsonFile=graphs / "RMSE_graph.json")
    table, order = Session(ModuleLibPath=mp2_modules).build_graph(graph)
    assert Session.run(order, table, graph, {'firstadd': {'x1': 3, 'x2': 4}}) == {'y': rmse(3, 4)}


def test_module_table_contents(graphs, mp2_modules):
    graph = ModuleGraph(JsonFile=graphs / "RMSE_graph.json")
    table, order = Session(ModuleLibPath=mp2_modules).build_graph(graph)
    assert isinstance(table, ModuleTable) and list(table) == order
    row = table['minus']
    assert row['module_name'] == 'minus'
    assert type(row['module_instance']).__name__ == 'minus'
    assert row['module_desc'].input_names() == ['x1', 'x2']
    assert row['module_desc'].output_names() == ['y']
    assert row['output'] is None
    # each node has its own instance
    assert table['firstadd']['module_instance'] is not table['secondadd']['module_instance']
    # the mp2 Django app deep-copied the table per request: that still works and shares the modules
    assert copy.deepcopy(table) is table
    sess_result = Session.run(order, copy.deepcopy(table), graph, {'firstadd': {'x1': 1, 'x2': 2}})
    assert sess_result == {'y': 10}
    assert table['minus']['output'] is None     # runs leave nothing behind in the shared table


def test_fetches_choose_the_node_whose_outputs_come_back(graphs, mp2_modules):
    graph = ModuleGraph(JsonFile=graphs / "RMSE_graph.json")
    table, order = Session(ModuleLibPath=mp2_modules).build_graph(graph)
    feed = {'firstadd': {'x1': 1, 'x2': 2}}
    assert Session.run(['firstadd', 'secondadd'], table, graph, feed) == {'y': 6}
    assert Session.run('firstadd', table, graph, feed) == {'y': 3}


def test_new_api_runs_the_same_graph(graphs, registry):
    sess = mp.Session(graphs / "RMSE_graph.json", registry=registry)
    feeds = {'firstadd.x1': 1, 'firstadd.x2': 2}
    assert sess.run(feeds, fetches=['minus/y'])['minus/y'] == 10
    assert sess.run(feeds).outputs == {'y': 10}          # default fetch: the last node's outputs
    res = sess.run(feeds, fetches=['secondadd/y'])
    assert res.outputs == {'secondadd/y': 6}
    assert set(res.timings) == {'firstadd', 'secondadd'}  # multiply and minus did not run
    full = sess.run(feeds, fetches=['minus/y'])
    assert set(full.timings) == {'firstadd', 'secondadd', 'multiply', 'minus'}


def test_new_api_runs_test_json(graphs, registry):
    with mp.Session(graphs / "test.json", registry=registry) as sess:
        assert sess.run({'RMSE.x1': 1, 'RMSE.x2': 2}).outputs == {'y': 10}


def test_session_on_a_file_path_and_on_a_spec(graphs, mp2_modules):
    sess = Session(ModuleLibPath=mp2_modules)
    table, order = sess.build_graph(str(graphs / "RMSE_graph.json"))
    assert Session.run(order, table, feed_dict={'firstadd': {'x1': 1, 'x2': 2}}) == {'y': 10}
    spec = mp.load_graph(graphs / "RMSE_graph.json")
    table, order = sess.build_graph(spec)
    assert Session.run(order, table, spec, {'firstadd': {'x1': 1, 'x2': 2}}) == {'y': 10}


def test_concurrent_runs_share_nothing(graphs, mp2_modules):
    graph = ModuleGraph(JsonFile=graphs / "RMSE_graph.json")
    sess = Session(ModuleLibPath=mp2_modules)
    table, order = sess.build_graph(graph)
    n_threads, rounds = 16, 25
    barrier = threading.Barrier(n_threads)
    errors: list[str] = []
    done = [0] * n_threads

    def worker(i):
        barrier.wait()
        for r in range(rounds):
            x1, x2 = i, r * 3 + 1
            got = sess.run(fetches=order, ModuleTable=table, graph=graph, feed_dict={'firstadd': {'x1': x1, 'x2': x2}})
            if got != {'y': rmse(x1, x2)}:
                errors.append(f"thread {i} round {r}: {got} != {rmse(x1, x2)}")
            done[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:5]
    assert done == [rounds] * n_threads


def test_concurrent_runs_of_a_graph_inside_a_module(graphs, mp2_modules):
    graph = ModuleGraph(JsonFile=graphs / "test.json")
    sess = Session(ModuleLibPath=mp2_modules)
    table, order = sess.build_graph(graph)
    results: dict[int, dict] = {}

    def worker(i):
        results[i] = sess.run(fetches=order, ModuleTable=table, graph=graph, feed_dict={'RMSE': {'x1': i, 'x2': 1}})

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: {'y': rmse(i, 1)} for i in range(16)}


# --- mp2's error cases: Stop ----------------------------------------------------------------------

def test_session_needs_module_lib_path(tmp_path):
    with pytest.raises(Stop, match="ModuleLibPath must be specified"):
        Session()
    with pytest.raises(Stop, match="not a folder"):
        Session(ModuleLibPath=tmp_path / "missing")


def test_module_graph_needs_a_file():
    with pytest.raises(Stop, match="JsonFile"):
        ModuleGraph()


@pytest.fixture
def rmse_table(graphs, mp2_modules):
    graph = ModuleGraph(JsonFile=graphs / "RMSE_graph.json")
    table, order = Session(ModuleLibPath=mp2_modules).build_graph(graph)
    return graph, table, order


def test_feed_dict_must_be_a_dict(rmse_table):
    graph, table, order = rmse_table
    with pytest.raises(Stop, match="feed_dict must be a dict-like object"):
        Session.run(order, table, graph, [('firstadd', {'x1': 1, 'x2': 2})])
    with pytest.raises(Stop, match="feed_dict must be a dict-like object"):
        Session.run(order, table, graph, {'firstadd': (1, 2)})


@pytest.mark.parametrize("feed, message", [
    ({}, "missing graph input.*firstadd.x1"),
    ({'firstadd': {'x1': 1}}, "missing graph input.*firstadd.x2"),
    ({'firstadd': {'x1': 1, 'x2': 2, 'x3': 3}}, "'x3'.*no input of start node 'firstadd'"),
    ({'firstadd': {'x1': 1, 'x2': 2}, 'minus': {'x2': 1}}, "'minus' is not a startNode"),
    ({'fristadd': {'x1': 1, 'x2': 2}}, "'fristadd', which is no node"),
])
def test_bad_feeds_stop_with_a_reason(rmse_table, feed, message):
    graph, table, order = rmse_table
    with pytest.raises(Stop, match=message):
        Session.run(order, table, graph, feed)


def test_bad_fetches_and_tables_stop(rmse_table, graphs):
    graph, table, order = rmse_table
    feed = {'firstadd': {'x1': 1, 'x2': 2}}
    with pytest.raises(Stop, match="fetches is empty"):
        Session.run([], table, graph, feed)
    with pytest.raises(Stop, match="'nowhere', which is no node"):
        Session.run(['firstadd', 'nowhere'], table, graph, feed)
    with pytest.raises(Stop, match="ModuleTable must be the table"):
        Session.run(order, dict(table), graph, feed)
    with pytest.raises(Stop, match="not the graph this ModuleTable was built from"):
        Session.run(order, table, ModuleGraph(JsonFile=graphs / "test.json"), feed)
    # the same file loaded again is the same graph
    assert Session.run(order, table, ModuleGraph(JsonFile=graphs / "RMSE_graph.json"), feed) == {'y': 10}


def test_a_failing_module_names_its_node(tmp_path, mp2_modules):
    p = tmp_path / "div.json"
    p.write_text('''{"version": {"nodeNum": 2}, "node": [
      {"startNode": "True", "name": "div", "module": "divide", "input": {"x1": "None", "x2": "None"},
       "output": {"y": 0, "z": 0}},
      {"name": "plus", "module": "add", "input": {"x1": "div/y", "x2": "div/z"}, "output": {"y": 0}}]}''')
    graph = ModuleGraph(JsonFile=p)
    sess = Session(ModuleLibPath=mp2_modules)
    table, order = sess.build_graph(graph)
    assert sess.run(order, table, graph, {'div': {'x1': 6, 'x2': 3}}) == {'y': 8.0}
    with pytest.raises(NodeError) as e:
        sess.run(order, table, graph, {'div': {'x1': 1, 'x2': 0}})
    assert e.value.node == 'div' and isinstance(e.value.cause, ZeroDivisionError)
    assert "ZeroDivisionError" in e.value.traceback
