"""modulespack2's `Session`, running on the core Session.

The modulespack2 program, unchanged apart from the imports::

    from modulespack.compat import ModuleGraph, Session
    graph = ModuleGraph(JsonFile="RMSE_graph.json")
    sess = Session(ModuleLibPath="path/to/ModuleLib")
    ModuleTable, toposort = sess.build_graph(graph)
    result = sess.run(fetches=toposort, ModuleTable=ModuleTable, graph=graph,
                      feed_dict={"firstadd": {"x1": 1, "x2": 2}})      # {'y': 10}

What is the same as in mp2:

* ``ModuleLibPath`` is required (`Stop` otherwise) and names the folder of module files. Module
  names resolve through a core ``Registry(paths=[ModuleLibPath])``: a class with the module's
  name in any ``.py`` file of the folder (mp2 imported the file named like the module). The
  folder is on ``sys.path`` only while its files are imported, never after. Its files may start
  with mp2's ``from module import Module, ModuleDesc, InputDesc, OutputDesc``: those files alone
  get mp2's ``module`` (`modulespack.compat.mp2_import`); ``sys.modules`` is not touched.
* ``build_graph(graph)`` makes one instance of each node's module and returns
  ``(ModuleTable, toposort)``: ``ModuleTable[node]`` holds ``module_name``, ``module_instance``
  (the mp2 module object), ``module_desc`` and ``output``; ``toposort`` is the node order mp2's
  networkx gave.
* ``run(fetches=toposort, ModuleTable=..., graph=..., feed_dict=...)`` returns the outputs of the
  last node of ``fetches`` as a dict. ``feed_dict`` maps each start node to a dict of its inputs
  (`Stop` if it, or an entry, is not a dict). An edge whose two ends are described differently
  is an error (mp2's CheckDesc), found here once at build time (`DescMismatch`) rather than on
  every run.

What differs, and why:

* Runs go through the core Session, which is safe to call from many threads at once. So
  ``ModuleTable[node]['output']`` stays None: mp2 wrote each run's outputs there, which is what
  made its Session unsafe to share (the mp2 Django app deep-copied the table per request).
  ``copy.deepcopy(ModuleTable)`` still works and returns the same table.
* Only the nodes the last node of ``fetches`` needs are run (mp2 ran every node listed); the
  order of ``fetches`` does not matter beyond its last entry.
* The result holds the last node's declared outputs (mp2 returned whatever its ``run`` returned,
  undeclared keys included).
* A feed for an unknown node or port, a feed for a node that is not a start node, or a missing
  feed is a `Stop` naming it (mp2 ignored the first ones and failed with a KeyError inside the
  module for the last). A module's exception comes back as core `NodeError` naming the node,
  with the original exception as ``cause``.
* Graph files with problems raise core `GraphError` listing every problem (file, node, port).
"""
from __future__ import annotations

import os
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable

from ..core.build import BuiltGraph, build_graph as core_build_graph
from ..core.errors import FeedError, Problem
from ..core.registry import Registry
from ..core.session import Session as CoreSession
from ..core.spec import Edge, GraphInput, GraphSpec
from .errors import DescMismatch, Stop
from .format import spec_toposort
from .graph import ModuleGraph
from .module import LegacyModule, desc_key

__all__ = ["Session", "BaseSession", "ModuleTable", "desc_mismatches"]


class ModuleTable(dict):
    """node -> {'module_name', 'module_instance', 'module_desc', 'output'}, plus the built core Session.

    Read-only during runs, so one table serves any number of concurrent runs.
    """

    def __init__(self, session: CoreSession, order: list[str]):
        g = session.graph
        super().__init__()
        for name in order:
            inst = session.modules[name]
            cls = g.nodes[name].cls
            legacy = isinstance(inst, LegacyModule)
            self[name] = {"module_name": g.spec.node(name).module,
                          "module_instance": inst.mp2 if legacy else inst,
                          "module_desc": cls.mp2_description if legacy else None,
                          "output": None}
        self.session = session
        self.spec: GraphSpec = g.spec
        #: start node -> {port: graph input name}
        self.start_inputs: dict[str, dict[str, str]] = {}
        for n in g.spec.nodes:
            ins = {p: s.name for p, s in n.inputs.items() if isinstance(s, GraphInput)}
            if ins:
                self.start_inputs[n.name] = ins
        #: node -> (graph fetches, output names) for "return this node's outputs"
        self.fetches_of: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
            n: (tuple(f"{n}/{p}" for p in node.outputs), tuple(node.outputs)) for n, node in g.nodes.items()}

    @property
    def graph(self) -> BuiltGraph:
        return self.session.graph

    def __deepcopy__(self, memo: dict) -> "ModuleTable":
        return self  # nothing in it changes during a run; mp2 code deep-copied it per request

    def __copy__(self) -> "ModuleTable":
        return self

    def __reduce__(self):
        raise TypeError("a ModuleTable holds live modules; send the graph spec and rebuild instead")

    def close(self) -> None:
        self.session.close()

    def feeds(self, feed_dict: Any) -> dict[str, Any]:
        """mp2's ``{node: {port: value}}`` as core feeds ``{"node.port": value}``."""
        if feed_dict is None:
            feed_dict = {}
        if not isinstance(feed_dict, Mapping):
            raise Stop(f"feed_dict must be a dict-like object, not {type(feed_dict).__name__}")
        feeds: dict[str, Any] = {}
        for node, values in feed_dict.items():
            ins = self.start_inputs.get(node)
            if ins is None:
                if node in self:
                    raise Stop(f"feed_dict['{node}']: '{node}' is not a startNode; it takes its inputs from "
                               f"other nodes (start nodes: {', '.join(self.start_inputs) or 'none'})")
                raise Stop(f"feed_dict names '{node}', which is no node of this graph "
                           f"(start nodes: {', '.join(self.start_inputs) or 'none'})")
            if not isinstance(values, Mapping):
                raise Stop(f"feed_dict must be a dict-like object: feed_dict['{node}'] is a "
                           f"{type(values).__name__}, not a dict of its inputs")
            for port, v in values.items():
                gname = ins.get(port)
                if gname is None:
                    raise Stop(f"feed_dict['{node}'] has '{port}', which is no input of start node '{node}' "
                               f"(inputs: {', '.join(ins)})")
                feeds[gname] = v
        return feeds


