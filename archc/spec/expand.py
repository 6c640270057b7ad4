"""Expansion: templates, repeat, when, ``${expressions}`` and connections unrolled into the graph IR.

Shapes are inferred as nodes are added, so ``in_channels`` / ``in_shape`` are known to every expression. Every
problem becomes a located diagnostic; after an error the affected tensor's shape becomes unknown (None) so that
expansion can go on and report the other, independent problems without a cascade of follow-on errors.
"""

from __future__ import annotations

import re
from collections import ChainMap
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archc.connections.registry import CONNECTIONS, load_builtin_connections
from archc.errors import Diagnostic, DiagnosticSink, Position, SpecError, did_you_mean
from archc.ir.graph import Graph
from archc.ops.registry import OPS, OpSpec, Shape, ShapeError, load_builtin_ops
from archc.spec.expr import ExprError, substitute
from archc.spec.loader import LList, LMap, position_of
from archc.spec.model import REQUIRED
from archc.spec.validation import diagnostics_from_validation, join_path

MAX_NODES = 250_000
MAX_NESTING = 64
MAX_REPEAT = 100_000
RESERVED_KEYS = ("name", "when", "from", "repeat", "as", "body")
_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*$")


class _Unknown:
    """Stands for in_channels / in_shape after an upstream error."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN = _Unknown()


class _Abort(Exception):
    """Raised to stop expansion at a resource limit (the diagnostic is already recorded)."""


@dataclass(frozen=True)
class Tensor:
    """A value flowing through expansion: the graph node that produces it and its logical shape."""

    node: str
    shape: Shape | None


@dataclass(frozen=True)
class Scope:
    """Where an item is expanded: its namespace, variables, spec path and nesting depth."""

    ns: str
    env: ChainMap
    path: str
    depth: int = 0
    templates: tuple[str, ...] = ()

    def child(self, ns: str | None = None, env: ChainMap | None = None, path: str | None = None,
              template: str | None = None) -> Scope:
        return Scope(self.ns if ns is None else ns, self.env if env is None else env,
                     self.path if path is None else path, self.depth + 1,
                     self.templates + ((template,) if template else ()))


def qualify(ns: str, name: str) -> str:
    return f"{ns}.{name}" if ns else name


class Expander:
    """Expands one validated spec into a Graph. Use ``build_graph`` rather than this class directly."""

    def __init__(self, tree: LMap, model: Any):
        load_builtin_ops()
        load_builtin_connections()
        self.tree = tree
        self.model = model
        self.sink = DiagnosticSink()
        self.graph = Graph(name=model.name, diagnostics=self.sink.diagnostics)
        self.outputs: dict[str, Tensor] = {}  # named nodes and namespaces -> their output, for from:
        self.name_counts: dict[str, int] = {}
        blocks = tree.get("blocks") or {}
        self.blocks: dict[str, Any] = dict(blocks)
        for name in self.blocks:
            if name in OPS or name in CONNECTIONS or name in RESERVED_KEYS:
                self.sink.error(f"block '{name}' has the name of a built-in {'op' if name in OPS else 'keyword'}",
                                position_of(blocks, name), f"blocks.{name}", "rename the block")

    # ---- diagnostics -------------------------------------------------------------------------------------------
    def error(self, message: str, position: Position | None, path: str, hint: str | None = None) -> None:
        self.sink.error(message, position, path, hint)

    def evaluate(self, value: Any, scope: Scope, position: Position | None, path: str,
                 skip: frozenset[str] = frozenset(), top: bool = True) -> Any:
        """Substitute expressions in a value (deeply for mappings / lists, except under ``body`` / ``after``)."""
        if isinstance(value, str):
            try:
                result = substitute(value, scope.env)
            except ExprError as exc:
                error = _ItemError(exc.message, position, path, exc.hint)
                error.maybe_cascade = "in_" in value
                raise error from None
            if result is UNKNOWN:
                error = _ItemError("the input shape is unknown after an earlier error", position, path)
                error.maybe_cascade = True
                raise error
            return result
        if isinstance(value, dict):
            out = LMap(pos=getattr(value, "pos", None))
            if isinstance(value, LMap):
                out.key_pos, out.value_pos = value.key_pos, value.value_pos
            for key, item in value.items():
                if (top and key in skip) or (not top and key in ("body", "after")):
                    out[key] = item
                else:
                    out[key] = self.evaluate(item, scope, position_of(value, key) or position, join_path(path, key),
                                             skip, top=False)
            return out
        if isinstance(value, list):
            out_list = LList(pos=getattr(value, "pos", None))
            if isinstance(value, LList):
                out_list.item_pos = value.item_pos
            for index, item in enumerate(value):
                out_list.append(self.evaluate(item, scope, position_of(value, index) or position,
                                              join_path(path, index), skip, top=False))
            return out_list
        return value

    # ---- nodes --------------------------------------------------------------------------------------------------
    def unique_name(self, ns: str, base: str) -> str:
        full = qualify(ns, base)
        if full not in self.graph:
            return full
        count = self.name_counts.get(full, 0)
        while True:
            count += 1
            candidate = f"{full}_{count}"
            if candidate not in self.graph:
                self.name_counts[full] = count
                return candidate

    def claim_name(self, ns: str, name: str | None, op: str, position: Position | None, path: str) -> str:
        if name is None:
            return self.unique_name(ns, op)
        full = qualify(ns, name)
        if full in self.graph or full in self.outputs:
            other = self.graph.nodes[full].get("pos") if full in self.graph else None
            where = f" (first used at {other})" if other else ""
            raise _ItemError(f"the name '{full}' is used twice{where}", position, path,
                             "names are checkpoint keys and must be unique; rename one of them")
        return full

    def add_node(self, op: str, args: Any, inputs: list[Tensor], scope: Scope, name: str | None,
                 position: Position | None, path: str, raw: Any = None) -> Tensor:
        """Validate ``args`` for ``op``, infer the shape, count the cost, and add the node. Errors are recorded."""
        if len(self.graph) >= MAX_NODES:
            self.error(f"the network expands to more than {MAX_NODES:,} nodes", position, path,
                       "check repeat counts; this limit guards against runaway specs")
            raise _Abort
        cls = OPS[op]
        full = self.claim_name(scope.ns, name, op, position, path)
        defaults = self.model.defaults.get(op)
        if defaults:
            args = {**self.evaluate(defaults, scope, position, f"defaults.{op}"), **(args or {})}
        attrs: OpSpec | None = None
        shape: Shape | None = None
        message = None
        try:
            attrs = cls.model_validate(args or {})
        except ValidationError as exc:
            diagnostics = diagnostics_from_validation(exc, raw if raw is not None else args, join_path(path, op),
                                                      cls, position)
            self.sink.diagnostics.extend(diagnostics)
            message = diagnostics[0].message if diagnostics else "invalid arguments"
        if attrs is not None:
            arity = cls.arity
            if (arity is None and len(inputs) < 2) or (arity is not None and len(inputs) != arity):
                wanted = "two or more inputs" if arity is None else f"{arity} input{'s' if arity != 1 else ''}"
                message = f"{op} takes {wanted}, got {len(inputs)}"
                self.error(message, position, path, "list its inputs with from: [a, b]" if arity != 1 else
                           "from: names exactly one node here")
                attrs = None
        in_shapes = [t.shape for t in inputs]
        if attrs is not None and all(s is not None for s in in_shapes):
            try:
                shape = tuple(attrs.infer_shape(in_shapes))  # type: ignore[arg-type]
            except ShapeError as exc:
                message = exc.message
                self.error(exc.message, position, path, exc.hint)
        cost = {"params": 0, "buffers": 0, "macs": 0}
        if shape is not None and attrs is not None:
            cost = {"params": attrs.count_params(in_shapes, shape), "buffers": attrs.count_buffers(in_shapes, shape),
                    "macs": attrs.count_macs(in_shapes, shape)}
        self.graph.add_node(full, op=op, attrs=attrs, inputs=[t.node for t in inputs], shape=shape, pos=position,
                            path=path, auto_name=name is None, error=message, **cost)
        for port, tensor in enumerate(inputs):
            if not self.graph.has_edge(tensor.node, full):
                self.graph.add_edge(tensor.node, full, port=port)
        result = Tensor(full, shape)
        if name is not None:
            self.outputs[full] = result
        return result

    # ---- items --------------------------------------------------------------------------------------------------
    def expand_body(self, items: Any, x: Tensor, scope: Scope, position: Position | None = None) -> Tensor:
        """Expand a list of items in sequence, each fed by the previous one's output."""
        if scope.depth > MAX_NESTING:
            self.error(f"blocks nest deeper than {MAX_NESTING} levels", position, scope.path,
                       "a template that uses itself never ends")
            raise _Abort
        if isinstance(items, (str, dict)):
            items = [items]
        if not isinstance(items, list):
            self.error(f"expected a list of items, got {type(items).__name__}", position, scope.path)
            return Tensor(x.node, None)
        for index, item in enumerate(items):
            item_path = join_path(scope.path, index)
            item_pos = position_of(items, index) or position
            try:
                x = self.expand_item(item, x, scope, item_path, item_pos)
            except _ItemError as exc:
                if not (x.shape is None and exc.maybe_cascade):
                    self.error(exc.message, exc.position, exc.path, exc.hint)
                x = Tensor(x.node, None)
        return x

    def item_env(self, scope: Scope, x: Tensor) -> Scope:
        shape = x.shape
        values = {"in_channels": shape[0] if shape else UNKNOWN, "in_shape": list(shape) if shape else UNKNOWN}
        return Scope(scope.ns, scope.env.new_child(values), scope.path, scope.depth, scope.templates)

    def expand_item(self, item: Any, x: Tensor, scope: Scope, path: str, position: Position | None) -> Tensor:
        scope = self.item_env(Scope(scope.ns, scope.env, path, scope.depth, scope.templates), x)
        if isinstance(item, str):
            kind = self.evaluate(item, scope, position, path)
            return self.expand_kind(kind, None, None, x, scope, path, position, name=None)
        if not isinstance(item, dict):
            raise _ItemError(f"an item is an op name or a mapping, got {type(item).__name__} {item!r}", position,
                             path, "write e.g. `- relu` or `- {conv: {out: 64, kernel: 3}}`")
        kinds = [key for key in item if key not in RESERVED_KEYS]
        if "when" in item:
            when = self.evaluate(item["when"], scope, position_of(item, "when"), join_path(path, "when"))
            if not isinstance(when, bool):
                raise _ItemError(f"when: expects true or false, got {when!r}", position_of(item, "when"),
                                 join_path(path, "when"))
            if not when:
                return x
        name = None
        if "name" in item and "repeat" not in item:  # a repeat's name is evaluated per iteration
            name = self.evaluate(item["name"], scope, position_of(item, "name"), join_path(path, "name"))
            name = str(name)
            if not _NAME_RE.match(name):
                raise _ItemError(f"invalid name {name!r}", position_of(item, "name"), join_path(path, "name"),
                                 "names are letters, digits, _ and -, separated by dots")
        if "from" in item:
            sources = self.resolve_from(item["from"], scope, position_of(item, "from"), join_path(path, "from"))
        else:
            sources = None
        if "repeat" in item or "body" in item:
            if kinds:
                raise _ItemError(f"an item with repeat:/body: holds its ops in body:, not '{kinds[0]}:'",
                                 position_of(item, kinds[0]) if isinstance(item, LMap) else position,
                                 path, f"move {kinds[0]} into body: [...]")
            if "body" not in item:
                raise _ItemError("repeat: needs a body: list", position, path)
            if sources is not None:
                x = self.single_source(sources, position, path)
            if "repeat" in item:
                return self.expand_repeat(item, x, scope, path, position)
            if "as" in item:
                raise _ItemError("as: names the loop variable of repeat:", position_of(item, "as"), path)
            ns = qualify(scope.ns, name) if name is not None else scope.ns
            y = self.expand_body(item["body"], x, scope.child(ns=ns, path=join_path(path, "body")), position)
            if name is not None:
                self.outputs[ns] = y
            return y
        if "as" in item:
            raise _ItemError("as: names the loop variable of repeat:", position_of(item, "as"), path)
        if len(kinds) != 1:
            if not kinds:
                raise _ItemError("this item names no op, connection or block", position, path,
                                 f"known: {', '.join(sorted([*OPS, *CONNECTIONS, *self.blocks]))}")
            raise _ItemError(f"an item holds one op, connection or block; this one has {', '.join(kinds)}",
                             position_of(item, kinds[1]), path, "split it into one item each")
        kind = kinds[0]
        kind_pos = item.key_pos.get(kind, position) if isinstance(item, LMap) else position
        return self.expand_kind(kind, item[kind], sources, x, scope, path, kind_pos, name=name,
                                args_pos=position_of(item, kind))

    def expand_kind(self, kind: Any, args: Any, sources: list[Tensor] | None, x: Tensor, scope: Scope, path: str,
                    position: Position | None, name: str | None, args_pos: Position | None = None) -> Tensor:
        if not isinstance(kind, str):
            raise _ItemError(f"expected an op name, got {kind!r}", position, path)
        if args is not None and not isinstance(args, dict):
            raise _ItemError(f"{kind}: expects a mapping of arguments, got {args!r}", args_pos or position,
                             join_path(path, kind), f"write {kind}: {{...}}")
        if kind in OPS:
            values = self.evaluate(args or {}, scope, args_pos or position, join_path(path, kind))
            inputs = sources if sources is not None else [x]
            return self.add_node(kind, values, inputs, scope, name, position, path, raw=args)
        if sources is not None:
            x = self.single_source(sources, position, path)
            scope = self.item_env(scope, x)
        if kind in CONNECTIONS:
            return self.expand_connection(kind, args or LMap(), x, scope, path, position, name)
        if kind in self.blocks:
            return self.expand_template(kind, args or LMap(), x, scope, path, position, name)
        known = [*OPS, *CONNECTIONS, *self.blocks]
        raise _ItemError(f"unknown op, connection or block '{kind}'", position, path,
                         did_you_mean(kind, known) or f"known: {', '.join(sorted(known))}")

    def single_source(self, sources: list[Tensor], position: Position | None, path: str) -> Tensor:
        if len(sources) != 1:
            raise _ItemError(f"from: names {len(sources)} nodes, but this item takes one input", position, path,
                             "merge them first with add, mul or concat")
        return sources[0]

    def resolve_from(self, value: Any, scope: Scope, position: Position | None, path: str) -> list[Tensor]:
        refs = self.evaluate(value, scope, position, path)
        if not isinstance(refs, list):
            refs = [refs]
        out = []
        for index, ref in enumerate(refs):
            ref_pos = position_of(value, index) if isinstance(value, list) else position
            ref = str(ref)
            tensor = self.lookup(ref, scope.ns)
            if tensor is None:
                known = [*self.outputs, self.graph.input_node]
                raise _ItemError(f"from: unknown node '{ref}'", ref_pos or position, path,
                                 did_you_mean(ref, known) or "from: names a node or block named earlier")
            out.append(tensor)
        return out

    def lookup(self, ref: str, ns: str) -> Tensor | None:
        """Resolve a name like a nested scope: the current namespace first, then each enclosing one."""
        if ref == self.graph.input_node:
            data = self.graph.nodes[ref]
            return Tensor(ref, data["shape"])
        parts = ns.split(".") if ns else []
        for cut in range(len(parts), -1, -1):
            candidate = qualify(".".join(parts[:cut]), ref)
            if candidate in self.outputs:
                return self.outputs[candidate]
        return None

    def expand_repeat(self, item: Any, x: Tensor, scope: Scope, path: str, position: Position | None) -> Tensor:
        count = self.evaluate(item["repeat"], scope, position_of(item, "repeat"), join_path(path, "repeat"))
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise _ItemError(f"repeat: expects a count >= 0, got {count!r}", position_of(item, "repeat"),
                             join_path(path, "repeat"))
        if count > MAX_REPEAT:
            raise _ItemError(f"repeat: {count} is more than the limit {MAX_REPEAT:,}", position_of(item, "repeat"),
                             join_path(path, "repeat"))
        var = item.get("as")
        if var is not None and (not isinstance(var, str) or not var.isidentifier()):
            raise _ItemError(f"as: expects a variable name, got {var!r}", position_of(item, "as"),
                             join_path(path, "as"))
        for iteration in range(count):
            env = scope.env.new_child({var: iteration}) if var else scope.env
            iter_scope = Scope(scope.ns, env, path, scope.depth, scope.templates)
            if "name" in item:
                label = str(self.evaluate(item["name"], iter_scope, position_of(item, "name"), join_path(path, "name")))
                if label and not _NAME_RE.match(label):
                    raise _ItemError(f"invalid name {label!r}", position_of(item, "name"), join_path(path, "name"))
            else:
                label = str(iteration)
            ns = qualify(scope.ns, label) if label else scope.ns  # name: "" adds no level of its own
            x = self.expand_body(item["body"], x, iter_scope.child(ns=ns, env=env, path=f"{path}.body"), position)
            if label:
                self.outputs[ns] = x
        return x

    def expand_connection(self, kind: str, args: Any, x: Tensor, scope: Scope, path: str,
                          position: Position | None, name: str | None) -> Tensor:
        cls = CONNECTIONS[kind]
        conn_path = join_path(path, kind)
        values = self.evaluate(args, scope, position, conn_path, skip=cls.lazy_fields)
        try:
            spec = cls.model_validate(dict(values))
        except ValidationError as exc:
            self.sink.diagnostics.extend(diagnostics_from_validation(exc, args, conn_path, cls, position))
            return Tensor(x.node, None)
        ns = qualify(scope.ns, name) if name is not None else scope.ns
        inner = Scope(ns, scope.env, conn_path, scope.depth + 1, scope.templates)
        y = spec.expand(self, args, x, inner)
        if name is not None:
            self.outputs[ns] = y
        return y

    def expand_template(self, kind: str, args: Any, x: Tensor, scope: Scope, path: str,
                        position: Position | None, name: str | None) -> Tensor:
        block = self.blocks[kind]
        if kind in scope.templates:
            raise _ItemError(f"block '{kind}' uses itself ({' -> '.join([*scope.templates, kind])})", position, path,
                             "a template cannot contain itself")
        declared = (block.get("params") or {}) if isinstance(block, dict) else {}
        block_path = f"blocks.{kind}"
        problems = []
        for key in args:
            if key not in declared:
                problems.append(Diagnostic(f"block '{kind}' has no parameter '{key}'", args.key_pos.get(key, position)
                                           if isinstance(args, LMap) else position, join_path(path, kind),
                                           did_you_mean(key, list(declared)) or
                                           f"its parameters: {', '.join(declared) or 'none'}"))
        values = self.evaluate(args, scope, position, join_path(path, kind))
        # template variables: the spec's params, then the block's declared defaults, then the call's arguments;
        # loop variables of the call site are not visible inside (templates are hygienic)
        env = self.root_env.new_child({"in_channels": scope.env.get("in_channels"),
                                       "in_shape": scope.env.get("in_shape")})
        local: dict[str, Any] = {}
        env = env.new_child(local)
        for key, default in declared.items():
            if key in values:
                local[key] = values[key]
            elif default == REQUIRED:
                problems.append(Diagnostic(f"block '{kind}' needs parameter '{key}'", position, join_path(path, kind),
                                           f"pass it: {kind}: {{{key}: ...}}"))
            else:
                try:
                    local[key] = substitute(default, env) if isinstance(default, str) else default
                except ExprError as exc:
                    problems.append(Diagnostic(exc.message, position_of(declared, key), f"{block_path}.params.{key}",
                                               exc.hint))
        if problems:
            self.sink.diagnostics.extend(problems)
            return Tensor(x.node, None)
        ns = qualify(scope.ns, name) if name is not None else scope.ns
        inner = Scope(ns, env, f"{block_path}.body", scope.depth + 1, (*scope.templates, kind))
        y = self.expand_body(block["body"], x, inner, position)
        if name is not None:
            self.outputs[ns] = y
        return y

    # ---- driver -------------------------------------------------------------------------------------------------
    def run(self) -> Graph:
        model = self.model
        params = dict(self.tree.get("params") or {})
        self.root_env: ChainMap = ChainMap({**params, "params": params})
        input_spec = self.tree["input"]
        root = Scope("", self.root_env, "network")
        shape_value = self.evaluate(input_spec.get("shape"), root, position_of(input_spec, "shape"), "input.shape")
        shape: Shape | None = None
        if isinstance(shape_value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                 for v in shape_value):
            shape = tuple(shape_value)
        else:
            self.error(f"input.shape expects positive integers [C, H, W] or [features], got {shape_value!r}",
                       position_of(input_spec, "shape"), "input.shape")
        input_name = model.input.name
        self.graph.graph["input"] = input_name
        self.graph.add_node(input_name, op="input", attrs=None, inputs=[], shape=shape,
                            pos=position_of(self.tree, "input"), path="input", auto_name=False, error=None,
                            params=0, buffers=0, macs=0)
        try:
            out = self.expand_body(self.tree["network"], Tensor(input_name, shape), root, position_of(self.tree,
                                                                                                      "network"))
        except _Abort:
            out = Tensor(input_name, None)
        except _ItemError as exc:
            self.error(exc.message, exc.position, exc.path, exc.hint)
            out = Tensor(input_name, None)
        self.graph.graph["output"] = out.node
        return self.graph


class _ItemError(Exception):
    def __init__(self, message: str, position: Position | None, path: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.position, self.path, self.hint = message, position, path, hint
        # expression errors on unknown in_channels follow from an earlier error; they are not reported again
        self.maybe_cascade = False


def expand(tree: LMap, model: Any, strict: bool = True) -> Graph:
    """Expand a resolved, validated spec tree into a Graph; raise SpecError listing every problem if ``strict``."""
    graph = Expander(tree, model).run()
    if strict and graph.diagnostics:
        raise SpecError(graph.diagnostics)
    return graph
