"""Original modulespack2 module files (``from module import Module, ModuleDesc, InputDesc, OutputDesc``)
load unchanged from a ModuleLibPath folder, and loading them leaves sys.path and a user's own
package named ``module`` as they were."""
from __future__ import annotations

import shutil
import sys
import textwrap
import types
from pathlib import Path

import pytest

import modulespack as mp
from modulespack.compat import InputDesc, ModuleDesc, ModuleGraph, Session
from modulespack.compat import Module as Mp2Module
from modulespack.core.registry import Registry

from mp2_helpers import HERE

ORIGINAL_LIB = HERE / "mp2_original" / "ModuleLib"


@pytest.fixture(autouse=True)
def module_entry():
    """Tests here import a user's package named `module`: take it out of sys.modules afterwards."""
    before = sys.modules.get("module")
    yield
    if before is None:
        sys.modules.pop("module", None)
    else:
        sys.modules["module"] = before


@pytest.fixture
def lib(tmp_path) -> Path:
    """A fresh copy of the original-style folder, so that its files are imported in this test."""
    return Path(shutil.copytree(ORIGINAL_LIB, tmp_path / "ModuleLib"))


def _readme_program(graph_file: Path, lib_path: Path) -> dict:
    # the program of the modulespack2 README, with only its import lines changed
    graph = ModuleGraph(JsonFile=str(graph_file))
    sess = Session(ModuleLibPath=str(lib_path))
    feed_dic = {'firstadd': {'x1': 1, 'x2': 2}}
    ModuleTable, toposort = sess.build_graph(graph)  # noqa: N806 (the README's names)
    return sess.run(fetches=toposort, ModuleTable=ModuleTable, graph=graph, feed_dict=feed_dic)


def test_original_files_run_rmse_graph(any_graphs, lib):
    assert "module" not in sys.modules
    path_before = list(sys.path)
    assert _readme_program(any_graphs / "RMSE_graph.json", lib) == {'y': 10}
    assert sys.path == path_before
    assert "module" not in sys.modules  # modulespack2's package was never put there


def test_the_repository_folder_runs_unchanged(graphs):
    assert _readme_program(graphs / "RMSE_graph.json", ORIGINAL_LIB) == {'y': 10}


def test_original_files_through_the_core_api(graphs, lib):
    built = mp.build_graph(graphs / "RMSE_graph.json", registry=Registry(paths=[lib]))
    with mp.Session(built) as sess:
        assert sess.run({"firstadd.x1": 1, "firstadd.x2": 2}).outputs == {"y": 10}
    divide = Registry(paths=[lib]).resolve("divide")
    assert divide().run(x1=6.0, x2=3.0) == {"y": 2.0, "z": 6.0}


def test_a_users_module_package_is_untouched(graphs, lib, monkeypatch):
    user = types.ModuleType("module")
    user.helper = "the user's"
    monkeypatch.setitem(sys.modules, "module", user)
    # a file of the folder that sees, while it is imported, what sys.modules holds
    (lib / "spy.py").write_text(textwrap.dedent("""
        import sys
        from module import Module
        SEEN = sys.modules.get("module")
        """))
    assert _readme_program(graphs / "RMSE_graph.json", lib) == {'y': 10}
    assert sys.modules["module"] is user
    assert vars(user).keys() == {"__name__", "__doc__", "__package__", "__loader__", "__spec__", "helper"}
    spy = next(m for n, m in sys.modules.items() if n.startswith("_modulespack_lib_") and n.endswith("_spy"))
    assert spy.SEEN is user  # not replaced even while the folder's files ran
    assert spy.Module is Mp2Module


