"""numba's cache of gufuncs (numba issue #10128): two processes compiling one gufunc at once can
leave the kernel of one beside the wrapper of the other, and every later process that calls it died
with SIGSEGV (librosa's zero_crossings, peak_pick, pyin...). Importing the speech package makes numba
rebuild such a wrapper, which also repairs the cache for processes that do not."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("numba", reason="numba (via librosa, the speech extra) is not installed")

GUFUNC = '''
import numba

@numba.guvectorize(["void(float64[:], float64[:])"], "(n)->(n)", nopython=True, cache=True)
def double(x, y):
    for i in range(x.shape[0]):
        y[i] = 2.0 * x[i]
'''
# numba names the kernel with a per-process counter: a process that compiled something else first
# names it differently, as a server worker that already ran another graph does
COMPILE_OTHERS_FIRST = "import numba\nnumba.njit(lambda x: x + 1)(1)\nnumba.njit(lambda x: x * 2)(1)\n"
CALL = "import numpy as np, gufmod\nprint(gufmod.double(np.arange(3.0)).tolist())\n"


def _python(code: str, folder: Path, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    return subprocess.run([sys.executable, "-X", "faulthandler", "-c", code], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=120)


def _damaged_cache(folder: Path) -> Path:
    """The cache two such processes compiling `double` at the same time can leave behind: the
    kernel of the second beside the wrapper of the first (made here without the race)."""
    (folder / "gufmod.py").write_text(GUFUNC)
    first, second = folder / "first", folder / "second"
    for cache, code in ((first, COMPILE_OTHERS_FIRST + "import gufmod"), (second, "import gufmod")):
        r = _python(code, folder, cache)
        assert r.returncode == 0, r.stderr
    wrappers = sorted(first.rglob("guf-*"))
    assert wrappers, "numba cached no gufunc wrapper"
    for f in wrappers:
        shutil.copy2(f, second / f.relative_to(first))
    return second


def test_a_gufunc_wrapper_cached_for_another_kernel_is_rebuilt_not_called(tmp_path):
    cache = _damaged_cache(tmp_path)
    guarded = _python("import sys, modulespack.speech\nassert 'numba' not in sys.modules\n" + CALL,
                      tmp_path, cache)
    assert guarded.returncode == 0, f"exit {guarded.returncode}:\n{guarded.stderr[-3000:]}"
    assert guarded.stdout.split() == ["[0.0,", "2.0,", "4.0]"]
    assert "numba issue #10128" in guarded.stderr  # said once, as a warning
    # the bad entry was overwritten: a process without the guard runs it too
    plain = _python(CALL, tmp_path, cache)
    assert plain.returncode == 0, f"exit {plain.returncode}:\n{plain.stderr[-3000:]}"
