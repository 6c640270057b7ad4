"""Interpreting items: an op, a connection, a template use, ``repeat``, ``body``, ``when`` and ``from:``.

The :class:`Interpreter` walks item lists and adds nodes; names are resolved by :mod:`archc.spec.names`, expressions
by :mod:`archc.spec.evaluate`, nodes are checked by :mod:`archc.spec.nodes`, and connections expand themselves
through the public :class:`archc.spec.context.Context`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from archc.errors import Diagnostic, DiagnosticSink, Position, did_you_mean
from archc.ir.draft import GraphDraft
from archc.ops.registry import OPS
from archc.spec.context import CONNECTIONS, Context, ItemError, Tensor
from archc.spec.evaluate import UNKNOWN, Evaluator, contains_expression, expression_position
from archc.spec.expr import ExprError, substitute
from archc.spec.loader import LMap, position_of
from archc.spec.model import REQUIRED
from archc.spec.names import NAME_RE, Env, Names, Scope, qualify
from archc.spec.nodes import NodeCache
from archc.spec.validation import diagnostics_from_validation, join_path

RESERVED_KEYS = ("name", "when", "from", "repeat", "as", "body")
#: ``name: "#"``: the next index in the namespace (torch Sequential numbering where an optional layer is absent)
NEXT_INDEX = "#"


class Abort(Exception):
    """Raised to stop expansion at a resource limit (the diagnostic is already recorded)."""


@dataclass(frozen=True)
class Limits:
    """Limits that turn runaway specs into located errors instead of hangs or MemoryErrors."""

    nodes: int
    edges: int
    steps: int
    nesting: int
    repeat: int


class Interpreter:
    """Expands the items of one validated spec into ``graph``; problems are recorded in ``sink``."""

    def __init__(self, graph: GraphDraft, sink: DiagnosticSink, limits: Limits, blocks: dict[str, Any],
                 defaults: tuple[dict[str, Any], set[str]], root_env: Env):
        self.graph, self.sink, self.limits = graph, sink, limits
        self.blocks, self.root_env = blocks, root_env
        self.defaults, self.broken_defaults = defaults  # the usable entries, and the ops whose entry was wrong
        # plain snapshots of the registries: a lookup per item is a dict probe, not a registry call
        self.ops: dict[str, Any] = dict(OPS.items())
        self.connections: dict[str, Any] = dict(CONNECTIONS.items())
        self.names = Names(graph, sink)
        self.cache = NodeCache(sink)
        self.evaluator = Evaluator()
        self.defaults_have_expressions = contains_expression(self.defaults)
        self.edges = 0
        self.steps = 0

    # ---- shared services ---------------------------------------------------------------------------------------
    def error(self, message: str, position: Position | None, path: str, hint: str | None = None) -> None:
        self.sink.error(message, position, path, hint)

    def step(self, position: Position | None, path: str) -> None:
        self.steps += 1
        if self.steps > self.limits.steps:
            self.error(f"the spec takes more than {self.limits.steps:,} expansion steps", position, path,
                       "check repeat counts; this limit guards against runaway specs")
            raise Abort

    def evaluate(self, value: Any, scope: Scope, position: Position | None, path: str,
                 skip: frozenset[str] = frozenset()) -> Any:
        return self.evaluator.evaluate(value, scope, position, path, skip)

    def known_kinds(self) -> list[str]:
        return [*self.ops, *self.connections, *self.blocks]

    # ---- nodes --------------------------------------------------------------------------------------------------
    def add_node(self, op: str, args: Any, inputs: list[Tensor], scope: Scope, name: str | None,
                 position: Position | None, path: str, raw: Any = None,
                 connection: dict[str, str] | None = None) -> Tensor:
        """Validate ``args`` for ``op``, infer the shape, count the cost, and add the node. Errors are recorded."""
        self._count_node(len(inputs), position, path)
        full = self.names.claim(scope.ns, name, op, position, path)
        defaults = self.defaults.get(op)
        if defaults:
            args = {**self.evaluate(defaults, scope, position, f"defaults.{op}"), **(args or {})}
        checked = self.cache.check(op, self.ops[op], args or {}, [t.shape for t in inputs], position, path, raw,
                                   quiet_missing=op in self.broken_defaults)
        self.graph.add_op_node(full, {"op": op, "attrs": checked.attrs, "inputs": [t.node for t in inputs],
                                      "shape": checked.shape, "pos": position, "path": path,
                                      "auto_name": name is None, "error": checked.error, "connection": connection,
                                      **checked.cost})
        result = Tensor(full, checked.shape)
        if name is not None:
            self.names.publish(full, result, position)
        return result

    def _count_node(self, inputs: int, position: Position | None, path: str) -> None:
        if len(self.graph._node) >= self.limits.nodes:
            self.error(f"the network expands to more than {self.limits.nodes:,} nodes", position, path,
                       "check repeat counts; this limit guards against runaway specs")
            raise Abort
        self.edges += inputs
        if self.edges > self.limits.edges:
            self.error(f"the network has more than {self.limits.edges:,} connections", position, path,
                       "a dense block of n layers makes n * n / 2 of them; use fewer layers per block")
            raise Abort

    # ---- item lists ---------------------------------------------------------------------------------------------
    def expand_body(self, items: Any, x: Tensor, scope: Scope, position: Position | None = None) -> Tensor:
        """Expand a list of items in sequence, each fed by the previous one's output."""
        if scope.depth > self.limits.nesting:
            self.error(f"blocks nest deeper than {self.limits.nesting} levels", position, scope.path,
                       "a template that uses itself never ends")
            raise Abort
        if isinstance(items, (str, dict)):
            items = [items]
        if not isinstance(items, list):
            self.error(f"expected a list of items, got {_kind_of(items)}", position, scope.path)
            return Tensor(x.node, None)
        for index, item in enumerate(items):
            item_path = join_path(scope.path, index)
            item_pos = position_of(items, index) or position
            self.step(item_pos, item_path)
            try:
                x = self.expand_item(item, x, scope, item_path, item_pos)
            except ItemError as exc:
                if not exc.reported and not (x.shape is None and exc.maybe_cascade):
                    self.error(exc.message, exc.position, exc.path, exc.hint)
                x = Tensor(x.node, None)
        return x

    def item_env(self, scope: Scope, x: Tensor) -> Scope:
        """``scope`` with ``in_channels`` / ``in_shape`` of ``x`` bound."""
        shape = x.shape
        values = {"in_channels": shape[0] if shape else UNKNOWN, "in_shape": list(shape) if shape else UNKNOWN}
        return scope.at(scope.path, scope.env.new_child(values))

    def is_plain_op(self, item: Any) -> bool:
        """An op item without expressions (``relu``, ``{conv: {out: 64, kernel: 3}}``): most items of a network."""
        if self.defaults_have_expressions:
            return False
        if isinstance(item, str):
            return item in self.ops
        if isinstance(item, dict) and not self.evaluator.has_expressions(item):
            kinds = [key for key in item if key not in RESERVED_KEYS]
            return len(kinds) == 1 and kinds[0] in self.ops
        return False

    # ---- one item -----------------------------------------------------------------------------------------------
    def expand_item(self, item: Any, x: Tensor, scope: Scope, path: str, position: Position | None) -> Tensor:
        scope = scope.at(path)
        if not self.is_plain_op(item):  # in_channels / in_shape are only needed where an expression may read them
            scope = self.item_env(scope, x)
        if isinstance(item, str):
            kind = self.evaluate(item, scope, position, path)
            return self.expand_kind(kind, None, None, x, scope, path, position, name=None)
        if not isinstance(item, dict):
            raise ItemError(f"an item is an op name or a mapping, got {_kind_of(item)} {item!r}", position,
                            path, "write e.g. `- relu` or `- {conv: {out: 64, kernel: 3}}`")
        try:
            item, kinds = self._kinds(item, scope, position, path)
            if "when" in item and not self._when(item, scope, path):
                return x
            name = self._name(item, kinds, scope, path) if "name" in item else None
        except ItemError:
            self._declare_written_name(item, x, scope)
            raise
        try:
            y = self.expand_named_item(item, kinds, name, x, scope, path, position)
        except ItemError:
            if name is not None:  # later from: references to it are then not reported as unknown as well
                self.names.declare_failed(qualify(scope.ns, name), x, position_of(item, "name"))
            raise
        if name is not None and "repeat" not in item:
            self.names.declare_failed(qualify(scope.ns, name), y, position_of(item, "name"))
        return y

    def _declare_written_name(self, item: Any, x: Tensor, scope: Scope) -> None:
        """An item failed before its name was read: a plain ``name:`` still names the failure, so that later
        ``from:`` references to it stay silent."""
        name = item.get("name") if isinstance(item, dict) and "repeat" not in item else None
        if isinstance(name, str) and "$" not in name and NAME_RE.match(name):
            self.names.declare_failed(qualify(scope.ns, name), x, position_of(item, "name"))

    def _kinds(self, item: Any, scope: Scope, position: Position | None, path: str) -> tuple[Any, list[Any]]:
        """The item (with ``$`` keys evaluated) and its op / connection / block keys; unknown keys are errors."""
        kinds = [key for key in item if key not in RESERVED_KEYS]
        if any(isinstance(key, str) and "$" in key for key in kinds):  # {$act: {}}: the op is a parameter
            item = self.evaluate_keys(item, scope, position, path)
            kinds = [key for key in item if key not in RESERVED_KEYS]
        for key in kinds:
            if isinstance(key, str) and (key in self.ops or key in self.connections or key in self.blocks):
                continue
            hint = did_you_mean(str(key), RESERVED_KEYS) or did_you_mean(str(key), [*RESERVED_KEYS,
                                                                                     *self.known_kinds()])
            if len(kinds) > 1 or hint in [f"did you mean '{word}'?" for word in RESERVED_KEYS]:
                raise ItemError(f"unknown key '{key}'", item.key_pos.get(key, position)
                                if isinstance(item, LMap) else position, path,
                                hint or f"an item has one op, connection or block and the keys "
                                f"{', '.join(RESERVED_KEYS)}")
        return item, kinds

    def _when(self, item: Any, scope: Scope, path: str) -> bool:
        when = self.evaluate(item["when"], scope, position_of(item, "when"), join_path(path, "when"))
        if not isinstance(when, bool):
            raise ItemError(f"expected true or false, got {when!r}", position_of(item, "when"),
                            join_path(path, "when"), "when: takes a condition such as ${depth > 18}")
        return when

    def _name(self, item: Any, kinds: list[Any], scope: Scope, path: str) -> str | None:
        if "repeat" in item:  # a repeat's name is evaluated per iteration
            return None
        name = self.evaluate(item["name"], scope, position_of(item, "name"), join_path(path, "name"))
        name = str(name) if name is not None else None
        if name == NEXT_INDEX:
            return self.names.next_index(scope.ns)
        is_op = len(kinds) == 1 and kinds[0] in self.ops
        if name == "" and not is_op:
            return None  # name: "" on a body, block or connection adds no level, as on a repeat
        if name is not None and not NAME_RE.match(name):
            raise ItemError(f"invalid name {name!r}", position_of(item, "name"), join_path(path, "name"),
                            _name_hint(name))
        return name

    def evaluate_keys(self, item: LMap, scope: Scope, position: Position | None, path: str) -> LMap:
        out = LMap(pos=getattr(item, "pos", None))
        for key, value in item.items():
            key_pos = item.key_pos.get(key, position) if isinstance(item, LMap) else position
            new_key = self.evaluate(key, scope, key_pos, path) if isinstance(key, str) and "$" in key else key
            if not isinstance(new_key, str):
                raise ItemError(f"expected an op name, got {new_key!r}", key_pos, path)
            out[new_key] = value
            if isinstance(item, LMap):
                out.key_pos[new_key] = key_pos
                out.value_pos[new_key] = item.value_pos.get(key, key_pos)
        return out

    def expand_named_item(self, item: Any, kinds: list[Any], name: str | None, x: Tensor, scope: Scope, path: str,
                          position: Position | None) -> Tensor:
        sources = self.resolve_from(item, scope, path) if "from" in item else None
        if "repeat" in item or "body" in item:
            return self._expand_group(item, kinds, name, sources, x, scope, path, position)
        if "as" in item:
            raise ItemError("as: names the loop variable of repeat:", position_of(item, "as"), path)
        if len(kinds) != 1:
            if not kinds:
                raise ItemError("this item names no op, connection or block", position, path,
                                f"known: {', '.join(sorted(self.known_kinds()))}")
            raise ItemError(f"an item holds one op, connection or block; this one has {', '.join(kinds)}",
                            position_of(item, kinds[1]), path, "split it into one item each")
        kind = kinds[0]
        kind_pos = item.key_pos.get(kind, position) if isinstance(item, LMap) else position
        return self.expand_kind(kind, item[kind], sources, x, scope, path, kind_pos, name=name,
                                args_pos=position_of(item, kind))

    def _expand_group(self, item: Any, kinds: list[Any], name: str | None, sources: list[Tensor] | None, x: Tensor,
                      scope: Scope, path: str, position: Position | None) -> Tensor:
        """An item with ``body:`` (and maybe ``repeat:``)."""
        if kinds:
            raise ItemError(f"an item with repeat:/body: holds its ops in body:, not '{kinds[0]}:'",
                            position_of(item, kinds[0]) if isinstance(item, LMap) else position,
                            path, f"move {kinds[0]} into body: [...]")
        if "body" not in item:
            raise ItemError("repeat: needs a body: list", position, path)
        if sources is not None:
            x = self.single_source(sources, position, path)
        if "repeat" in item:
            return self.expand_repeat(item, x, scope, path, position)
        if "as" in item:
            raise ItemError("as: names the loop variable of repeat:", position_of(item, "as"), path)
        ns = qualify(scope.ns, name) if name is not None else scope.ns
        y = self.expand_body(item["body"], x, scope.child(ns=ns, path=join_path(path, "body")), position)
        if name is not None:
            self.names.publish(ns, y, position_of(item, "name"))
        return y

    def expand_kind(self, kind: Any, args: Any, sources: list[Tensor] | None, x: Tensor, scope: Scope, path: str,
                    position: Position | None, name: str | None, args_pos: Position | None = None) -> Tensor:
        if not isinstance(kind, str):
            raise ItemError(f"expected an op name, got {kind!r}", position, path)
        if args is not None and not isinstance(args, dict):
            raise ItemError(f"{kind}: expects a mapping of arguments, got {args!r}", args_pos or position,
                            join_path(path, kind), f"write {kind}: {{...}}")
        if kind in self.ops:
            if sources:  # in_channels / in_shape are those of the (first) input named by from:
                scope = self.item_env(scope, sources[0])
            values = self.evaluate(args, scope, args_pos or position, join_path(path, kind)) if args else {}
            inputs = sources if sources is not None else [x]
            return self.add_node(kind, values, inputs, scope, name, position, path, raw=args)
        if sources is not None:
            x = self.single_source(sources, position, path)
            scope = self.item_env(scope, x)
        if kind in self.connections:
            return self.expand_connection(kind, args or LMap(), x, scope, path, position, name)
        if kind in self.blocks:
            return self.expand_template(kind, args or LMap(), x, scope, path, position, name)
        known = self.known_kinds()
        raise ItemError(f"unknown op, connection or block '{kind}'", position, path,
                        did_you_mean(kind, known) or f"known: {', '.join(sorted(known))}")

    # ---- from: -------------------------------------------------------------------------------------------------
    def single_source(self, sources: list[Tensor], position: Position | None, path: str) -> Tensor:
        if len(sources) != 1:
            raise ItemError(f"from: names {len(sources)} nodes, but this item takes one input", position, path,
                            "merge them first with add, mul or concat")
        return sources[0]

    def resolve_from(self, item: Any, scope: Scope, path: str) -> list[Tensor]:
        position, from_path = position_of(item, "from"), join_path(path, "from")
        refs = self.evaluate(item["from"], scope, position, from_path)
        return self.names.resolve(refs, item["from"], scope.ns, position, from_path)

    # ---- repeat ------------------------------------------------------------------------------------------------
    def expand_repeat(self, item: Any, x: Tensor, scope: Scope, path: str, position: Position | None) -> Tensor:
        count = self._repeat_count(item, scope, path)
        var = item.get("as")
        if var is not None and (not isinstance(var, str) or not var.isidentifier()):
            raise ItemError(f"as: expects a variable name, got {var!r}", position_of(item, "as"),
                            join_path(path, "as"))
        labels: set[str] = set()
        for iteration in range(count):
            self.step(position, path)
            env = scope.env.new_child({var: iteration}) if var else scope.env
            iter_scope = scope.at(path, env)
            label = self._iteration_label(item, iteration, iter_scope, path, labels, var)
            ns = qualify(scope.ns, label) if label else scope.ns  # name: "" adds no level of its own
            x = self.expand_body(item["body"], x, iter_scope.child(ns=ns, env=env, path=f"{path}.body"),
                                 position_of(item, "body") or position)
            if label:
                self.names.publish(ns, x, position_of(item, "name") or position)
        return x

    def _repeat_count(self, item: Any, scope: Scope, path: str) -> int:
        where, repeat_path = position_of(item, "repeat"), join_path(path, "repeat")
        count = self.evaluate(item["repeat"], scope, where, repeat_path)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ItemError(f"expected a count (an integer >= 0), got {count!r}", where, repeat_path)
        if count > self.limits.repeat:
            raise ItemError(f"repeat: {count} is more than the limit {self.limits.repeat:,}", where, repeat_path)
        return count

    def _iteration_label(self, item: Any, iteration: int, scope: Scope, path: str, labels: set[str],
                         var: str | None) -> str:
        if "name" not in item:
            return str(iteration)
        name_pos, name_path = position_of(item, "name"), join_path(path, "name")
        label = str(self.evaluate(item["name"], scope, name_pos, name_path))
        if label == NEXT_INDEX:
            label = self.names.next_index(scope.ns)
        if label and not NAME_RE.match(label):
            raise ItemError(f"invalid name {label!r}", name_pos, name_path, _name_hint(label))
        if label and label in labels:
            loop = f"as: {var}, " if var else "as: i, "
            raise ItemError(f"every iteration of this repeat is named '{label}'", name_pos, name_path,
                            f"name: names each iteration: use the loop variable ({loop}name: "
                            f"{label}${{{var or 'i'}}}), or put the repeat inside "
                            f"{{name: {label}, body: [...]}}")
        labels.add(label)
        return label

    # ---- connections -------------------------------------------------------------------------------------------
    def expand_connection(self, kind: str, args: Any, x: Tensor, scope: Scope, path: str,
                          position: Position | None, name: str | None) -> Tensor:
        cls = self.connections[kind]
        conn_path = join_path(path, kind)
        values = self.evaluate(args, scope, position, conn_path, skip=cls.lazy_fields)
        ns = qualify(scope.ns, name) if name is not None else scope.ns
        try:
            connection = cls.model_validate(dict(values))
        except ValidationError as exc:
            self.sink.diagnostics.extend(diagnostics_from_validation(exc, args, conn_path, cls, position))
            return Tensor(x.node, None)
        inner = Scope(ns, scope.env, conn_path, scope.depth + 1, scope.templates, position)
        self._check_renames(cls, connection.names, args, conn_path, position)
        context = Context(self, inner, args, kind, self.names.connection_name(scope.ns, kind, name),
                          connection.names)
        y = connection.expand(context, x)
        if name is not None:
            self.names.publish(ns, y, position)
        return y

    @staticmethod
    def _check_renames(cls: type, renames: dict[str, str], args: Any, path: str, position: Position | None) -> None:
        """``names:`` renames roles the connection has (cls.roles; None: any), to valid names."""
        where = position_of(args, "names") or position
        for role, new in renames.items():
            if cls.roles is not None and role not in cls.roles:
                raise ItemError(f"{cls.kind} adds no '{role}' node", where, join_path(path, "names"),
                                did_you_mean(role, sorted(cls.roles)) or f"its nodes: {', '.join(sorted(cls.roles))}")
            if not NAME_RE.match(new):
                raise ItemError(f"invalid name {new!r} for the {role} node", where, join_path(path, f"names.{role}"),
                                "names are letters, digits, _ and -, separated by dots")

    # ---- templates ---------------------------------------------------------------------------------------------
    def expand_template(self, kind: str, args: Any, x: Tensor, scope: Scope, path: str,
                        position: Position | None, name: str | None) -> Tensor:
        block = self.blocks[kind]
        if kind in scope.templates:
            raise ItemError(f"block '{kind}' uses itself ({' -> '.join([*scope.templates, kind])})", position, path,
                            "a template cannot contain itself")
        env = self._template_env(kind, block, args, scope, path, position)
        if env is None:
            return Tensor(x.node, None)
        ns = qualify(scope.ns, name) if name is not None else scope.ns
        inner = Scope(ns, env, f"blocks.{kind}.body", scope.depth + 1, (*scope.templates, kind))
        input_name = block.get("input") if isinstance(block, dict) else None  # `input: x`: the body reads from: x
        shadowed = None
        if input_name:
            line = getattr(position_of(block, "input"), "line", None)
            owner = f"block '{kind}'" + (f" (input: at line {line})" if line else "")
            shadowed = self.names.bind_input(ns, input_name, x, owner, position, join_path(path, kind))
        first = len(self.sink.diagnostics)
        try:
            y = self.expand_body(block["body"], x, inner, position_of(block, "body") or position)
        finally:
            if input_name:
                self.names.unbind_input(ns, input_name, shadowed)
            # errors inside the template point at its body; a note says which use of the template it was
            where = f" ({ns})" if ns else ""
            note = Diagnostic(f"in block '{kind}'{where}, used here", position, severity="note")
            for diagnostic in self.sink.diagnostics[first:]:
                diagnostic.notes.append(note)
        if name is not None:
            self.names.publish(ns, y, position)
        return y

    def _template_env(self, kind: str, block: Any, args: Any, scope: Scope, path: str,
                      position: Position | None) -> Env | None:
        """The variables inside one use of a template, or None after reporting its problems."""
        declared = (block.get("params") or {}) if isinstance(block, dict) else {}
        call_path = join_path(path, kind)
        problems, suggested = self._unknown_arguments(kind, declared, args, position, call_path)
        try:
            values = self.evaluate(args, scope, position, call_path)
        except ItemError:
            self.sink.diagnostics.extend(problems)
            raise
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
                problem = _bind_default(env, key, default, declared, f"blocks.{kind}.params.{key}")
                problems += [problem] if problem else []
        if problems:
            self.sink.diagnostics.extend(problems)
            return None
        return env

    def _unknown_arguments(self, kind: str, declared: dict[str, Any], args: Any, position: Position | None,
                           call_path: str) -> tuple[list[Diagnostic], set[str]]:
        problems, suggested = [], set()
        for key in args:
            if key in declared:
                continue
            hint = did_you_mean(key, list(declared))
            if hint:
                suggested.add(hint.split("'")[1])
            problems.append(Diagnostic(f"block '{kind}' has no parameter '{key}'", args.key_pos.get(key, position)
                                       if isinstance(args, LMap) else position, call_path,
                                       hint or f"its parameters: {', '.join(declared) or 'none'}"))
        return problems, suggested


def _bind_default(env: Env, key: str, default: Any, declared: Any, path: str) -> Diagnostic | None:
    try:
        env[key] = substitute(default, env) if isinstance(default, str) else default
    except ExprError as exc:
        return Diagnostic(exc.message, expression_position(position_of(declared, key), default, exc.column), path,
                          exc.hint)
    return None


def _kind_of(value: Any) -> str:
    """The kind of a YAML value, in the words of the spec format (never an internal type name)."""
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", type(None): "null"}.get(type(value), "value")


def _name_hint(name: str) -> str:
    """How to write a name; for ``b$i``, that a variable inside a longer string is written ``${i}``."""
    written = re.sub(r"\$([A-Za-z_]\w*)", r"${\1}", name)
    if written != name:
        return f"a variable inside a name is written in braces: {written}"
    return "names are letters, digits, _ and -, separated by dots"
