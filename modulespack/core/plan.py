"""A compiled run plan: the nodes one fetch set needs, with inputs and outputs turned into list slots.

Compiled once per (fetches, feed names) and cached, so a run does no name lookups, graph walks
or copying of shared tables (modulespack2 deep-copied its tables per request).
"""
from __future__ import annotations

import inspect
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable

from .errors import FeedError, InputError, NodeError, NodeInputError
from .ports import Port, value_checker
from .spec import Const, Edge, GraphInput

if TYPE_CHECKING:
    from .session import Session


class Plan:
    __slots__ = ("steps", "template", "feed_slots", "feed_checks", "fetch_slots", "indegree", "roots",
                 "branches", "graph", "runs", "_light", "module_names")

    def wants_pool(self, session: "Session") -> bool:
        """In "auto" mode: is any node slow enough to be worth a thread hop? Re-judged now and then."""
        self.runs += 1
        if self.runs % 128 == 0:
            self._light = None  # this run goes through the scheduler, which refreshes the costs
            return True
        if self._light is None:
            cost = session.cost
            self._light = all(cost.get(s[0], 1.0) < session.heavy_seconds for s in self.steps)
        return not self._light

    def heavy_flags(self, session: "Session") -> list[bool]:
        if session.parallel is True:
            return [True] * len(self.steps)
        cost = session.cost
        return [cost.get(s[0], 1.0) >= session.heavy_seconds for s in self.steps]

    def node_error(self, name: str, e: BaseException) -> NodeError:
        """What the Session raises when node `name` raised `e` (graph inputs are traced only here,
        on failure, so runs pay nothing for it)."""
        if isinstance(e, InputError):
            ports = [e.port] if e.port in self.graph.nodes[name].sources else None
            return NodeInputError([name], self.module_names[name], e, str(e), port=e.port,
                                  inputs=self.graph.inputs_upstream(name, ports))
        if isinstance(e, NodeInputError):
            # from a module that runs a graph of its own: that graph's inputs are this node's ports
            ports = [p for p in e.inputs if p in self.graph.nodes[name].inputs]
            return e.nested_in(name, self.graph.inputs_upstream(name, ports or None))
        if isinstance(e, NodeError):  # from a graph run inside the module: name the path to it
            return e.nested_in(name)
        return NodeError([name], self.module_names[name], e, f"{type(e).__name__}: {e}")

    def output_error(self, name: str, out: Any) -> NodeError:
        return NodeError([name], self.module_names[name], None, _output_mismatch(out))


def _output_mismatch(out: Any) -> str:
    if not isinstance(out, dict):
        return f"run() must return a dict of outputs, returned {type(out).__name__}"
    return f"run() returned outputs {sorted(out)}, which lack ones this graph uses"


def compile_plan(session: "Session", fetches: Any, feeds: dict[str, Any]) -> Plan:
    g = session.graph
    targets: list[tuple[str, Edge]] = []
    if fetches is None:
        if g.spec.outputs:
            targets = [(k, e) for k, e in g.spec.outputs.items()]
        else:
            targets = [(f"{n}/{p}", Edge(n, p)) for n in g.order for p in g.nodes[n].outputs]
    else:
        for f in ([fetches] if isinstance(fetches, str) else fetches):
            if f in g.spec.outputs:
                targets.append((f, g.spec.outputs[f]))
                continue
            node, _, port = f.partition("/")
            if node not in g.nodes:
                raise FeedError(f"cannot fetch '{f}': no graph output or node of that name "
                                f"(outputs: {', '.join(g.spec.outputs) or 'none'})", port=f)
            if port not in g.nodes[node].outputs:
                raise FeedError(f"cannot fetch '{f}': node '{node}' has outputs "
                                f"{', '.join(g.nodes[node].outputs)}", port=f)
            targets.append((f, Edge(node, port)))

    unknown = [k for k in feeds if k not in g.inputs]
    if unknown:
        raise FeedError(f"unknown graph input(s) {', '.join(map(repr, unknown))} "
                        f"(inputs: {', '.join(g.inputs) or 'none'})", port=unknown[0])

    needed: set[str] = set()
    todo = [e.node for _, e in targets]
    while todo:
        n = todo.pop()
        if n in needed:
            continue
        needed.add(n)
        todo += [s.node for s in g.nodes[n].sources.values() if isinstance(s, Edge)]
    order = [n for n in g.order if n in needed]

    slots: dict[Any, int] = {}
    template: list[Any] = []

    def slot(key: Any, value: Any = None) -> int:
        if key not in slots:
            slots[key] = len(template)
            template.append(value)
        return slots[key]

    defaults = g.defaults
    used_inputs: set[str] = set()
    index = {n: i for i, n in enumerate(order)}
    preds: list[set[int]] = [set() for _ in order]
    succs: list[set[int]] = [set() for _ in order]
    args_of: list[tuple] = []
    for i, n in enumerate(order):
        args = []
        for port, src in g.nodes[n].sources.items():
            if isinstance(src, Edge):
                args.append((port, slot(("node", src.node, src.port))))
                preds[i].add(index[src.node])
                succs[index[src.node]].add(i)
            elif isinstance(src, GraphInput):
                used_inputs.add(src.name)
                args.append((port, slot(("in", src.name), defaults.get(src.name))))
            elif isinstance(src, Const):
                args.append((port, slot(("const", n, port), src.value)))
        args_of.append(tuple(args))
    for _, e in targets:
        slot(("node", e.node, e.port))

    missing = [n for n in sorted(used_inputs) if n not in feeds and n not in defaults]
    if missing:
        raise FeedError(f"missing graph input(s) {', '.join(map(repr, missing))} needed for "
                        f"{', '.join(k for k, _ in targets)}", port=missing[0])

    steps = []
    for i, n in enumerate(order):
        node = g.nodes[n]
        outs = tuple((p, slots[("node", n, p)]) for p in node.outputs if ("node", n, p) in slots)
        module = session.modules[n]
        batcher = session.batchers.get(n)
        # a batched node's callers get run_batch's items, which hold every declared output
        fn = batcher.run if batcher is not None else module.runner(tuple(p for p, _ in outs))
        checker = None
        if node.cls.check_outputs:
            # a runner other than run() may return only the outputs this plan uses
            used = None if fn == module.run or batcher is not None else tuple(p for p, _ in outs)
            checker = output_checker(n, node.cls, node.outputs, used)
        steps.append((n, *call_spec(fn, args_of[i]), outs, checker, tuple(sorted(succs[i]))))

    plan = Plan()
    plan.steps = steps
    plan.template = template
    plan.feed_slots = tuple((k, slots[("in", k)]) for k in feeds if ("in", k) in slots)
    plan.feed_checks = {k: value_checker(g.inputs[k]) for k in feeds}
    plan.fetch_slots = tuple((k, slots[("node", e.node, e.port)]) for k, e in targets)
    plan.indegree = [len(p) for p in preds]
    plan.roots = [i for i, p in enumerate(preds) if not p][::-1]
    plan.branches = len(plan.roots) > 1 or any(len(s) > 1 for s in succs)
    plan.graph = g
    plan.module_names = {n: g.nodes[n].cls.__name__ for n in order}
    plan.runs = 0
    plan._light = None
    return plan