def test_other_names_come_from_the_users_package(tmp_path, monkeypatch):
    """`from module import <not an mp2 name>` is a normal import, in the same folder, at import and
    at run time; `from module import Module` is modulespack2's, also when imported late."""
    pkg = tmp_path / "site" / "module"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("helper = 41\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "plus_helper.py").write_text(textwrap.dedent("""
        from module import Module, ModuleDesc, InputDesc, OutputDesc
        from module import helper

        class plus_helper(Module):
            @staticmethod
            def make_module_description():
                return ModuleDesc({'x': InputDesc('np.float32', (None,))},
                                  {'y': OutputDesc('np.float32', (None,))})

            @staticmethod
            def run(inputs):
                from module.module_desc import OutputDesc as late   # modulespack2's, at run time
                from module import helper as again                  # the user's, at run time
                return {'y': inputs['x'] + helper + again, 'late': late}
        """))
    cls = Registry(paths=[lib]).resolve("plus_helper")
    out = cls().run(x=1)
    assert out["y"] == 83
    assert out["late"].__module__ == "modulespack.compat.module"
    import module  # the user's package, imported normally
    assert module.helper == 41 and not hasattr(module, "Module")


def test_bare_import_module_without_a_user_package(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "bare.py").write_text(textwrap.dedent("""
        import module

        class bare(module.Module):
            @staticmethod
            def make_module_description():
                return module.ModuleDesc({'x': module.InputDesc('np.float32', (None,))},
                                         {'y': module.OutputDesc('np.float32', (None,))})

            @staticmethod
            def run(inputs):
                return {'y': inputs['x'] * 2}
        """))
    assert "module" not in sys.modules
    assert Registry(paths=[lib]).resolve("bare")().run(x=4) == {"y": 8}
    assert "module" not in sys.modules


def test_files_outside_module_folders_get_nothing():
    with pytest.raises(ModuleNotFoundError):
        import module  # noqa: F401
    assert isinstance(ModuleDesc({}, {}), ModuleDesc) and InputDesc(float, ()).datashape == ()


TWICE = """
from module import Module, ModuleDesc, InputDesc, OutputDesc
from add import add
from userpkg import WHOSE  # not a file of the folder: the user's package
import numpy as np


class twice(Module):
    @staticmethod
    def make_module_description():
        return ModuleDesc({'x': InputDesc(np.float32, (None,))}, {'y': OutputDesc(np.float32, (None,))})

    @staticmethod
    def run(inputs):
        import multiply  # a sibling imported at run time, when the folder is on no sys.path
        return {'y': add.run({'x1': inputs['x'], 'x2': inputs['x']})['y'], 'mul': multiply.multiply,
                'whose': WHOSE}
"""


def test_files_import_original_style_siblings(lib, tmp_path, monkeypatch):
    """`from add import add` in a folder file gets the folder's add.py, prepared like every folder
    file (its own `from module import Module` works), run once, and found ahead of a user's
    package of that name (the folder was on sys.path in modulespack2); other names are normal imports."""
    site = tmp_path / "site"
    (site / "add").mkdir(parents=True)
    (site / "add" / "__init__.py").write_text("WHOSE = 'the user'\n")
    (site / "multiply").mkdir()
    (site / "multiply" / "__init__.py").write_text("WHOSE = 'the user'\n")
    (site / "userpkg").mkdir()
    (site / "userpkg" / "__init__.py").write_text("WHOSE = 'the user'\n")
    monkeypatch.syspath_prepend(str(site))
    (lib / "twice.py").write_text(TWICE)
    path_before = list(sys.path)
    reg = Registry(paths=[lib])
    twice = reg.resolve("twice")
    assert sys.path == path_before
    out = twice().run(x=3)
    assert out["y"] == 6 and out["whose"] == "the user"
    assert sys.path == path_before
    # the sibling modules are the folder's files as the registry loaded them: each ran once
    assert twice.mp2_class.run.__globals__["add"] is reg.resolve("add").mp2_class
    assert out["mul"] is reg.resolve("multiply").mp2_class
    try:
        import add  # outside the folder, the user's package
        assert add.WHOSE == "the user"
    finally:
        for name in ("add", "userpkg"):
            sys.modules.pop(name, None)
    assert "module" not in sys.modules and "multiply" not in sys.modules
