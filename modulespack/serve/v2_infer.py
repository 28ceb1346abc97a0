"""The served graphs as V2 models, whatever the transport (`v2_routes` over HTTP, `v2_grpc`):
metadata, readiness, and inference — tensors to feeds, the run on the app's dispatcher (its
time-out, cancellation, concurrency limit, engine), counted in /metrics as a run request is, and the
outputs back to tensors.

Inputs are checked as the native route checks them (`feeds.decode_inputs`: the port's type and
shape, text and audio length limits) after the protocol's own checks (datatype, element count).
What a tensor becomes for its port: a scalar port (a `[1]` tensor) its one value (`str` from UTF-8
BYTES, `int`/`float`/`bool` as Python numbers); an array port the array in the tensor's shape; an
`any` port one value if the tensor has one element, else the array (BYTES: a list of str); a
`list` port a list; a `dict` port one BYTES element holding a JSON object.
Outputs: a typed port in its metadata datatype; an untyped one by its value (`v2_tensors.to_array`).

Every failure is a ServeError with the native route's status (`status_of` gives V2's: a client's
input mistake, 422 there, is 400 here, as the protocol has it).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import numpy as np

from ..core import Port
from ..core.ports import ANY, NDARRAY
from .entry import GraphEntry
from .errors import ServeError
from .feeds import decode_inputs, needed_inputs
from .run import check_output_audio
from .state import ServeState
from .task_runs import tracked
from .v2_metadata import (
    MODEL_VERSION,
    NUMPY_OF,
    accepted_datatypes,
    is_scalar,
    model_metadata,
    port_datatype,
)
from .v2_tensors import Tensor, to_array
from .values import loads_json

Wait = Callable[[Awaitable[Any]], Awaitable[Any]]


def v2_status(status: int) -> int:
    """The V2 status for a native one: 422 (the client's input) is the protocol's 400."""
    return 400 if status == 422 else status


def status_of(err: ServeError) -> int:
    """The V2 status of a ServeError."""
    return v2_status(err.status)


def bad(message: str, name: str | None = None) -> ServeError:
    return ServeError(400, message, port=name, kind="input")


class V2Models:
    """The app's graphs as V2 models (`state`: the app's ServeState)."""

    def __init__(self, state: ServeState):
        self.state = state
        self._metadata: dict[str, dict] = {}

    def entry(self, name: str, version: str | None = None) -> GraphEntry:
        e = self.state.graphs.get(name)
        if e is None:
            raise ServeError(404, f"unknown model '{name}' (models: {', '.join(self.state.graphs) or 'none'})",
                             kind="unknown-graph")
        if version not in (None, "", MODEL_VERSION):
            raise ServeError(404, f"model '{name}' has no version '{version}' (versions: {MODEL_VERSION})",
                             kind="unknown-graph")
        return e

    def metadata(self, name: str, version: str | None = None) -> dict:
        e = self.entry(name, version)
        m = self._metadata.get(name)
        if m is None:
            m = self._metadata[name] = model_metadata(e)
        return m

    def model_ready(self, name: str, version: str | None = None) -> bool:
        self.entry(name, version)
        return self.state.ready(name)

    def server_ready(self) -> bool:
        """Every graph warm; if nothing started the warm-up (an app mounted without its lifespan), start it."""
        state = self.state
        if state.all_warm():
            return True
        if state.warm_task is None:
            state.start_warm_up()
        return False

    async def infer(self, name: str, version: str | None, inputs: Sequence[Tensor], outputs: Sequence[str] | None,
                    wait: Wait | None = None) -> list[Tensor]:
        """Run model `name` on `inputs`; its `outputs` (None: all) as tensors. `wait(awaitable)`: how to
        await the run (e.g. cancelling it when an HTTP client leaves)."""
        e = self.entry(name, version)
        async with tracked(self.state, name, status_of=v2_status) as t:
            form = e.form
            keys = tuple(dict.fromkeys(outputs)) if outputs else form.default_fetches()
            for k in keys:
                try:
                    form.fetch_port(k)  # a graph output, or node/port as the native route's fetch
                except ServeError:
                    raise bad(f"unknown output '{k}': model '{name}' gives "
                              f"{', '.join(form.default_fetches()) or 'nothing'}", k) from None
            values = _values(e, inputs)
            feeds = decode_inputs(form, values, {}, {}, max_text_chars=e.max_text_chars)
            missing = [n for n in needed_inputs(e.graph, keys) if n not in feeds and n not in e.graph.defaults]
            if missing:
                raise bad(f"missing input{'s' if len(missing) > 1 else ''} {', '.join(repr(n) for n in missing)} "
                          f"(model '{name}' takes {', '.join(e.graph.inputs)})", missing[0])
            plan = form.output_plan(keys)  # its fetches add the rates the audio-length check needs
            work = self.state.dispatch.run(e, feeds, plan.fetches)
            res = await (wait(work) if wait is not None else work)
            t.timings = res.timings
            check_output_audio(e.max_audio_seconds, form, plan, res.outputs, feeds)
            return [_output(k, form.fetch_port(k), res.outputs[k]) for k in keys]


def _values(e: GraphEntry, inputs: Sequence[Tensor]) -> dict[str, Any]:
    """Graph input name -> value of the request's tensors, checked against the protocol."""
    fields = e.form.fields
    values: dict[str, Any] = {}
    for t in inputs:
        if t.name in values:
            raise bad(f"input '{t.name}' is given twice", t.name)
        f = fields.get(t.name)
        if f is None:
            raise bad(f"unknown input '{t.name}': model '{e.name}' takes {', '.join(fields) or 'no inputs'}", t.name)
        accepted = accepted_datatypes(f.port)
        if accepted is not None and t.datatype not in accepted:
            want = port_datatype(f.port) + (" (or another integer datatype)" if f.port.dtype == "int" else
                                            " (or another number datatype)" if f.port.dtype == "float" else "")
            raise bad(f"input '{t.name}': datatype {t.datatype}, but model '{e.name}' takes {want}", t.name)
        values[t.name] = _value(f.port, t)
    return values


