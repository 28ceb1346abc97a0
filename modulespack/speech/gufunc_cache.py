"""Guard against a numba cache bug that makes librosa crash (SIGSEGV) in every process once it happened.

librosa's gufuncs (`@guvectorize(cache=True)`: `zero_crossings`, `util.localmax/localmin`,
`util.peak_pick`, pyin's parabolic interpolation) are compiled when their librosa module is imported
and cached by numba as two entries per signature: the kernel, and a wrapper that calls the kernel by
a symbol name holding a per-process counter (numba's ABI tag `v<N>`: how many functions that process
compiled before). Two processes with different pasts that compile the same gufunc at the same time
on a cold cache (a server running one graph while its worker processes warm up others, two test runs
just after an install) can leave the kernel of one beside the wrapper of the other. Every process
that loads that pair afterwards gets a null entry point and dies with SIGSEGV on the first call:
numba issue #10128, still open in numba 0.68.

`install()` makes numba check a wrapper before it is used: a wrapper that has no entry point for the
kernel this process holds is rebuilt and written back over the bad cache entry, so a damaged cache is
repaired by the first process that meets it instead of crashing every process after. It imports
nothing heavy: numba is patched when something else imports it.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import threading
from typing import Any

log = logging.getLogger("modulespack.speech")

_WRAPPERS = "numba.np.ufunc.wrappers"
_MARK = "_modulespack_checks_cached_wrapper"
_lock = threading.Lock()


def install() -> None:
    """Check numba's cached gufunc wrappers from now on in this process (idempotent)."""
    with _lock:
        module = sys.modules.get(_WRAPPERS)
        if module is not None:
            _patch(module)
        elif not any(isinstance(f, _PatchOnImport) for f in sys.meta_path):
            sys.meta_path.insert(0, _PatchOnImport())


def _patch(wrappers: Any) -> bool:
    cls = getattr(wrappers, "_GufuncWrapper", None)
    original = getattr(cls, "_compile_wrapper", None)
    if original is None or getattr(original, _MARK, False):
        return False
    if not all(hasattr(cls, a) for a in ("_build_wrapper", "context")):
        log.debug("numba's gufunc wrapper has changed shape; its cached wrappers are not checked")
        return False

    def _compile_wrapper(self: Any, wrapper_name: str) -> Any:
        lib = original(self, wrapper_name)
        # get_pointer_to_function is what numba calls next on the wrapper; 0 = not defined there
        if self.is_parfors or lib.get_pointer_to_function(wrapper_name):
            return lib
        log.warning("numba's cache held a wrapper of gufunc %r built for another compilation of its "
                    "kernel (numba issue #10128); rebuilding it", getattr(self.py_func, "__qualname__", "?"))
        lib = self.context.codegen().create_library(str(self))
        lib.enable_object_caching()
        self._build_wrapper(lib, wrapper_name)
        self.cache.save_overload(self.cres.signature, lib)  # same key: overwrites the bad entry
        return lib

    setattr(_compile_wrapper, _MARK, True)
    cls._compile_wrapper = _compile_wrapper
    return True


class _PatchOnImport:
    """A meta path finder that patches numba's gufunc wrapper module as soon as it is imported (by
    librosa, usually); it finds nothing itself."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != _WRAPPERS:
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)  # the real one, now that this finder is gone
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        real_exec = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            real_exec(module)
            _patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec
