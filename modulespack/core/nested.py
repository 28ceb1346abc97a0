"""A whole graph used as one node of another graph: its inputs and outputs become the node's ports."""
from __future__ import annotations

from typing import Any

from .build import BuiltGraph
from .module import Module


class GraphModule(Module):
    """Base of the classes made per nested graph; runs the inner graph in its own Session."""

    graph: BuiltGraph
    check_outputs = False  # the inner Session already checked every inner node

    def __init__(self, **session_options: Any):
        from .session import Session
        self.session = Session(self.graph, **session_options)

    def run(self, **inputs: Any) -> dict[str, Any]:
        return self.session.run(inputs).outputs

    def run_fetch(self, _fetches: tuple[str, ...], **inputs: Any) -> dict[str, Any]:
        """Run only what the outer graph uses of this graph's outputs."""
        return self.session.run(inputs, _fetches).outputs

    def close(self) -> None:
        self.session.close()

    @classmethod
    def param_problems(cls, params):
        return [(k, "a nested graph takes no parameters") for k in params]

    @classmethod
    def optional_inputs(cls, params):
        return set(cls.graph.optional_inputs)


def graph_module_class(graph: BuiltGraph) -> type[GraphModule]:
    return type(f"Graph[{graph.name}]", (GraphModule,), {
        "graph": graph, "inputs": dict(graph.inputs), "outputs": dict(graph.outputs),
        "__doc__": graph.spec.description or f"nested graph {graph.spec.path or graph.name}",
    })