def _text(name: str, b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        raise bad(f"input '{name}': BYTES that are not UTF-8 text", name) from None


def _value(port: Port, t: Tensor) -> Any:
    arr, dt = t.array, port.dtype
    if is_scalar(port) or (dt == ANY and arr.size == 1):
        if arr.size != 1:
            raise bad(f"input '{t.name}' is one value: a tensor of shape [1], not {t.shape}", t.name)
        x = arr.reshape(())
        if dt not in ("int", "float", "bool", "str", "bytes", ANY):
            return x  # a numpy scalar port: the 0-d array, in the port's dtype
        item = x.item()
        if t.datatype == "BYTES":
            return item if dt == "bytes" else _text(t.name, item)
        return {"int": int, "float": float, "bool": bool}.get(dt, lambda v: v)(item)
    if dt == "dict":
        if t.datatype != "BYTES" or arr.size != 1:
            raise bad(f"input '{t.name}' is one BYTES element holding a JSON object", t.name)
        try:
            obj = loads_json(arr.reshape(()).item())
        except ValueError as err:
            raise bad(f"input '{t.name}': invalid JSON ({err})", t.name) from None
        if not isinstance(obj, dict):
            raise bad(f"input '{t.name}': a JSON object, not {type(obj).__name__}", t.name)
        return obj
    if t.datatype == "BYTES":  # `list` and `any` ports: text elements
        texts = [_text(t.name, b) for b in arr.ravel().tolist()]
        return texts if dt in ("list", ANY) else arr
    return arr.tolist() if dt == "list" else arr


def _output(key: str, port: Port, value: Any) -> Tensor:
    """The tensor of output `key`: a typed port's value in its metadata datatype (a scalar as [1]),
    else (an untyped port, or a value that does not fit its port) by what the value is."""
    if port.dtype not in (ANY, NDARRAY, "list", "dict"):
        datatype = port_datatype(port)
        try:
            if datatype == "BYTES":
                got, arr = to_array(value)
                ok = got == "BYTES"
            else:
                arr = np.asarray(value, dtype=NUMPY_OF[datatype])
                ok = True
            if ok:
                arr = arr.reshape(1) if is_scalar(port) else arr.reshape(arr.shape or (1,))
                return Tensor(key, datatype, list(arr.shape), arr)
        except (TypeError, ValueError, OverflowError):
            pass
    datatype, arr = to_array(value)
    return Tensor(key, datatype, list(arr.shape), arr)
