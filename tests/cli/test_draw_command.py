"""`modulespack draw`: DOT on stdout, files by suffix (.dot, .svg, .png, .mmd), --format, errors."""
from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import pytest

from cli_helpers import ARITH, NESTED, run, write_graph


def test_draw_dot_to_stdout(capsys):
    code, out, _ = run(capsys, "draw", ARITH)
    assert code == 0 and out.startswith('digraph "arith"') and '"n:sum"' in out


@pytest.mark.parametrize("suffix", [".dot", ".svg", ".png", ".mmd"])
def test_draw_to_files(capsys, tmp_path, suffix):
    if suffix in (".svg", ".png"):
        import shutil
        if shutil.which("dot") is None:
            pytest.skip("Graphviz 'dot' is not installed")
    target = tmp_path / f"nested{suffix}"
    code, out, err = run(capsys, "draw", NESTED, "-o", target)
    assert code == 0, err
    assert os.listdir(tmp_path) == [target.name]
    data = target.read_bytes()
    if suffix == ".dot":
        text = data.decode()
        assert "subgraph \"cluster_" in text and text.count("cluster_") == 2
    elif suffix == ".mmd":
        text = data.decode()
        assert text.startswith("flowchart") and text.count("subgraph ") == 2
    elif suffix == ".svg":
        ET.fromstring(data)
        text = data.decode()
        for name in ("pre", "block", "post", "minus", "inner", "add", "twice"):
            assert name in text
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")


def test_draw_format_option_and_errors(capsys, tmp_path):
    code, out, _ = run(capsys, "draw", ARITH, "--format", "mermaid")
    assert code == 0 and out.startswith("flowchart LR")
    code, _, err = run(capsys, "draw", ARITH, "-o", tmp_path / "x.gif")
    assert code == 2 and "format" in err
    bad = write_graph(tmp_path / "bad.yaml", """\
        module_paths: [{modules}]
        nodes:
          - {name: s, module: Nope}
        """)
    code, _, err = run(capsys, "draw", bad)
    assert code == 1 and "unknown module 'Nope'" in err and "--no-check" in err
    code, out, _ = run(capsys, "draw", bad, "--no-check")
    assert code == 0 and 'label="s\\nNope"' in out
