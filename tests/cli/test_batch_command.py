"""`modulespack batch`: features.yaml over flite utterances; failures file and exit status; resume
after the batch process is killed with SIGKILL."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cli_helpers import EXAMPLES, run

FEATURES = EXAMPLES / "graphs" / "features.yaml"
TEXTS = ["the cat sat.", "a red boat.", "one two three.", "good morning.", "it is late.", "open the door.",
         "blue sky.", "we went home."]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """8 short flite utterances in wav/, and all.lst naming them."""
    if shutil.which("flite") is None:
        pytest.skip("flite is not installed")
    root = tmp_path_factory.mktemp("cli_batch")
    (root / "wav").mkdir()
    names = [f"utt{i}" for i in range(len(TEXTS))]
    for name, text in zip(names, TEXTS):
        subprocess.run(["flite", "-voice", "slt", "-t", text, "-o", str(root / "wav" / f"{name}.wav")],
                       check=True, capture_output=True, timeout=60)
    (root / "all.lst").write_text("\n".join(names) + "\n")
    return root


def batch_args(corpus: Path, out: Path, *extra) -> list:
    return ["batch", FEATURES, "--list", corpus / "all.lst", "--input", f"wav={corpus}/wav/{{name}}.wav",
            "--output", f"mgc={out}/mgc/{{name}}.mgc", "--output", f"f0={out}/f0/{{name}}.f0", "--quiet", *extra]


def test_batch_writes_raw_features_and_summarises(capsys, corpus, tmp_path):
    code, out, err = run(capsys, *batch_args(corpus, tmp_path, "--workers", "2"))
    assert code == 0, err
    assert "done 8, skipped 0, failed 0" in out and "audio hours per wall hour" in out
    mgc = np.fromfile(tmp_path / "mgc" / "utt0.mgc", dtype="<f4")
    f0 = np.fromfile(tmp_path / "f0" / "utt0.f0", dtype="<f4")
    assert mgc.size == f0.size * 25 and f0.size > 50            # [frames, 25] and [frames], 5 ms frames
    assert not (tmp_path / "failures.tsv").exists()
    code, out, _ = run(capsys, *batch_args(corpus, tmp_path, "--workers", "1"))
    assert code == 0 and "done 0, skipped 8, failed 0" in out


def test_failing_utterances_go_to_the_failures_file_and_the_status_is_1(capsys, corpus, tmp_path):
    wav = tmp_path / "wav"
    shutil.copytree(corpus / "wav", wav)
    (wav / "broken.wav").write_bytes(b"")
    lst = tmp_path / "some.lst"
    lst.write_text("utt0\nbroken\n# a comment\nmissing\nutt1\n")
    failures = tmp_path / "report" / "bad.tsv"
    code, out, err = run(capsys, "batch", FEATURES, "--list", lst, "--input", f"wav={wav}/{{name}}.wav",
                         "--input", "sr=16000", "--output", f"mgc={tmp_path}/out/{{name}}.mgc",
                         "--failures", failures, "--quiet", "--workers", "1")
    assert code == 1
    assert "done 2, skipped 0, failed 2" in out and str(failures) in out
    lines = failures.read_text().splitlines()
    assert [ln.split("\t")[0] for ln in lines] == ["broken", "missing"]
    assert "broken.wav" in lines[0] and "empty file" in lines[0]
    assert "missing.wav: no such file" in lines[1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["utt0.mgc", "utt1.mgc"]


@pytest.mark.parametrize("argv, message", [
    (["--input", "nope=x/{name}.wav"], "no input 'nope'"),
    (["--output", "mgc=all.mgc"], "needs {name}"),
    (["--output", "nothing=o/{name}.f32"], "no output 'nothing'"),
])
def test_bad_templates_are_usage_errors(capsys, corpus, tmp_path, argv, message):
    args = ["batch", FEATURES, "--list", corpus / "all.lst", "--input", "wav=w/{name}.wav",
            "--output", "f0=o/{name}.f0", *argv]
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err


def test_a_name_twice_in_the_list_is_a_usage_error(capsys, corpus, tmp_path):
    lst = tmp_path / "twice.lst"
    lst.write_text("utt0\nutt1\nutt0\n")
    code, _, err = run(capsys, "batch", FEATURES, "--list", lst, "--input", f"wav={corpus}/wav/{{name}}.wav",
                       "--output", f"f0={tmp_path}/{{name}}.f0")
    assert code == 2 and "more than once" in err and "utt0" in err
    assert not list(tmp_path.glob("*.f0"))


def test_resume_after_kill_9_redoes_only_unfinished_utterances(capsys, corpus, tmp_path):
    argv = [str(a) for a in batch_args(corpus, tmp_path, "--workers", "1")]
    tmp = tmp_path / "tmp"   # the workers' temporary folders: none may be left
    tmp.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "modulespack.cli", *argv], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TMPDIR": str(tmp)})
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp_path / "f0").glob("*.f0"))) < 2 and proc.poll() is None:
            assert time.monotonic() < deadline, "the batch wrote nothing in 2 minutes"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        # its orphaned workers see the pipe close, and leave by themselves, removing their folders
        deadline = time.monotonic() + 30
        while list(tmp.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)   # only if they did not leave
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL, "the batch ended before it was killed"
    assert list(tmp.iterdir()) == []
    finished = sorted(p.stem for p in (tmp_path / "f0").glob("*.f0") if (tmp_path / "mgc" / f"{p.stem}.mgc").exists())
    assert 1 <= len(finished) < 8
    for p in [*(tmp_path / "f0").glob("*.f0"), *(tmp_path / "mgc").glob("*.mgc")]:
        assert p.stat().st_size > 0 and p.stat().st_size % (4 * (25 if p.suffix == ".mgc" else 1)) == 0
    stamps = {p: p.stat().st_mtime_ns for n in finished for p in (tmp_path / "f0" / f"{n}.f0",
                                                                   tmp_path / "mgc" / f"{n}.mgc")}
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert f"done {8 - len(finished)}, skipped {len(finished)}, failed 0" in out
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps          # nothing recomputed
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    for n in (f"utt{i}" for i in range(8)):
        f0 = np.fromfile(tmp_path / "f0" / f"{n}.f0", dtype="<f4")
        assert np.fromfile(tmp_path / "mgc" / f"{n}.mgc", dtype="<f4").size == 25 * f0.size


DIES = """
import os
from modulespack import Module, Port