def output_checker(node: str, cls: type, outputs: dict[str, Port],
                   used: tuple[str, ...] | None = None) -> Callable[[Any], None]:
    """A function that raises NodeError unless a module returned exactly its declared outputs or,
    given `used` (the outputs a plan takes from a `runner` other than `run`), declared outputs
    that include `used`, whose values alone are checked."""
    names = frozenset(outputs)
    checked = outputs if used is None else {p: outputs[p] for p in used}
    checks = tuple((p, c) for p, c in ((p, value_checker(port)) for p, port in checked.items()) if c is not None)
    mname = cls.__name__
    if used is not None:
        return _subset_checker(node, mname, names, frozenset(used), checks)

    def check(out: Any) -> None:
        if (type(out) is not dict and not isinstance(out, dict)) or out.keys() != names:
            if not isinstance(out, dict):
                msg = f"run() must return a dict of outputs {sorted(names)}, returned {type(out).__name__}"
            else:
                extra, lack = sorted(set(out) - names), sorted(names - set(out))
                msg = "run() returned " + "; ".join(
                    x for x in (f"undeclared output(s) {extra}" if extra else "",
                                f"no value for declared output(s) {lack}" if lack else "") if x)
            raise NodeError([node], mname, None, msg)
        for p, c in checks:
            why = c(out[p])
            if why is not None:
                raise NodeError([node], mname, None, f"output '{p}': {why}")
    return check


def _subset_checker(node: str, mname: str, names: frozenset, used: frozenset,
                    checks: tuple) -> Callable[[Any], None]:
    def check(out: Any) -> None:
        if not isinstance(out, dict):
            raise NodeError([node], mname, None, f"run() must return a dict of outputs (at least {sorted(used)}), "
                                                 f"returned {type(out).__name__}")
        keys = out.keys()
        if not (used <= keys and keys <= names):
            extra, lack = sorted(keys - names), sorted(used - keys)
            raise NodeError([node], mname, None, "run() returned " + "; ".join(
                x for x in (f"undeclared output(s) {extra}" if extra else "",
                            f"no value for output(s) {lack}, which this graph uses" if lack else "") if x))
        for p, c in checks:
            why = c(out[p])
            if why is not None:
                raise NodeError([node], mname, None, f"output '{p}': {why}")
    return check


# How a step's inputs reach run(): positionally when the connected inputs are exactly run()'s
# first parameters (cheapest in CPython), else as keywords.
NO_ARGS, ONE_POS, POS, ONE_KW, KW = range(5)


def call_spec(fn: Callable, args: tuple) -> tuple:
    """(fn, mode, getter, names): what the run loop needs to call fn with values from the slot list."""
    names = tuple(a for a, _ in args)
    slots = tuple(s for _, s in args)
    if not args:
        return fn, NO_ARGS, None, names
    getter = itemgetter(*slots)
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if tuple(positional[:len(names)]) == names:
        return fn, (ONE_POS if len(names) == 1 else POS), getter, names
    return fn, (ONE_KW if len(names) == 1 else KW), getter, names
