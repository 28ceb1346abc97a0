"""Finding modules by registered name, dotted path, folder and entry point."""
from __future__ import annotations

import sys
import textwrap

import pytest

import modulespack as mp
from modulespack.core.registry import Registry


def test_registered_name_and_decorator():
    reg = Registry(use_entry_points=False)

    @reg.register("twice")
    class Twice(mp.Module):
        inputs = {"x": mp.Port("int")}
        outputs = {"y": mp.Port("int")}

        def run(self, x):
            return {"y": 2 * x}

    assert reg.resolve("twice") is Twice
    with pytest.raises(TypeError):
        reg.register(object, "nope")


def test_dotted_path_both_spellings():
    reg = Registry()
    assert reg.resolve("modulespack.core.nested:GraphModule") is not None
    with pytest.raises(LookupError, match="unknown module 'no.such.module:X'"):
        reg.resolve("no.such.module:X")


def test_folder_lookup_by_class_and_file_name_without_lasting_syspath(tmp_path):
    d = tmp_path / "mods"
    d.mkdir()
    (d / "helper_lib.py").write_text("FACTOR = 3\n")
    (d / "triple.py").write_text(textwrap.dedent("""
        from helper_lib import FACTOR      # a sibling import, as modulespack2 module folders did
        from modulespack import Module, Port
        class Triple(Module):
            inputs = {"x": Port("int")}
            outputs = {"y": Port("int")}
            def run(self, x):
                return {"y": FACTOR * x}
        """))
    before = list(sys.path)
    reg = Registry(paths=[d])
    cls = reg.resolve("Triple")
    assert reg.resolve("triple") is cls      # file stem works when the file holds one module
    assert cls().run(x=2) == {"y": 6}
    assert sys.path == before
    assert "Triple" in reg.available()


def test_broken_module_file_is_a_clear_error_and_hides_nothing_else(tmp_path):
    d = tmp_path / "mods"
    d.mkdir()
    (d / "broken.py").write_text("import not_a_real_package_xyz\n")
    (d / "good.py").write_text("from modulespack import Module\nclass Good(Module):\n    pass\n")
    reg = Registry(paths=[d])
    with pytest.raises(LookupError, match="broken.py: ModuleNotFoundError.*not_a_real_package_xyz"):
        reg.resolve("Anything")
    assert reg.resolve("Good").__name__ == "Good"
    assert "<files that failed to import>" not in reg.available()


def test_entry_point_modules(tmp_path, monkeypatch):
    pkg = tmp_path / "site"
    (pkg / "extmods").mkdir(parents=True)
    (pkg / "extmods" / "__init__.py").write_text(textwrap.dedent("""
        from modulespack import Module, Port
        class Shout(Module):
            inputs = {"text": Port("str")}
            outputs = {"text": Port("str")}
            def run(self, text):
                return {"text": text.upper()}
        """))
    dist = pkg / "extmods-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extmods\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[modulespack.modules]\nshout = extmods:Shout\n")
    monkeypatch.syspath_prepend(str(pkg))
    reg = Registry()
    assert reg.available()["shout"] == "extmods:Shout"
    cls = reg.resolve("shout")
    assert cls().run(text="hi") == {"text": "HI"}
    g = mp.build_graph(mp.core.spec.parse_graph(
        {"inputs": {"t": "str"}, "nodes": [{"name": "s", "module": "shout", "inputs": {"t": "$t"} and {"text": "$t"}}]}),
        registry=reg)
    assert mp.Session(g).run({"t": "abc"}).outputs == {"s/text": "ABC"}


def test_sibling_helpers_of_two_folders_do_not_shadow_each_other(tmp_path):
    for tag in ("a", "b"):
        d = tmp_path / tag
        d.mkdir()
        (d / "helper_lib.py").write_text(f"VALUE = {tag!r}\n")
        (d / "mod.py").write_text(textwrap.dedent("""
            from helper_lib import VALUE
            from modulespack import Module, Port
            class Which(Module):
                outputs = {"v": Port("str")}
                def run(self):
                    return {"v": VALUE}
            """))
    assert Registry(paths=[tmp_path / "a"]).resolve("Which")().run() == {"v": "a"}
    assert Registry(paths=[tmp_path / "b"]).resolve("Which")().run() == {"v": "b"}
    assert "helper_lib" not in sys.modules
