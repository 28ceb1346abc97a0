"""The original modulespack2 API and graph file format, on top of the core runtime.

Importing this package (``import modulespack`` does) registers three things with core:

* the modulespack2 graph format in `modulespack.core.spec.FORMATS`, so `modulespack.load_graph`,
  `modulespack.build_graph` and `modulespack.Session` read mp2 JSON files unchanged
  (see `modulespack.compat.format` for how a file maps onto a graph: a start node's input
  ``x1`` of node ``firstadd`` becomes graph input ``firstadd.x1``; the graph's outputs are the
  last node's);
* an adapter in `modulespack.core.registry.ADAPTERS`, so mp2 module classes (subclasses of
  `Module` below) are accepted wherever core Modules are (see `modulespack.compat.module`);
* a preparer in `modulespack.core.registry.PREPARERS`, so original mp2 module files, which start
  with ``from module import Module, ModuleDesc, InputDesc, OutputDesc``, load unchanged from a
  module folder, without a ``module`` in ``sys.modules`` (see `modulespack.compat.mp2_import`).

The mp2 programming interface itself: `Module`, `ModuleDesc`, `InputDesc`, `OutputDesc`,
`ModuleFactory`, `Modules`, `ModuleGraph`, `Session`, `Stop` (see `modulespack.compat.session`).
"""
from .errors import DescMismatch, Stop
from .format import is_mp2, mp2_toposort, register_format
from .graph import ModuleGraph, get_graph
from .module import (InputDesc, LegacyModule, Module, ModuleDesc, ModuleFactory, Modules, OutputDesc, ProxyModule,
                     adapt, register_adapter)
from .mp2_import import register_preparer
from .session import BaseSession, ModuleTable, Session

register_format()
register_adapter()
register_preparer()

__all__ = [
    "BaseSession", "DescMismatch", "InputDesc", "LegacyModule", "Module", "ModuleDesc", "ModuleFactory",
    "ModuleGraph", "ModuleTable", "Modules", "OutputDesc", "ProxyModule", "Session", "Stop", "adapt", "get_graph",
    "is_mp2", "mp2_toposort",
]