class Dies(Module):
    \"\"\"Its worker process exits in setup.\"\"\"
    inputs = {"x": Port("float")}
    outputs = {"y": Port("float")}

    def setup(self):
        os._exit(3)

    def run(self, x):
        return {"y": x}
"""


def dies_args(tmp_path: Path) -> list:
    (tmp_path / "dies.py").write_text(DIES)
    g = tmp_path / "dies.yaml"
    g.write_text("module_paths: [.]\ninputs: {x: float}\nnodes: [{name: m, module: Dies, inputs: {x: $x}}]\n"
                 "outputs: {y: m/y}\n")
    (tmp_path / "all.lst").write_text("a\nb\n")
    return ["batch", g, "--list", tmp_path / "all.lst", "--input", "x=1.0", "--output",
            f"y={tmp_path}/out/{{name}}.f32", "--failures", tmp_path / "failures.tsv", "--quiet", "--workers", "1"]


def test_an_engine_that_cannot_start_is_exit_1_with_a_clear_message(capsys, tmp_path):
    (tmp_path / "failures.tsv").write_text("old\tfrom the last run\n")
    code, out, err = run(capsys, *dies_args(tmp_path))
    assert code == 1 and "the local engine cannot run" in err and "exited before it was ready" in err
    assert not (tmp_path / "failures.tsv").exists()     # the last run's, removed at the start


def test_failures_are_on_disk_as_they_happen(capsys, tmp_path, monkeypatch):
    from modulespack.engines import batch
    from modulespack.engines.batch import ItemResult

    def interrupted(*args, **kwargs):
        yield ItemResult("a", "failed", error="input 'x': bad\nvalue")
        raise KeyboardInterrupt
    monkeypatch.setattr(batch, "run_batch", interrupted)
    code, _, _ = run(capsys, *dies_args(tmp_path))
    assert code == 130
    assert (tmp_path / "failures.tsv").read_text() == "a\tinput 'x': bad value\n"
