"""The modulespack2 module API and its adapter to core Modules."""
from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

import modulespack as mp
from modulespack.compat import (DescMismatch, InputDesc, LegacyModule, Module, ModuleDesc, ModuleFactory,
                                ModuleGraph, OutputDesc, Session, Stop, adapt)
from modulespack.compat.module import mp2_dtype
from modulespack.core.registry import ADAPTERS, as_module_class
from modulespack.core.spec import FORMATS


def test_importing_modulespack_registers_format_and_adapter():
    from modulespack.compat.format import convert, is_mp2
    assert (is_mp2, convert) in FORMATS
    assert adapt in ADAPTERS
    # registering twice adds nothing
    from modulespack.compat.format import register_format
    from modulespack.compat.module import register_adapter
    register_format()
    register_adapter()
    assert FORMATS.count((is_mp2, convert)) == 1 and ADAPTERS.count(adapt) == 1


def test_descs_are_hashable_named_tuples():
    d = InputDesc(datatype=np.float32, datashape=[None])
    assert d == (np.float32, (None,)) and d.datashape == (None,) and hash(d) == hash((np.float32, (None,)))
    assert InputDesc("string", (None,)) == OutputDesc("string", (None,))  # what mp2's CheckDesc compared
    md = ModuleDesc({"a": d, "b": d}, {"y": OutputDesc(np.int32, (2, 3))})
    assert md.input_names() == ["a", "b"] and md.output_names() == ["y"]
    assert md.get_inputs_desc()["a"] is d and md.get_outputs_desc()["y"].datashape == (2, 3)
    with pytest.raises(ValueError, match="InputDesc can't be None"):
        ModuleDesc(None, {})


def test_dtype_mapping():
    assert [mp2_dtype(t) for t in (np.float32, "np.float32", "numpy.int16", "string", "list", "{}", "HttpRequest",
                                   int, "float64")] == \
        ["float32", "float32", "int16", "str", "list", "dict", "any", "int", "float64"]


def test_registry_adapts_a_module_folder(registry):
    cls = registry.resolve("minus")
    assert issubclass(cls, mp.Module) and issubclass(cls, LegacyModule)
    assert cls.__name__ == "minus" and cls.mp2_class.__name__ == "minus"
    assert issubclass(cls.mp2_class, Module)
    assert cls.check_outputs is False
    # run-time ports accept anything (mp2 fed Python ints to float32 ports) ...
    assert {k: (p.dtype, p.shape) for k, p in cls.inputs.items()} == {"x1": ("any", None), "x2": ("any", None)}
    assert {k: (p.dtype, p.shape) for k, p in cls.outputs.items()} == {"y": ("any", None)}
    assert cls.inputs["x1"].doc == "modulespack2: float32 (None,)"
    # ... the declared types are kept for display
    assert cls.declared_inputs == {"x1": mp.Port("float32", (None,)), "x2": mp.Port("float32", (None,))}
    assert cls.declared_outputs == {"y": mp.Port("float32", (None,))}
    assert adapt(cls.mp2_class) is cls                       # adapting twice gives the same class
    assert as_module_class(cls.mp2_class) is cls
    # file stems resolve too, as mp2 imported the file named like the module
    assert registry.resolve("Mfcc").declared_outputs["seq_len"] == mp.Port("int32", (None, 1))
    assert registry.resolve("RequestHandler").declared_inputs["request"] == mp.Port("any", (None,))
    # the mp2 class's docstring is the module's description
    assert registry.resolve("AM_serving").describe().startswith("Stand-in for the Django app's `AM_serving`")


def test_adapted_module_runs_with_keyword_inputs(registry):
    cls = registry.resolve("divide")
    m = cls()
    assert m.run(x1=6, x2=4) == {"y": 1.5, "z": 6}
    assert cls.param_problems({"k": 1})                     # mp2 modules take no parameters
    assert cls.param_problems({}) == []


MODULES = '''
import numpy as np
from modulespack.compat import Module, ModuleDesc, InputDesc, OutputDesc

class Counter(Module):
    """An mp2 module with instance methods (not staticmethods) and state set in __init__."""
    def __init__(self):
        self.step = 10
    def make_module_description(self):
        return ModuleDesc({'x': InputDesc(np.int64, (None,))}, {'y': OutputDesc(np.int64, (None,))})
    def run(self, inputs):
        return {'y': inputs['x'] + self.step}

class Text(Module):
    @staticmethod
    def make_module_description():
        return ModuleDesc({'x': InputDesc('string', (None,))}, {'y': OutputDesc('string', (None,))})
    @staticmethod
    def run(inputs):
        return {'y': str(inputs['x'])}

class Liar(Module):
    @staticmethod
    def make_module_description():
        return ModuleDesc({'x': InputDesc(np.int64, (None,))}, {'y': OutputDesc(np.int64, (None,))})
    @staticmethod
    def run(inputs):
        return [inputs['x']]

class NoDesc(Module):
    @staticmethod
    def make_module_description():
        return {'x': 1}
    @staticmethod
    def run(inputs):
        return {}
'''


