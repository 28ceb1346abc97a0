"""The stand-ins' GraphLib: where the graph files that some modules run inside them live.

modulespack2's RMSE module, and the Django app's Automatic_Speech_Recognition and Voice_Conversion
modules, each ran another graph file through a Session of their own, found with
``GraphLib.get_graph(name)`` and a hard-coded ``ModuleLibPath``. Here the graph folder is
``$MP2_GRAPH_LIB`` if set, else ``../fixtures`` next to this folder (the copies of the mp2 fixture
files), and the module folder is this file's folder. Nothing is hard-coded.

The file starts with ``_`` so the module registry does not look for modules in it; its siblings
import it while the registry has this folder on ``sys.path``.
"""
import os
import threading
from pathlib import Path

from modulespack.compat import Session, get_graph

GRAPH_LIB_ENV = "MP2_GRAPH_LIB"
MODULE_LIB = Path(__file__).resolve().parent


def graph_lib():
    return Path(os.environ.get(GRAPH_LIB_ENV) or MODULE_LIB.parent / "fixtures")


class InnerGraph:
    """A graph file run with the modulespack2 Session API, built once on first use (thread-safe)."""

    def __init__(self, name):
        self.name = name
        self._built = None
        self._lock = threading.Lock()

    def build(self):
        built = self._built
        if built is None:
            with self._lock:
                if self._built is None:
                    graph = get_graph(self.name, graph_lib())
                    sess = Session(ModuleLibPath=MODULE_LIB)
                    module_table, toposort = sess.build_graph(graph)
                    self._built = (sess, graph, module_table, toposort)
                built = self._built
        return built

    def run(self, feed_dict):
        sess, graph, module_table, toposort = self.build()
        return sess.run(fetches=toposort, ModuleTable=module_table, graph=graph, feed_dict=feed_dict)
