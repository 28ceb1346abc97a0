"""Engine options of a node in graph files (`batch:`, `resources:`, `deploy:`) and the module
contract behind them (`batchable`, `resources`, `run_batch`)."""
from __future__ import annotations

import numpy as np

import modulespack as mp
from modulespack.core.module import RESOURCE_DEFAULTS


def _options(problems):
    return [p for p in problems if p.kind == "node-option"]


def test_options_are_parsed_normalized_and_merged_with_the_class(write):
    g = mp.build_graph(write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes:
          - name: d
            module: Doubler
            inputs: {x: $x}
            batch: {max_size: 4}
            resources: {num_cpus: 2}
            deploy: {replicas: 2}
          - {name: i, module: Inc, inputs: {x: {value: 1}}}
          - {name: b, module: Doubler, inputs: {x: d/y}, batch: true}
        outputs: {y: d/y}
        """))
    d = g.nodes["d"]
    assert d.batch == {"max_size": 4, "max_wait_s": 0.01}
    # the class says num_gpus and memory, the file num_cpus, the rest are defaults
    assert d.resources == {**RESOURCE_DEFAULTS, "num_gpus": 0.5, "memory_mb": 100, "num_cpus": 2}
    # a deployment takes the node's resources and batching unless it says otherwise
    assert d.deploy == {"replicas": 2, "num_cpus": 2, "num_gpus": 0.5, "memory_mb": 100,
                        "max_batch_size": 4, "batch_wait_s": 0.01}
    assert g.nodes["b"].batch == {"max_size": 8, "max_wait_s": 0.01}
    i = g.nodes["i"]
    assert (i.batch, i.deploy, i.resources) == (None, None, dict(RESOURCE_DEFAULTS))


def test_bad_values_and_keys_are_problems_naming_node_key_and_line(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes:
          - name: d
            module: Doubler
            inputs: {x: $x}
            batch:
              max_size: 0
              max_wait_s: -1
              size: 3
            resources: {num_cpus: -2, gpus: 1, needs_processes: "yes", memory_mb: 1.5}
            deploy: {replicas: 0, batch_wait_s: fast}
          - {name: e, module: Doubler, inputs: {x: d/y}, resources: lots, batch: [8]}
        outputs: {y: e/y}
        """)
    found = {(x.node, x.message.split(":", 1)[0], x.line) for x in _options(problems_of(p))}
    assert found == {
        ("d", "'batch.max_size'", 9), ("d", "'batch.max_wait_s'", 10), ("d", "'batch.size'", 11),
        ("d", "'resources.num_cpus'", 12), ("d", "'resources.gpus'", 12),
        ("d", "'resources.needs_processes'", 12), ("d", "'resources.memory_mb'", 12),
        ("d", "'deploy.replicas'", 13), ("d", "'deploy.batch_wait_s'", 13),
        ("e", "'resources'", 14), ("e", "'batch'", 14),
    }
    text = "\n".join(str(x) for x in problems_of(p))
    assert "'batch.max_size': must be >= 1, got 0" in text
    assert "'batch.max_wait_s': must not be negative, got -1" in text
    assert "'batch.size': unknown key (keys: max_size, max_wait_s)" in text
    assert "'resources.needs_processes': expected true or false, got 'yes'" in text
    assert "'resources': expected a mapping with keys num_cpus, num_gpus, memory_mb, needs_processes" in text


def test_batch_on_a_module_that_cannot_take_one(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes:
          - {name: a, module: Inc, inputs: {x: $x}, batch: {max_size: 4}}
          - {name: b, module: Inc, inputs: {x: a/y}, deploy: {max_batch_size: 4}}
          - {name: c, module: Inc, inputs: {x: b/y}, batch: false, deploy: {replicas: 3}}
        outputs: {y: c/y}
        """)
    probs = _options(problems_of(p))
    assert [(x.node, x.line) for x in probs] == [("a", 5), ("b", 6)]
    assert "'batch': module Inc cannot take a batch (its class does not set batchable = True)" in str(probs[0])
    assert "'deploy.max_batch_size': module Inc cannot take a batch" in str(probs[1])


def test_a_class_declaring_unknown_resources_is_a_problem(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes: [{name: g, module: Greedy, inputs: {x: $x}}]
        """)
    (prob,) = _options(problems_of(p))
    assert prob.node == "g" and "module Greedy declares resources {'cpus': 4}: unknown key" in prob.message


