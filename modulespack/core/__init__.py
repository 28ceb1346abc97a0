"""The graph runtime: ports, modules, graph files, validation, registry and the Session.

Imports nothing heavier than numpy and PyYAML, and nothing of speech, training or serving.
"""
from .build import BuiltGraph, BuiltNode, build_graph
from .cancel import CancelToken, current_token
from .errors import Cancelled, FeedError, GraphError, InputError, NodeError, NodeInputError, Problem, Unavailable
from .function import module
from .hooks import NodeHooks
from .module import Module
from .nested import GraphModule
from .ports import Port
from .registry import ENTRY_POINT_GROUP, Registry, default_registry, register
from .session import Result, Session
from .spec import Const, Edge, GraphInput, GraphSpec, NodeSpec, load_graph, save_graph

__all__ = [
    "BuiltGraph", "BuiltNode", "CancelToken", "Cancelled", "Const", "ENTRY_POINT_GROUP", "Edge", "FeedError", "GraphError", "GraphInput",
    "GraphModule", "GraphSpec", "InputError", "Module", "NodeError", "NodeHooks", "NodeInputError", "NodeSpec", "Port", "Problem", "Registry", "Result",
    "Session", "Unavailable", "build_graph", "current_token", "default_registry", "load_graph", "module", "register", "save_graph",
]
