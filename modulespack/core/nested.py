"""A whole graph used as one node of another graph: its inputs and outputs become the node's ports.

An ordinary module to the Session and the run plans: it gets its inner Session through `attach`
and computes only the outputs the outer graph uses through `runner`. Errors from inside come out
as NodeError, which the outer Session prefixes with this node's name (`outer > inner`).
"""
from __future__ import annotations

from typing import Any, Callable

from .module import Module


class GraphModule(Module):
    """Base of the classes made per nested graph; runs the inner graph in its own Session."""

    graph: Any  # the BuiltGraph, set on each class by graph_module_class
    check_outputs = False  # the inner Session already checked every inner node
    session: Any = None

    def attach(self, session: Any) -> None:
        self.session = session.sub_session(self.graph)

    def run(self, **inputs: Any) -> dict[str, Any]:
        return self.session.run(inputs).outputs

    def runner(self, outputs: tuple[str, ...]) -> Callable[..., dict[str, Any]]:
        run, fetches = self.session.run, tuple(outputs)

        def run_fetches(**inputs: Any) -> dict[str, Any]:
            return run(inputs, fetches).outputs
        return run_fetches

    def close(self) -> None:
        if self.session is not None:
            self.session.close()

    @classmethod
    def param_problems(cls, params):
        return [(k, "a nested graph takes no parameters") for k in params]

    @classmethod
    def optional_inputs(cls, params):
        return set(cls.graph.optional_inputs)


def graph_module_class(graph: Any) -> type[GraphModule]:
    """The module class of a nested graph (a BuiltGraph)."""
    return type(f"Graph[{graph.name}]", (GraphModule,), {
        "graph": graph, "inputs": dict(graph.inputs), "outputs": dict(graph.outputs),
        "__doc__": graph.spec.description or f"nested graph {graph.spec.path or graph.name}",
    })
