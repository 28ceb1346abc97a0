"""The original modulespack2 API and graph file format, on top of the core runtime.

Importing this package (``import modulespack`` does) registers two things with core:

* the modulespack2 graph format in `modulespack.core.spec.FORMATS`, so `modulespack.load_graph`,
  `modulespack.build_graph` and `modulespack.Session` read mp2 JSON files unchanged
  (see `modulespack.compat.format` for how a file maps onto a graph: a start node's input
  ``x1`` of node ``firstadd`` becomes graph input ``firstadd.x1``; the graph's outputs are the
  last node's);
* an adapter in `modulespack.core.registry.ADAPTERS`, so mp2 module classes (subclasses of
  `Module` below) are accepted wherever core Modules are (see `modulespack.compat.module`).

The mp2 programming interface itself: `Module`, `ModuleDesc`, `InputDesc`, `OutputDesc`,
`ModuleFactory`, `ModuleGraph`, `Session`, `Stop` (see `modulespack.compat.session`).
"""
from .errors import DescMismatch, Stop
from .format import is_mp2, mp2_toposort, register_format
from .graph import ModuleGraph, get_graph
from .module import (InputDesc, LegacyModule, Module, ModuleDesc, ModuleFactory, OutputDesc, ProxyModule,
                     adapt, register_adapter)
from .session import BaseSession, ModuleTable, Session

register_format()
register_adapter()

__all__ = [
    "BaseSession", "DescMismatch", "InputDesc", "LegacyModule", "Module", "ModuleDesc", "ModuleFactory",
    "ModuleGraph", "ModuleTable", "OutputDesc", "ProxyModule", "Session", "Stop", "adapt", "get_graph",
    "is_mp2", "mp2_toposort",
]
