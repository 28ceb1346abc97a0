"""The module library for speech: DSP, WORLD, Griffin-Lim, TTS, ASR, voice conversion, metrics.

Modules are found by short name through the `modulespack.modules` entry points (see pyproject.toml),
so importing this package loads nothing heavy.
"""
from .gufunc_cache import install as _check_numba_gufunc_cache

# before librosa compiles or loads its gufuncs in this process: a cache damaged by two processes
# compiling at once would otherwise crash it (see gufunc_cache)
_check_numba_gufunc_cache()