def test_unknown_node_key_names_the_new_keys(write, problems_of):
    p = write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes: [{name: a, module: Inc, inputs: {x: $x}, batching: {max_size: 2}}]
        """)
    (prob,) = problems_of(p)
    assert "unknown node key 'batching'" in prob.message and "batch, resources, deploy" in prob.message


def test_options_round_trip_through_yaml_and_json(write, tmp_path):
    spec = mp.load_graph(write("g.yaml", """
        module_paths: ["{lib}"]
        inputs: [x]
        nodes:
          - {name: d, module: Doubler, inputs: {x: $x}, batch: {max_size: 4, max_wait_s: 0.5},
             resources: {num_cpus: 1.5, needs_processes: true}, deploy: {replicas: 2, max_batch_size: 4}}
          - {name: e, module: Doubler, inputs: {x: d/y}, batch: true}
        outputs: {y: e/y}
        """))
    assert spec.to_dict()["nodes"][0]["batch"] == {"max_size": 4, "max_wait_s": 0.5}
    for suffix in (".yaml", ".json"):
        again = mp.load_graph(mp.save_graph(spec, tmp_path / f"saved{suffix}"))
        assert again.to_dict() == spec.to_dict()
        built = mp.build_graph(again)
        assert built.nodes["d"].deploy["replicas"] == 2 and built.nodes["d"].resources["needs_processes"]
        assert built.nodes["e"].batch == {"max_size": 8, "max_wait_s": 0.01}


def test_a_nested_graph_node_needs_what_its_nodes_need(write):
    write("inner.yaml", """
        module_paths: ["{lib}"]
        inputs: {x: {dtype: float32, shape: [null]}}
        nodes:
          - {name: a, module: Doubler, inputs: {x: $x}, resources: {num_cpus: 2, memory_mb: 300}}
          - {name: b, module: Doubler, inputs: {x: a/y}, resources: {needs_processes: true}}
        outputs: {y: b/y}
        """)
    g = mp.build_graph(write("outer.yaml", """
        inputs: [x]
        nodes:
          - {name: n, graph: inner.yaml, inputs: {x: $x}}
          - {name: m, graph: inner.yaml, inputs: {x: n/y}, resources: {num_cpus: 1}}
        outputs: {y: m/y}
        """))
    assert g.nodes["n"].resources == {"num_cpus": 2, "num_gpus": 0.5, "memory_mb": 400, "needs_processes": True}
    assert g.nodes["m"].resources["num_cpus"] == 1


def test_run_batch_defaults_to_run_and_run_to_run_batch():
    class One(mp.Module):
        inputs = {"x": mp.Port("int")}
        outputs = {"y": mp.Port("int")}

        def run(self, x):
            return {"y": x + 1}

    class Many(mp.Module):
        inputs = {"x": mp.Port("int")}
        outputs = {"y": mp.Port("int")}
        batchable = True

        def run_batch(self, items):
            return [{"y": x["x"] * 10} if x["x"] >= 0 else mp.InputError("negative", port="x") for x in items]

    assert One().run_batch([{"x": 1}, {"x": 2}]) == [{"y": 2}, {"y": 3}]
    assert not One.batchable and One.resources == {}
    assert Many().run(x=3) == {"y": 30}
    try:
        Many().run(x=-1)
    except mp.InputError as e:
        assert e.port == "x"
    else:
        raise AssertionError("the item's InputError was not raised")


def test_function_module_can_be_batchable_and_declare_resources():
    calls = []

    @mp.module(outputs={"y": mp.Port("float32", (None,))}, batchable=True, resources={"num_gpus": 1})
    def scale(x: np.ndarray, k: float = 2.0, *, bias: float = 0.0):
        """Gets every run's x (and k) as lists."""
        calls.append(len(x))
        return list(np.stack(x) * np.array(k, np.float32)[:, None] + bias)

    m = scale(bias=1.0)
    assert scale.batchable and scale.resources == {"num_gpus": 1}
    outs = m.run_batch([{"x": np.ones(3, np.float32)}, {"x": np.zeros(3, np.float32), "k": 5.0}])
    np.testing.assert_array_equal(outs[0]["y"], [3, 3, 3])
    np.testing.assert_array_equal(outs[1]["y"], [1, 1, 1])
    np.testing.assert_array_equal(m.run(x=np.ones(2, np.float32), k=3.0)["y"], [4, 4])
    assert calls == [2, 1]
    assert scale.optional_inputs({}) == {"k"}
