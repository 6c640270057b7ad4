"""Expansion: templates, repeat, when, ``${expressions}`` and connections unrolled into the graph IR.

This module is the driver: it checks the blocks and ``defaults:``, adds the input node, lets the
:class:`~archc.spec.items.Interpreter` expand ``network:``, and collects the diagnostics. Shapes are inferred as
nodes are added, so ``in_channels`` / ``in_shape`` are known to every expression. After an error the affected
tensor's shape becomes unknown (None), so that expansion goes on and reports the other, independent problems without
a cascade of follow-on errors.

The connection kinds come from :data:`archc.spec.context.CONNECTIONS` (filled by the ``archc.connections`` package,
which the registry loads on first lookup); this module does not import them.
"""

from __future__ import annotations

from typing import Any

from archc.errors import Diagnostic, DiagnosticSink, SpecError, did_you_mean
from archc.ir.draft import GraphDraft
from archc.ops.registry import OPS, Shape, load_builtin_ops
from archc.spec.context import CONNECTIONS, ItemError, Tensor
from archc.spec.defaults import checked_defaults
from archc.spec.evaluate import REFUSED, contains_expression
from archc.spec.items import RESERVED_KEYS, Abort, Interpreter, Limits
from archc.spec.loader import LMap, paused_gc, position_of
from archc.spec.names import Env, Scope

#: Limits that turn runaway specs into located errors instead of hangs or MemoryErrors (read when expansion starts).
MAX_NODES = 250_000
MAX_EDGES = 2_000_000  # a dense block of n layers wires n * n / 2 edges
MAX_STEPS = 2_000_000  # items and repeat iterations expanded, so loops over empty or when:-false bodies end too
MAX_NESTING = 64
MAX_REPEAT = 100_000


def expand(tree: LMap, model: Any, strict: bool = True) -> GraphDraft:
    """Expand a resolved, validated spec tree into the IR (a networkx-free draft: ``archc.build_graph`` adopts it as
    the networkx Graph); raise SpecError listing every problem if ``strict``."""
    with paused_gc():
        graph = _run(tree, model)
    if strict and graph.diagnostics:
        raise SpecError(graph.diagnostics)
    return graph


def _run(tree: LMap, model: Any) -> GraphDraft:
    load_builtin_ops()
    sink = DiagnosticSink()
    graph = GraphDraft(name=model.name, diagnostics=sink.diagnostics)
    blocks = _checked_blocks(tree, sink)
    defaults = checked_defaults(tree.get("defaults"), sink)
    params, refused = _checked_params(tree.get("params"), sink)
    root_env = Env({**params, "params": params})
    limits = Limits(MAX_NODES, MAX_EDGES, MAX_STEPS, MAX_NESTING, MAX_REPEAT)
    interpreter = Interpreter(graph, sink, limits, blocks, defaults, root_env)
    interpreter.evaluator.refused = refused
    root = Scope("", root_env, "network")
    x = _input_node(interpreter, tree, model, root)
    out = _network(interpreter, tree, x, root)
    graph.graph["output"] = out.node
    _outputs(interpreter, tree, sink)
    if len(graph) == 1 and not sink:
        sink.error("the network has no ops: every item was skipped or empty", position_of(tree, "network"),
                   "network", "check the when: conditions and repeat: counts")
    interpreter.names.explain_later_definitions()
    sink.diagnostics[:] = _collapse(sink.diagnostics)
    return graph


def _outputs(interpreter: Interpreter, tree: LMap, sink: DiagnosticSink) -> None:
    """``outputs: [name, ...]``: each a node or named block of the network, looked up as from: does at the top."""
    written = tree.get("outputs")
    if not written:
        return
    found = []
    for index, ref in enumerate(written):
        tensor = interpreter.names.lookup(str(ref), "")
        if tensor is None:
            sink.error(f"outputs: unknown node '{ref}'", position_of(written, index) or position_of(tree, "outputs"),
                       f"outputs[{index}]",
                       did_you_mean(str(ref), interpreter.names.visible("")) or "outputs: names nodes or named blocks")
            continue
        found.append(tensor.node)
    interpreter.graph.graph["outputs"] = found


def _checked_blocks(tree: LMap, sink: DiagnosticSink) -> dict[str, Any]:
    blocks = tree.get("blocks") or {}
    for name in blocks:
        if name in OPS or name in CONNECTIONS or name in RESERVED_KEYS:
            sink.error(f"block '{name}' has the name of a built-in {'op' if name in OPS else 'keyword'}",
                       position_of(blocks, name), f"blocks.{name}", "rename the block")
    return dict(blocks)


def _checked_params(params: Any, sink: DiagnosticSink) -> tuple[dict[str, Any], frozenset[str]]:
    """``params:`` are data, read as written: a value holding ``${...}`` is refused where it is written (and its
    uses stay silent), rather than reaching an op as the text of an expression."""
    values = dict(params or {})
    refused = [key for key, value in values.items() if contains_expression(value)]
    for key in refused:
        sink.error(f"parameter '{key}' holds an expression ({_short(values[key])}); params are data, not evaluated",
                   position_of(params, key), f"params.{key}",
                   "write the expression where the value is used, e.g. out: ${width * 2}")
        values[key] = REFUSED
    return values, frozenset(refused)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value) if not isinstance(value, str) else f"'{value}'"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _input_node(interpreter: Interpreter, tree: LMap, model: Any, root: Scope) -> Tensor:
    input_spec = tree["input"]
    shape: Shape | None = None
    where = position_of(input_spec, "shape")
    try:
        value = interpreter.evaluate(input_spec.get("shape"), root, where, "input.shape")
    except ItemError as exc:
        interpreter.error(exc.message, exc.position, exc.path, exc.hint)
    else:
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
            shape = tuple(value)
        else:
            interpreter.error(f"expected positive integers [C, H, W] or [features], got {value!r}", where,
                              "input.shape")
    name = model.input.name
    graph = interpreter.graph
    graph.graph["input"] = name
    graph.add_node(name, op="input", attrs=None, inputs=[], shape=shape, pos=position_of(tree, "input"),
                   path="input", auto_name=False, error=None, connection=None, params=0, buffers=0, macs=0)
    return Tensor(name, shape)


def _network(interpreter: Interpreter, tree: LMap, x: Tensor, root: Scope) -> Tensor:
    try:
        return interpreter.expand_body(tree["network"], x, root, position_of(tree, "network"))
    except Abort:
        pass
    except ItemError as exc:
        if not exc.reported:
            interpreter.error(exc.message, exc.position, exc.path, exc.hint)
    return Tensor(x.node, None)


def _collapse(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per distinct mistake: a bad line inside a template or a repeat fails once per use."""
    first: dict[tuple[Any, ...], list[Any]] = {}
    out = []
    for diagnostic in diagnostics:
        key = (diagnostic.position, diagnostic.path, diagnostic.message, diagnostic.hint)
        if key in first:
            first[key][1] += 1
            continue
        first[key] = [diagnostic, 0]
        out.append(diagnostic)
    for diagnostic, more in first.values():
        if more:
            diagnostic.notes.append(Diagnostic(f"the same error occurs {more} more time{'s' if more > 1 else ''} "
                                               "(other uses of this line)", severity="note"))
    return out
