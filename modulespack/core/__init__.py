"""The graph runtime: ports, modules, graph files, validation, registry and the Session.

Imports nothing heavier than numpy and PyYAML, and nothing of speech, training or serving.
"""
from .build import BuiltGraph, BuiltNode, build_graph
from .errors import FeedError, GraphError, NodeError, Problem
from .module import Module, module
from .nested import GraphModule
from .ports import Port
from .registry import ENTRY_POINT_GROUP, Registry, default_registry, register
from .session import Result, Session
from .spec import Const, Edge, GraphInput, GraphSpec, NodeSpec, load_graph, save_graph

__all__ = [
    "BuiltGraph", "BuiltNode", "Const", "ENTRY_POINT_GROUP", "Edge", "FeedError", "GraphError", "GraphInput",
    "GraphModule", "GraphSpec", "Module", "NodeError", "NodeSpec", "Port", "Problem", "Registry", "Result",
    "Session", "build_graph", "default_registry", "load_graph", "module", "register", "save_graph",
]
