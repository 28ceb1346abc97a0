"""Diagrams: DOT and Mermaid text for flat and nested graphs, and rendering through Graphviz."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import modulespack as mp
from modulespack import draw
from modulespack.draw import GraphvizError, render, to_dot, to_mermaid

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ARITH = EXAMPLES / "graphs" / "arith.yaml"
NESTED = EXAMPLES / "graphs" / "nested_demo.yaml"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' is not installed")


def test_dot_shows_inputs_nodes_edges_constants_outputs():
    dot = to_dot(mp.build_graph(ARITH))
    assert dot.startswith('digraph "arith" {') and dot.rstrip().endswith("}")
    assert '"in:a" [shape=ellipse label="a\\nfloat"' in dot
    assert '"n:sum" [shape=box' in dot and 'label="sum\\nAdd"' in dot
    assert 'label="triple\\nScale"' in dot
    assert '"n:sum" -> "n:triple" [label="y -> x"]' in dot
    assert '"in:a" -> "n:sum" [label="a"]' in dot
    assert '"c:minus:b" [shape=note' in dot and 'label="8"' in dot
    assert '"out:result" [shape=ellipse' in dot and '"n:minus" -> "out:result" [label="y"]' in dot
    assert "cluster" not in dot


def test_dot_of_spec_and_of_path():
    spec = mp.load_graph(ARITH)
    dot = to_dot(spec)
    assert 'label="minus\\nSubtract"' in dot and '"n:triple" -> "n:minus"' in dot
    assert to_dot(str(ARITH)) == to_dot(mp.build_graph(ARITH))
    with pytest.raises(TypeError):
        to_dot(42)


def test_nested_graphs_are_clusters_two_levels_deep():
    dot = to_dot(mp.build_graph(NESTED))
    assert dot.count("subgraph \"cluster_") == 2
    assert 'label="block\\ngraph: parts/combine.yaml"' in dot
    assert 'label="inner\\ngraph: sum_scale.yaml"' in dot
    # the innermost nodes sit inside both clusters, with ids made unique by their path
    assert '"block/inner/n:add"' in dot and '"block/inner/n:twice"' in dot
    # an edge into the nested node goes to the inner graph's input, an edge out of it from its output
    assert '"n:pre" -> "block/in:a" [label="y -> a"]' in dot
    assert '"block/out:diff" -> "n:post" [label="diff -> a"]' in dot
    assert '"block/inner/out:out" -> "block/n:minus" [label="out -> a"]' in dot
    # the same picture comes from the unbuilt spec (nested files loaded for drawing)
    spec_dot = to_dot(mp.load_graph(NESTED))
    assert spec_dot.count("subgraph \"cluster_") == 2 and '"block/inner/n:add"' in spec_dot


def test_mermaid_flat_and_nested():
    mm = to_mermaid(mp.build_graph(ARITH))
    assert mm.startswith("flowchart LR\n")
    assert '["sum<br/>Add"]' in mm and "subgraph" not in mm
    assert '-->|"y -#gt; x"|' in mm  # '>' is written as an entity inside labels
    assert '>"8"]' in mm  # the constant as a flag-shaped note
    nested = to_mermaid(mp.build_graph(NESTED))
    assert nested.count("subgraph ") == 2 and nested.count("\n  end\n") == 1 and nested.count("    end\n") == 1
    assert '"block: graph parts/combine.yaml"' in nested and '["add<br/>Add"]' in nested
    # every node and subgraph id is a plain identifier, whatever the node names are
    decl = re.compile(r"^\s*(subgraph )?[A-Za-z0-9_]+(\[|\(\[|>)")
    edge = re.compile(r"^\s*[A-Za-z0-9_]+ (-->|-\.->)\|\"[^\"]*\"\| [A-Za-z0-9_]+$")
    for line in nested.splitlines()[1:]:
        assert line.strip() == "end" or decl.match(line) or edge.match(line), line


def test_timings_are_shown_in_ms():
    g = mp.build_graph(NESTED)
    with mp.Session(g) as s:
        res = s.run({"a": 1.0, "b": 2.0})
    dot = to_dot(g, timings={**res.timings, "block > minus": 0.0125})
    assert "ms" in dot
    assert 'label="minus\\nSubtract\\n12.50 ms"' in dot
    assert "12.50 ms" in to_mermaid(g, timings={"block > minus": 0.0125})


def test_awkward_names_are_quoted(tmp_path: Path):
    (tmp_path / "g.yaml").write_text(textwrap.dedent(f"""\
        module_paths: [{EXAMPLES / 'modules'}]
        inputs: {{'a "quoted" \\\\ in': float}}
        nodes:
          - name: 'x"y'
            module: Scale
            inputs: {{x: '$a "quoted" \\\\ in'}}
          - name: end
            module: Subtract
            inputs: {{a: 'x"y/y', b: {{value: '<b>&"'}}}}
        outputs: {{out: end/y}}
        """))
    spec = mp.load_graph(tmp_path / "g.yaml")
    dot = to_dot(spec)
    assert '"n:x\\"y"' in dot and '\\\\' in dot
    mm = to_mermaid(spec)
    assert "#quot;" in mm and "#lt;b#gt;" in mm and '<b>' not in mm


@needs_dot
def test_render_svg_and_png():
    dot = to_dot(mp.build_graph(NESTED))
    svg = render(dot, "svg")
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")
    text = svg.decode()
    for name in ("pre", "post", "minus", "add", "twice"):
        assert f">{name}<" in text
    png = render(dot, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


@needs_dot
def test_render_reports_dot_errors():
    with pytest.raises(GraphvizError, match="failed"):
        render("digraph { this is not dot", "svg")
    with pytest.raises(ValueError, match="unknown image format"):
        render("digraph {}", "gif")


def test_render_without_graphviz_names_the_package(monkeypatch):
    monkeypatch.setattr(draw.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizError, match="graphviz") as ei:
        render("digraph {}", "svg")
    assert "apt-get install graphviz" in str(ei.value)


def test_draw_imports_nothing_heavy():
    code = ("import sys, modulespack.draw; "
            "print(sorted(m for m in ('scipy', 'yaml', 'numpy') if m in sys.modules))")
    # modulespack's package __init__ loads core (numpy, yaml); draw itself adds nothing beyond it
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "scipy" not in out