class Session:
    """modulespack2's Session (see the module docstring). Extra keyword arguments go to the core
    Session (``parallel``, ``max_workers``, ``check``); ``registry`` is a core Registry to fall back on
    for names not found in ``ModuleLibPath``."""

    def __init__(self, ModuleLibPath: str | Path | None = None, *,  # noqa: N803 (mp2 name)
                 registry: Registry | None = None, **session_options: Any):
        if ModuleLibPath is None:
            raise Stop("ModuleLibPath must be specified")
        path = Path(ModuleLibPath)
        if not path.is_dir():
            raise Stop(f"ModuleLibPath {str(path)!r} is not a folder")
        self.ModuleLibPath = str(path)
        self.registry = registry.child([path]) if registry is not None else Registry(paths=[path])
        self.session_options = session_options
        self._built: "weakref.WeakSet[CoreSession]" = weakref.WeakSet()

    @staticmethod
    def sess_id() -> tuple[int, int]:
        """The process this session runs in, and its parent."""
        return os.getpid(), os.getppid()

    def build_graph(self, graph: ModuleGraph | GraphSpec | str | Path) -> tuple[ModuleTable, list[str]]:
        """Validate the graph, make every module once; return ``(ModuleTable, toposort)``.

        Raises core GraphError (every problem, naming file, node and port) or DescMismatch.
        """
        if isinstance(graph, (str, Path)):
            graph = ModuleGraph(JsonFile=graph)
        if isinstance(graph, ModuleGraph):
            spec = graph.spec
        elif isinstance(graph, GraphSpec):
            spec = graph
        else:
            raise Stop(f"build_graph takes a ModuleGraph, not {type(graph).__name__}")
        built = core_build_graph(spec, registry=self.registry)
        problems = desc_mismatches(built)
        if problems:
            raise DescMismatch(problems)
        core = CoreSession(built, **self.session_options)
        self._built.add(core)
        toposort = spec_toposort(spec)
        return ModuleTable(core, toposort), toposort

    @staticmethod
    def run(fetches: str | Iterable[str], ModuleTable: ModuleTable,  # noqa: N803 (mp2 name)
            graph: ModuleGraph | GraphSpec | None = None, feed_dict: Mapping[str, Any] | None = None) -> dict:
        """Run what the last node of ``fetches`` needs and return that node's outputs."""
        table = ModuleTable
        if not isinstance(table, _Table):
            raise Stop(f"ModuleTable must be the table Session.build_graph returned, not {type(table).__name__}")
        if graph is not None:
            spec = graph.spec if isinstance(graph, ModuleGraph) else graph
            if spec is not table.spec and not (isinstance(spec, GraphSpec)
                                               and [n.name for n in spec.nodes] == list(table.fetches_of)):
                raise Stop("graph is not the graph this ModuleTable was built from")
        names = [fetches] if isinstance(fetches, str) else list(fetches or ())
        if not names:
            raise Stop("fetches is empty: pass the toposort that build_graph returned")
        last = names[-1]
        if last not in table.fetches_of:
            raise Stop(f"fetches ends with '{last}', which is no node of this graph")
        feeds = table.feeds(feed_dict)
        graph_fetches, ports = table.fetches_of[last]
        try:
            res = table.session.run(feeds, graph_fetches)
        except FeedError as e:
            raise Stop(f"feed_dict does not fit the graph: {e}") from e
        out = res.outputs
        return {p: out[f] for p, f in zip(ports, graph_fetches)}

    def close(self) -> None:
        """Close the modules of every graph this session built."""
        for s in list(self._built):
            s.close()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


BaseSession = Session
_Table = ModuleTable  # Session.run's parameter is named ModuleTable, as in mp2


def desc_mismatches(built: BuiltGraph) -> list[Problem]:
    """Edges between two mp2 modules whose ends are described differently (mp2's CheckDesc)."""
    file = str(built.spec.path) if built.spec.path else None
    problems = []
    for node in built.nodes.values():
        if not issubclass(node.cls, LegacyModule):
            continue
        ins = node.cls.describe_mp2().get_inputs_desc()
        for port, src in node.sources.items():
            if not isinstance(src, Edge) or src.node not in built.nodes:
                continue
            up = built.nodes[src.node].cls
            if not issubclass(up, LegacyModule):
                continue
            have = up.describe_mp2().get_outputs_desc().get(src.port)
            want = ins.get(port)
            if have is None or want is None or desc_key(have) == desc_key(want):
                continue
            problems.append(Problem(
                f"desc mismatch: {src} is {tuple(have)} but input '{port}' of {node.cls.__name__} expects "
                f"{tuple(want)}; check their make_module_description()", file=file, node=node.name, port=port,
                line=built.spec.node(node.name).line, kind="dtype"))
    return problems