@pytest.fixture
def lib(tmp_path):
    d = tmp_path / "lib"
    d.mkdir()
    (d / "mods.py").write_text(textwrap.dedent(MODULES))
    return d


def graph_file(tmp_path, nodes, name="g.json"):
    p = tmp_path / name
    p.write_text(json.dumps({"version": {"nodeNum": len(nodes)}, "node": nodes}))
    return p


def test_instance_method_modules(tmp_path, lib):
    p = graph_file(tmp_path, [
        {"startNode": "True", "name": "c", "module": "Counter", "input": {"x": "None"}, "output": {"y": 0}},
        {"name": "d", "module": "Counter", "input": {"x": "c/y"}, "output": {"y": 0}}])
    graph = ModuleGraph(JsonFile=p)
    sess = Session(ModuleLibPath=lib)
    table, order = sess.build_graph(graph)
    assert sess.run(order, table, graph, {"c": {"x": 1}}) == {"y": 21}
    assert table["c"]["module_instance"].step == 10


def test_desc_mismatch_is_found_at_build(tmp_path, lib):
    p = graph_file(tmp_path, [
        {"startNode": "True", "name": "t", "module": "Text", "input": {"x": "None"}, "output": {"y": ""}},
        {"name": "c", "module": "Counter", "input": {"x": "t/y"}, "output": {"y": 0}}])
    with pytest.raises(DescMismatch) as e:
        Session(ModuleLibPath=lib).build_graph(ModuleGraph(JsonFile=p))
    assert isinstance(e.value, Stop) and isinstance(e.value, mp.GraphError)   # mp2 raised Stop
    [prob] = e.value.problems
    assert (prob.file, prob.node, prob.port, prob.kind) == (str(p), "c", "x", "dtype")
    assert "'string'" in prob.message and "int64" in prob.message
    # the core API does not check mp2 descriptions (its ports are "any"), so the graph builds there
    mp.build_graph(p, registry=mp.Registry(paths=[lib]))


def test_module_returning_a_non_dict_fails_with_its_node(tmp_path, lib):
    p = graph_file(tmp_path, [
        {"startNode": "True", "name": "liar", "module": "Liar", "input": {"x": "None"}, "output": {"y": 0}}])
    graph = ModuleGraph(JsonFile=p)
    sess = Session(ModuleLibPath=lib)
    table, order = sess.build_graph(graph)
    with pytest.raises(mp.NodeError) as e:
        sess.run(order, table, graph, {"liar": {"x": 1}})
    assert e.value.node == "liar" and "dict-like" in str(e.value)


def test_bad_description_is_a_build_problem(tmp_path, lib):
    p = graph_file(tmp_path, [
        {"startNode": "True", "name": "n", "module": "NoDesc", "input": {"x": "None"}, "output": {}}])
    with pytest.raises(mp.GraphError) as e:
        mp.build_graph(p, registry=mp.Registry(paths=[lib]))
    [prob] = e.value.problems
    assert prob.node == "n" and "must return a ModuleDesc" in prob.message


def test_module_factory_instance(tmp_path):
    twice = ModuleFactory(
        make_module_description=lambda self: ModuleDesc({"x": InputDesc(np.float32, (None,))},
                                                        {"y": OutputDesc(np.float32, (None,))}),
        run=lambda inputs: {"y": inputs["x"] * 2})
    reg = mp.Registry()
    reg.register(twice, "twice")
    p = graph_file(tmp_path, [
        {"startNode": "True", "name": "a", "module": "twice", "input": {"x": "None"}, "output": {"y": 0}},
        {"name": "b", "module": "twice", "input": {"x": "a/y"}, "output": {"y": 0}}])
    assert mp.Session(p, registry=reg).run({"a.x": 3}).outputs == {"y": 12}


def test_base_classes_are_not_modules():
    assert adapt(Module) is None and adapt(ModuleFactory) is None and adapt(int) is None and adapt(object()) is None
