"""Expansion: templates, repeat, when, ``${expressions}`` and connections unrolled into the graph IR.

Shapes are inferred as nodes are added, so ``in_channels`` / ``in_shape`` are known to every expression. Every
problem becomes a located diagnostic; after an error the affected tensor's shape becomes unknown (None) so that
expansion can go on and report the other, independent problems without a cascade of follow-on errors.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from pydantic import ValidationError

from archc.connections.registry import CONNECTIONS, load_builtin_connections
from archc.errors import Diagnostic, DiagnosticSink, Position, SpecError, did_you_mean
from archc.ir.graph import Graph
from archc.ops.registry import OPS, OpSpec, Shape, ShapeError, load_builtin_ops
from archc.spec.expr import ExprError, substitute
from archc.spec.loader import LList, LMap, paused_gc, position_of
from archc.spec.model import REQUIRED
from archc.spec.validation import diagnostics_from_validation, join_path

#: Limits that turn runaway specs into located errors instead of hangs or MemoryErrors.
MAX_NODES = 250_000
MAX_EDGES = 2_000_000  # a dense block of n layers wires n * n / 2 edges
MAX_STEPS = 2_000_000  # items and repeat iterations expanded, so loops over empty or when:-false bodies end too
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


class Env(dict):
    """The variables an expression sees. ``new_child`` returns a copy with more variables: ChainMap's interface,
    but flat, so a lookup is one dict probe however deeply templates and repeats nest."""

    __slots__ = ()

    def new_child(self, values: dict[str, Any] | None = None) -> Env:
        child = Env(self)
        if values:
            child.update(values)
        return child


class Tensor(NamedTuple):
    """A value flowing through expansion: the graph node that produces it and its logical shape."""

    node: str
    shape: Shape | None


class Scope(NamedTuple):
    """Where an item is expanded: its namespace, variables, spec path and nesting depth; ``position`` is that of the
    connection key (``residual:``) inside a connection, for errors about the connection as a whole."""

    ns: str
    env: Env
    path: str
    depth: int = 0
    templates: tuple[str, ...] = ()
    position: Position | None = None

    def child(self, ns: str | None = None, env: Env | None = None, path: str | None = None,
              template: str | None = None) -> Scope:
        return Scope(self.ns if ns is None else ns, self.env if env is None else env,
                     self.path if path is None else path, self.depth + 1,
                     self.templates + ((template,) if template else ()), self.position)


def qualify(ns: str, name: str) -> str:
    return f"{ns}.{name}" if ns else name


_NO_COST = {"params": 0, "buffers": 0, "macs": 0}  # read-only: nodes get copies


def _contains_expression(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, dict):
        return any(_contains_expression(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_expression(item) for item in value)
    return False


def _freeze(value: Any) -> Any:
    """A hashable key for validated arguments; types are part of it (``1``, ``1.0`` and ``true`` differ)."""
    if isinstance(value, dict):
        return (dict, *[(key, _freeze(item)) if isinstance(item, (dict, list)) else (key, type(item), item)
                        for key, item in value.items()])
    if isinstance(value, list):
        return (list, *[_freeze(item) for item in value])
    return (type(value), value)


def expression_position(position: Position | None, text: Any, column: int | None) -> Position | None:
    """Move the caret from the start of a YAML scalar to ``column`` inside the expression text, when the scalar is
    written on one line as is (plain or quoted without escapes); otherwise keep the scalar's position."""
    if position is None or column is None or not isinstance(text, str) or not position.line_text:
        return position
    line, start = position.line_text, position.col - 1
    if line[start:start + 1] in ("'", '"') and line.startswith(text, start + 1):
        start += 1
    elif not line.startswith(text, start):
        return position
    return Position(position.file, position.line, start + column + 1, position.line_text)


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
        self.edges = 0
        self.steps = 0
        self.defaults_have_expressions = _contains_expression(model.defaults)
        # caches: most layers of a network repeat the same arguments on the same shapes
        self._expression_free: dict[int, tuple[Any, bool]] = {}
        self._attrs: dict[tuple[str, Any], OpSpec] = {}
        self._shapes: dict[tuple[str, Any, tuple[Shape, ...]], tuple[Shape, dict[str, int]]] = {}
        blocks = tree.get("blocks") or {}
        self.blocks: dict[str, Any] = dict(blocks)
        for name in self.blocks:
            if name in OPS or name in CONNECTIONS or name in RESERVED_KEYS:
                self.sink.error(f"block '{name}' has the name of a built-in {'op' if name in OPS else 'keyword'}",
                                position_of(blocks, name), f"blocks.{name}", "rename the block")

    # ---- diagnostics -------------------------------------------------------------------------------------------
    def error(self, message: str, position: Position | None, path: str, hint: str | None = None) -> None:
        self.sink.error(message, position, path, hint)

    def step(self, position: Position | None, path: str) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            self.error(f"the spec takes more than {MAX_STEPS:,} expansion steps", position, path,
                       "check repeat counts; this limit guards against runaway specs")
            raise _Abort

    def has_expressions(self, value: Any) -> bool:
        """Whether a mapping or list holds any ``$`` string (remembered on located containers: the same YAML is
        expanded many times)."""
        if isinstance(value, (LMap, LList)):
            if value.exprs is None:
                value.exprs = _contains_expression(value)
            return value.exprs
        hit = self._expression_free.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        found = _contains_expression(value)
        self._expression_free[id(value)] = (value, found)
        return found

    def evaluate(self, value: Any, scope: Scope, position: Position | None, path: str,
                 skip: frozenset[str] = frozenset(), top: bool = True) -> Any:
        """Substitute expressions in a value (deeply for mappings / lists, except under ``body`` / ``after``)."""
        if isinstance(value, str):
            if "$" not in value:
                return value
            try:
                result = substitute(value, scope.env)
            except ExprError as exc:
                error = _ItemError(exc.message, expression_position(position, value, exc.column), path, exc.hint)
                error.maybe_cascade = "in_" in value
                raise error from None
            if result is UNKNOWN:
                error = _ItemError("the input shape is unknown after an earlier error", position, path)
                error.maybe_cascade = True
                raise error
            return result
        if isinstance(value, (dict, list)) and not self.has_expressions(value):
            return value
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
        if full in self.graph and self.graph.nodes[full].get("auto_name"):
            other = self.graph.nodes[full]
            where = f" (at {other['pos']})" if other.get("pos") else ""
            raise _ItemError(f"the name '{full}' is taken by an earlier unnamed {other['op']}{where}; "
                             "archc names unnamed nodes after their op", position, path,
                             "give the earlier node a name, or choose another name here")
        if full in self.graph or full in self.outputs:
            other = self.graph.nodes[full].get("pos") if full in self.graph else None
            where = f" (first used at {other})" if other else ""
            raise _ItemError(f"the name '{full}' is used twice{where}", position, path,
                             "names are checkpoint keys and must be unique: rename one, or give the enclosing block or "
                             "connection a name: of its own (only name: opens a namespace)")
        return full

    def add_node(self, op: str, args: Any, inputs: list[Tensor], scope: Scope, name: str | None,
                 position: Position | None, path: str, raw: Any = None) -> Tensor:
        """Validate ``args`` for ``op``, infer the shape, count the cost, and add the node. Errors are recorded."""
        if len(self.graph._node) >= MAX_NODES:
            self.error(f"the network expands to more than {MAX_NODES:,} nodes", position, path,
                       "check repeat counts; this limit guards against runaway specs")
            raise _Abort
        self.edges += len(inputs)
        if self.edges > MAX_EDGES:
            self.error(f"the network has more than {MAX_EDGES:,} connections", position, path,
                       "a dense block of n layers makes n * n / 2 of them; use fewer layers per block")
            raise _Abort
        cls = OPS[op]
        full = self.claim_name(scope.ns, name, op, position, path)
        defaults = self.model.defaults.get(op)
        if defaults:
            args = {**self.evaluate(defaults, scope, position, f"defaults.{op}"), **(args or {})}
        in_shapes = [t.shape for t in inputs]
        attrs, shape, cost, message = self.check_node(op, cls, args or {}, in_shapes, position, path, raw)
        self.graph.add_op_node(full, {"op": op, "attrs": attrs, "inputs": [t.node for t in inputs], "shape": shape,
                                      "pos": position, "path": path, "auto_name": name is None, "error": message,
                                      **cost})
        result = Tensor(full, shape)
        if name is not None:
            self.outputs[full] = result
        return result

    def check_node(self, op: str, cls: type[OpSpec], args: Any, in_shapes: list[Shape | None],
                   position: Position | None, path: str, raw: Any
                   ) -> tuple[OpSpec | None, Shape | None, dict[str, int], str | None]:
        """Validated attributes, output shape, cost and error message of one node (cached by arguments and shapes:
        op models are frozen and their shape and cost rules are functions of them)."""
        no_cost = _NO_COST
        try:
            key: Any = _freeze(args)
            hash(key)
        except TypeError:
            key = None
        attrs = self._attrs.get((op, key)) if key is not None else None
        if attrs is None:
            try:
                attrs = cls.model_validate(args)
            except ValidationError as exc:
                diagnostics = diagnostics_from_validation(exc, raw if raw is not None else args, join_path(path, op),
                                                          cls, position)
                self.sink.diagnostics.extend(diagnostics)
                return None, None, no_cost, diagnostics[0].message if diagnostics else "invalid arguments"
            if key is not None:
                self._attrs[(op, key)] = attrs
        arity = cls.arity
        if (arity is None and len(in_shapes) < 2) or (arity is not None and len(in_shapes) != arity):
            wanted = "two or more inputs" if arity is None else f"{arity} input{'s' if arity != 1 else ''}"
            message = f"{op} takes {wanted}, got {len(in_shapes)}"
            self.error(message, position, path, "list its inputs with from: [a, b]" if arity != 1 else
                       "from: names exactly one node here")
            return None, None, no_cost, message
        if None in in_shapes:
            return attrs, None, no_cost, None
        shape_key = (op, key, tuple(in_shapes)) if key is not None else None
        hit = self._shapes.get(shape_key) if shape_key is not None else None  # type: ignore[arg-type]
        if hit is not None:
            return attrs, hit[0], hit[1], None
        known: list[Shape] = in_shapes  # type: ignore[assignment]
        try:
            shape = tuple(attrs.infer_shape(known))
        except ShapeError as exc:
            self.error(exc.message, position, path, exc.hint)
            return attrs, None, no_cost, exc.message
        cost = {"params": attrs.count_params(known, shape), "buffers": attrs.count_buffers(known, shape),
                "macs": attrs.count_macs(known, shape)}
        if shape_key is not None:
            self._shapes[shape_key] = (shape, cost)
        return attrs, shape, cost, None

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
            self.step(item_pos, item_path)
            try:
                x = self.expand_item(item, x, scope, item_path, item_pos)
            except _ItemError as exc:
                if not exc.reported and not (x.shape is None and exc.maybe_cascade):
                    self.error(exc.message, exc.position, exc.path, exc.hint)
                x = Tensor(x.node, None)
        return x

    def evaluate_keys(self, item: LMap, scope: Scope, position: Position | None, path: str) -> LMap:
        out = LMap(pos=getattr(item, "pos", None))
        for key, value in item.items():
            key_pos = item.key_pos.get(key, position) if isinstance(item, LMap) else position
            new_key = self.evaluate(key, scope, key_pos, path) if isinstance(key, str) and "$" in key else key
            if not isinstance(new_key, str):
                raise _ItemError(f"expected an op name, got {new_key!r}", key_pos, path)
            out[new_key] = value
            if isinstance(item, LMap):
                out.key_pos[new_key] = key_pos
                out.value_pos[new_key] = item.value_pos.get(key, key_pos)
        return out

    def is_plain_op(self, item: Any) -> bool:
        """An op item without expressions (``relu``, ``{conv: {out: 64, kernel: 3}}``): most items of a network."""
        if isinstance(item, str):
            return item in OPS and not self.defaults_have_expressions
        if isinstance(item, dict) and not self.defaults_have_expressions and not self.has_expressions(item):
            kinds = [key for key in item if key not in RESERVED_KEYS]
            return len(kinds) == 1 and kinds[0] in OPS
        return False

    def item_env(self, scope: Scope, x: Tensor) -> Scope:
        shape = x.shape
        values = {"in_channels": shape[0] if shape else UNKNOWN, "in_shape": list(shape) if shape else UNKNOWN}
        return Scope(scope.ns, scope.env.new_child(values), scope.path, scope.depth, scope.templates, scope.position)

    def expand_item(self, item: Any, x: Tensor, scope: Scope, path: str, position: Position | None) -> Tensor:
        scope = Scope(scope.ns, scope.env, path, scope.depth, scope.templates, scope.position)
        if not self.is_plain_op(item):  # in_channels / in_shape are only needed where an expression may read them
            scope = self.item_env(scope, x)
        if isinstance(item, str):
            kind = self.evaluate(item, scope, position, path)
            return self.expand_kind(kind, None, None, x, scope, path, position, name=None)
        if not isinstance(item, dict):
            raise _ItemError(f"an item is an op name or a mapping, got {type(item).__name__} {item!r}", position,
                             path, "write e.g. `- relu` or `- {conv: {out: 64, kernel: 3}}`")
        kinds = [key for key in item if key not in RESERVED_KEYS]
        if any(isinstance(key, str) and "$" in key for key in kinds):  # {$act: {}}: the op is a parameter
            item = self.evaluate_keys(item, scope, position, path)
            kinds = [key for key in item if key not in RESERVED_KEYS]
        for key in kinds:
            if not isinstance(key, str) or key not in OPS and key not in CONNECTIONS and key not in self.blocks:
                known = [*RESERVED_KEYS, *OPS, *CONNECTIONS, *self.blocks]
                hint = did_you_mean(str(key), RESERVED_KEYS) or did_you_mean(str(key), known)
                if len(kinds) > 1 or hint in [f"did you mean '{word}'?" for word in RESERVED_KEYS]:
                    raise _ItemError(f"unknown key '{key}'", item.key_pos.get(key, position)
                                     if isinstance(item, LMap) else position, path,
                                     hint or f"an item has one op, connection or block and the keys "
                                     f"{', '.join(RESERVED_KEYS)}")
        if "when" in item:
            when = self.evaluate(item["when"], scope, position_of(item, "when"), join_path(path, "when"))
            if not isinstance(when, bool):
                raise _ItemError(f"expected true or false, got {when!r}", position_of(item, "when"),
                                 join_path(path, "when"), "when: takes a condition such as ${depth > 18}")
            if not when:
                return x
        name = None
        if "name" in item and "repeat" not in item:  # a repeat's name is evaluated per iteration
            name = self.evaluate(item["name"], scope, position_of(item, "name"), join_path(path, "name"))
            name = str(name) if name is not None else None
            is_op = len(kinds) == 1 and kinds[0] in OPS or isinstance(item, str)
            if name == "" and not is_op:
                name = None  # name: "" on a body, block or connection adds no level, as on a repeat
            elif name is not None and not _NAME_RE.match(name):
                raise _ItemError(f"invalid name {name!r}", position_of(item, "name"), join_path(path, "name"),
                                 "names are letters, digits, _ and -, separated by dots")
        try:
            return self.expand_named_item(item, kinds, name, x, scope, path, position)
        except _ItemError:
            if name is not None:  # later from: references to it are then not reported as unknown as well
                full = qualify(scope.ns, name)
                if full not in self.outputs and full not in self.graph:
                    self.outputs[full] = Tensor(x.node, None)
            raise

    def expand_named_item(self, item: Any, kinds: list[Any], name: str | None, x: Tensor, scope: Scope, path: str,
                          position: Position | None) -> Tensor:
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
            if sources:  # in_channels / in_shape are those of the (first) input named by from:
                scope = self.item_env(scope, sources[0])
            values = self.evaluate(args, scope, args_pos or position, join_path(path, kind)) if args else {}
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
        unknown = []
        for index, ref in enumerate(refs):
            ref_pos = position_of(value, index) if isinstance(value, list) else position
            ref = str(ref)
            tensor = self.lookup(ref, scope.ns)
            if tensor is None:
                unknown.append(Diagnostic(f"unknown node '{ref}'", ref_pos or position, path,
                                          did_you_mean(ref, self.visible_names(scope.ns)) or
                                          "from: names a node or block named earlier"))
            out.append(tensor)
        if unknown:
            self.sink.diagnostics.extend(unknown)
            error = _ItemError(unknown[0].message, unknown[0].position, path)
            error.reported = True
            raise error
        return out

    def visible_names(self, ns: str) -> list[str]:
        """Names from: can use here: full names, and names relative to each enclosing namespace."""
        names = [*self.outputs, self.graph.input_node]
        parts = ns.split(".") if ns else []
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut]) + "."
            names += [name[len(prefix):] for name in self.outputs if name.startswith(prefix)]
        return names

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
            raise _ItemError(f"expected a count (an integer >= 0), got {count!r}", position_of(item, "repeat"),
                             join_path(path, "repeat"))
        if count > MAX_REPEAT:
            raise _ItemError(f"repeat: {count} is more than the limit {MAX_REPEAT:,}", position_of(item, "repeat"),
                             join_path(path, "repeat"))
        var = item.get("as")
        if var is not None and (not isinstance(var, str) or not var.isidentifier()):
            raise _ItemError(f"as: expects a variable name, got {var!r}", position_of(item, "as"),
                             join_path(path, "as"))
        labels: set[str] = set()
        for iteration in range(count):
            self.step(position, path)
            env = scope.env.new_child({var: iteration}) if var else scope.env
            iter_scope = Scope(scope.ns, env, path, scope.depth, scope.templates, scope.position)
            if "name" in item:
                name_pos, name_path = position_of(item, "name"), join_path(path, "name")
                label = str(self.evaluate(item["name"], iter_scope, name_pos, name_path))
                if label and not _NAME_RE.match(label):
                    raise _ItemError(f"invalid name {label!r}", name_pos, name_path)
                if label and label in labels:
                    loop = f"as: {var}, " if var else "as: i, "
                    raise _ItemError(f"every iteration of this repeat is named '{label}'", name_pos, name_path,
                                     f"name: names each iteration: use the loop variable ({loop}name: "
                                     f"{label}${{{var or 'i'}}}), or put the repeat inside "
                                     f"{{name: {label}, body: [...]}}")
                labels.add(label)
            else:
                label = str(iteration)
            ns = qualify(scope.ns, label) if label else scope.ns  # name: "" adds no level of its own
            x = self.expand_body(item["body"], x, iter_scope.child(ns=ns, env=env, path=f"{path}.body"),
                                 position_of(item, "body") or position)
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
        inner = Scope(ns, scope.env, conn_path, scope.depth + 1, scope.templates, position)
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
        call_path = join_path(path, kind)
        problems = []
        suggested = set()
        for key in args:
            if key not in declared:
                hint = did_you_mean(key, list(declared))
                if hint:
                    suggested.add(hint.split("'")[1])
                problems.append(Diagnostic(f"block '{kind}' has no parameter '{key}'", args.key_pos.get(key, position)
                                           if isinstance(args, LMap) else position, call_path,
                                           hint or f"its parameters: {', '.join(declared) or 'none'}"))
        try:
            values = self.evaluate(args, scope, position, call_path)
        except _ItemError as exc:
            self.sink.diagnostics.extend(problems)
            raise exc
        # template variables: the spec's params, then the block's declared defaults, then the call's arguments;
        # loop variables of the call site are not visible inside (templates are hygienic)
        env = self.root_env.new_child({"in_channels": scope.env.get("in_channels"),
                                       "in_shape": scope.env.get("in_shape")})
        for key, default in declared.items():
            if key in values:
                env[key] = values[key]
            elif default == REQUIRED:
                if key not in suggested:  # a misspelt argument is reported once, as unknown, with this as its fix
                    problems.append(Diagnostic(f"block '{kind}' needs parameter '{key}'", position, call_path,
                                               f"pass it: {kind}: {{{key}: ...}}"))
            else:
                try:
                    env[key] = substitute(default, env) if isinstance(default, str) else default
                except ExprError as exc:
                    problems.append(Diagnostic(exc.message, expression_position(position_of(declared, key), default,
                                                                                exc.column),
                                               f"{block_path}.params.{key}", exc.hint))
        if problems:
            self.sink.diagnostics.extend(problems)
            return Tensor(x.node, None)
        ns = qualify(scope.ns, name) if name is not None else scope.ns
        inner = Scope(ns, env, f"{block_path}.body", scope.depth + 1, (*scope.templates, kind))
        first = len(self.sink.diagnostics)
        try:
            y = self.expand_body(block["body"], x, inner, position_of(block, "body") or position)
        finally:
            # errors inside the template point at its body; a note says which use of the template it was
            where = f" ({ns})" if ns else ""
            note = Diagnostic(f"in block '{kind}'{where}, used here", position, severity="note")
            for diagnostic in self.sink.diagnostics[first:]:
                diagnostic.notes.append(note)
        if name is not None:
            self.outputs[ns] = y
        return y

    # ---- driver -------------------------------------------------------------------------------------------------
    def run(self) -> Graph:
        model = self.model
        params = dict(self.tree.get("params") or {})
        self.root_env = Env({**params, "params": params})
        input_spec = self.tree["input"]
        root = Scope("", self.root_env, "network")
        shape: Shape | None = None
        try:
            shape_value = self.evaluate(input_spec.get("shape"), root, position_of(input_spec, "shape"),
                                        "input.shape")
        except _ItemError as exc:
            self.error(exc.message, exc.position, exc.path, exc.hint)
        else:
            if isinstance(shape_value, list) and all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                                     for v in shape_value):
                shape = tuple(shape_value)
            else:
                self.error(f"expected positive integers [C, H, W] or [features], got {shape_value!r}",
                           position_of(input_spec, "shape"), "input.shape")
        input_name = model.input.name
        self.graph.graph["input"] = input_name
        self.graph.add_node(input_name, op="input", attrs=None, inputs=[], shape=shape,
                            pos=position_of(self.tree, "input"), path="input", auto_name=False, error=None,
                            params=0, buffers=0, macs=0)
        try:
            out = self.expand_body(self.tree["network"], Tensor(input_name, shape), root,
                                   position_of(self.tree, "network"))
        except _Abort:
            out = Tensor(input_name, None)
        except _ItemError as exc:
            if not exc.reported:
                self.error(exc.message, exc.position, exc.path, exc.hint)
            out = Tensor(input_name, None)
        self.graph.graph["output"] = out.node
        if len(self.graph) == 1 and not self.sink:
            self.error("the network has no ops: every item was skipped or empty", position_of(self.tree, "network"),
                       "network", "check the when: conditions and repeat: counts")
        self.sink.diagnostics[:] = _collapse(self.sink.diagnostics)
        return self.graph


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


class _ItemError(Exception):
    def __init__(self, message: str, position: Position | None, path: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.position, self.path, self.hint = message, position, path, hint
        # expression errors on unknown in_channels follow from an earlier error; they are not reported again
        self.maybe_cascade = False
        self.reported = False  # the diagnostics are recorded already


def expand(tree: LMap, model: Any, strict: bool = True) -> Graph:
    """Expand a resolved, validated spec tree into a Graph; raise SpecError listing every problem if ``strict``."""
    with paused_gc():
        graph = Expander(tree, model).run()
    if strict and graph.diagnostics:
        raise SpecError(graph.diagnostics)
    return graph
