"""modulespack: compose speech-processing modules into validated graphs and run, serve and train them.

>>> import modulespack as mp
>>> sess = mp.Session("examples/graphs/arith.yaml")          # doctest: +SKIP
"""
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from . import compat as _compat  # noqa: F401  (registers the modulespack2 file format)

__version__ = "0.1.0"
__all__ = list(_core_all)
