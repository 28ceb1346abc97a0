"""`modulespack modules`: the modules of a folder with their ports, as text and JSON, broken files named."""
from __future__ import annotations

import json
import textwrap

from cli_helpers import MODULES, run


def test_modules_lists_ports(capsys):
    code, out, err = run(capsys, "modules", "--path", MODULES)
    assert code == 0, err
    assert f"{MODULES / 'arith.py'}:" in out
    lines = out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.strip().startswith("Add"))
    assert "y = a + b" in lines[i]
    assert lines[i + 1].split() == ["in:", "a:", "float,", "b:", "float"]
    assert lines[i + 2].split() == ["out:", "y:", "float"]
    assert "x1: float32 [*]" in out  # RMSE's array ports
    assert "b?: float" in out  # Subtract's optional input


def test_modules_json_and_broken_files(capsys, tmp_path):
    (tmp_path / "good.py").write_text(textwrap.dedent('''
        from modulespack import Module, Port
        class Mel(Module):
            """Mel spectrogram."""
            inputs = {"wav": Port("float32", (None,))}
            outputs = {"mel": Port("float32", (None, "n_mels"))}
        '''))
    (tmp_path / "broken.py").write_text("import no_such_package_here\n")
    code, out, err = run(capsys, "modules", "--path", tmp_path, "--json")
    assert code == 0, err
    entries = {e["name"]: e for e in json.loads(out) if e["source"].startswith(str(tmp_path))}
    assert entries["Mel"]["inputs"] == {"wav": {"dtype": "float32", "shape": [None]}}
    assert entries["Mel"]["outputs"]["mel"]["shape"] == [None, "n_mels"]
    assert entries["Mel"]["description"] == "Mel spectrogram."
    assert "no_such_package_here" in entries["broken"]["error"]
    code, out, _ = run(capsys, "modules", "--path", tmp_path)
    assert code == 0 and "broken" in out and "ERROR" in out and "Traceback" not in out
