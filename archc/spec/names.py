"""Resolving names: where an item is expanded (its :class:`Scope`), the names nodes get, and what ``from:`` means.

Only ``name:`` opens a namespace. A name is looked up like a nested scope: the current namespace first, then each
enclosing one. ``from:`` reads nodes defined earlier; a reference to a name defined later, or to a node whose own
definition failed, is explained as such rather than called unknown.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from archc.errors import Diagnostic, DiagnosticSink, Position, did_you_mean
from archc.ir.draft import GraphDraft
from archc.spec.context import ItemError, Tensor
from archc.spec.loader import position_of

NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*(\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*$")


def qualify(ns: str, name: str) -> str:
    return f"{ns}.{name}" if ns else name


class Env(dict):
    """The variables an expression sees. ``new_child`` returns a copy with more variables: ChainMap's interface,
    but flat, so a lookup is one dict probe however deeply templates and repeats nest."""

    __slots__ = ()

    def new_child(self, values: dict[str, Any] | None = None) -> Env:
        child = Env(self)
        if values:
            child.update(values)
        return child


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

    def at(self, path: str, env: Env | None = None) -> Scope:
        """The same place one item further (same depth)."""
        return Scope(self.ns, self.env if env is None else env, path, self.depth, self.templates, self.position)


class Names:
    """The names of one graph: nodes and namespaces that ``from:`` can read, automatic names, connection names."""

    def __init__(self, graph: GraphDraft, sink: DiagnosticSink):
        self.graph = graph
        self.sink = sink
        self.outputs: dict[str, Tensor] = {}  # named nodes and namespaces -> their output
        self.defined_at: dict[str, Position | None] = {}
        self._counts: dict[str, int] = {}
        self._connections: set[str] = set()
        self._indices: dict[str, int] = {}  # namespace -> its largest numeric child name so far (for name: "#")
        self._unresolved: list[tuple[Diagnostic, str, str]] = []  # (diagnostic, reference, namespace)
        self._inputs: dict[str, str] = {}  # input names bound now (`input: x`): full name -> what names it
        self._input_names: dict[str, str] = {}  # every input name bound so far: short name -> what named it

    # ---- naming ----------------------------------------------------------------------------------------------
    def unique(self, ns: str, base: str) -> str:
        """``base`` in ``ns``, or ``base_1``, ``base_2``, ... when taken (names archc chooses)."""
        full = qualify(ns, base)
        if full not in self.graph:
            return full
        count = self._counts.get(full, 0)
        while True:
            count += 1
            candidate = f"{full}_{count}"
            if candidate not in self.graph:
                self._counts[full] = count
                return candidate

    def next_index(self, ns: str) -> str:
        """``name: "#"``: one more than the largest number naming a node or namespace directly in ``ns`` so far (0
        for the first), as the index of a torch Sequential where optional layers may be absent. It is taken at once,
        so two ``#`` in a row never agree even when the first names nothing."""
        index = self._indices.get(ns, -1) + 1
        self._indices[ns] = index
        return str(index)

    def _record_indices(self, full: str) -> None:
        parts = full.split(".")
        for depth in range(len(parts)):
            if parts[depth].isdigit():
                ns = ".".join(parts[:depth])
                self._indices[ns] = max(self._indices.get(ns, -1), int(parts[depth]))

    def claim(self, ns: str, name: str | None, op: str, position: Position | None, path: str) -> str:
        """The full name of a new node; a name used twice is an error."""
        full = self._claim(ns, name, op, position, path)
        self._record_indices(full)
        return full

    def _claim(self, ns: str, name: str | None, op: str, position: Position | None, path: str) -> str:
        if name is None:
            return self.unique(ns, op)
        full = qualify(ns, name)
        if full in self.graph and self.graph.nodes[full].get("auto_name"):
            other = self.graph.nodes[full]
            where = f" (at {other['pos']})" if other.get("pos") else ""
            raise ItemError(f"the name '{full}' is taken by an earlier unnamed {other['op']}{where}; "
                            "archc names unnamed nodes after their op", position, path,
                            "give the earlier node a name, or choose another name here")
        if full in self._inputs:
            raise ItemError(f"'{name}' is the input name of {self._inputs[full]}, so no node inside may be named so",
                            position, path, "rename the node, or choose another input name")
        if full in self.graph or full in self.outputs:
            other = self.graph.nodes[full].get("pos") if full in self.graph else None
            where = f" (first used at {other})" if other else ""
            raise ItemError(f"the name '{full}' is used twice{where}", position, path,
                            "names are checkpoint keys and must be unique: rename one, or give the enclosing block or "
                            "connection a name: of its own (only name: opens a namespace)")
        return full

    def connection_name(self, ns: str, kind: str, name: str | None) -> str:
        """A connection's own name: its namespace when it has ``name:``, else ``<namespace>.<kind>[_N]``."""
        if name is not None:
            full = qualify(ns, name)
        else:
            full, count = qualify(ns, kind), 0
            while full in self._connections:
                count += 1
                full = f"{qualify(ns, kind)}_{count}"
        self._connections.add(full)
        return full

    def publish(self, full: str, tensor: Tensor, position: Position | None = None) -> None:
        """``full`` (a node or a namespace) names ``tensor`` for later ``from:`` references."""
        self.outputs[full] = tensor
        self.defined_at.setdefault(full, position)

    def bind_input(self, ns: str, name: str, tensor: Tensor, owner: str, position: Position | None,
                   path: str) -> tuple[Tensor, str] | None:
        """``input: x`` of a template or connection (``owner`` names it): ``from: x`` reads ``tensor`` inside its body,
        until :meth:`unbind_input`. A node or namespace of that name is an error (the input would silently stand for
        it); an enclosing body's input name is shadowed, and returned to be restored."""
        full = qualify(ns, name)
        previous = (self.outputs[full], self._inputs[full]) if full in self._inputs else None
        if previous is None and (full in self.graph or full in self.outputs):
            other = self.defined_at.get(full) or (self.graph.nodes[full].get("pos") if full in self.graph else None)
            where = f" (at {other})" if other else ""
            raise ItemError(f"the input name of {owner} is '{full}', which names a node already{where}", position,
                            path, "choose another input name, or put the use in a namespace of its own with name:")
        self.outputs[full] = tensor
        self._inputs[full] = owner
        self._input_names[name] = owner
        return previous

    def unbind_input(self, ns: str, name: str, previous: tuple[Tensor, str] | None) -> None:
        """The body is done: its input name means nothing outside it (or the enclosing body's input again)."""
        full = qualify(ns, name)
        if previous is not None:
            self.outputs[full], self._inputs[full] = previous
        elif self._inputs.pop(full, None) is not None:
            self.outputs.pop(full, None)

    def declare_failed(self, full: str, tensor: Tensor, position: Position | None) -> None:
        """A name whose definition failed: later references read an unknown shape, silently (the root cause is
        reported once, where it is)."""
        if full not in self.outputs and full not in self.graph:
            self.publish(full, Tensor(tensor.node, None), position)

    # ---- lookup ----------------------------------------------------------------------------------------------
    def lookup(self, ref: str, ns: str) -> Tensor | None:
        """Resolve a name like a nested scope: the current namespace first, then each enclosing one."""
        if ref == self.graph.input_node:
            return Tensor(ref, self.graph.nodes[ref]["shape"])
        full = self._full_name(ref, ns)
        return self.outputs[full] if full is not None else None

    def visible(self, ns: str) -> list[str]:
        """Names from: can use here: full names, and names relative to each enclosing namespace."""
        names = [*self.outputs, self.graph.input_node]
        parts = ns.split(".") if ns else []
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut]) + "."
            names += [name[len(prefix):] for name in self.outputs if name.startswith(prefix)]
        return names

    def resolve(self, refs: Any, written: Any, ns: str, position: Position | None, path: str) -> list[Tensor]:
        """The tensors ``from:`` names (``refs``: its evaluated value; ``written``: as in the spec, for positions).
        Every unknown name is reported; raises ItemError (already reported) if any is."""
        values = refs if isinstance(refs, list) else [refs]
        out: list[Tensor] = []
        unknown: list[Diagnostic] = []
        for index, ref in enumerate(values):
            ref_pos = position_of(written, index) if isinstance(written, list) else None
            tensor = self._reference(ref, ns, ref_pos or position, path, unknown)
            if tensor is not None:
                out.append(tensor)
        if unknown:
            self.sink.diagnostics.extend(unknown)
            error = ItemError(unknown[0].message, unknown[0].position, path)
            error.reported = True
            raise error
        return out

    def _reference(self, ref: Any, ns: str, position: Position | None, path: str,
                   unknown: list[Diagnostic]) -> Tensor | None:
        if isinstance(ref, bool) or not isinstance(ref, (str, int)):
            raise ItemError(f"expected a node name or a list of node names, got {_what(ref)}", position, path,
                            "write from: stem, or from: [branch_a, branch_b]")
        tensor = self.lookup(str(ref), ns)
        if tensor is None:
            if isinstance(ref, int):
                diagnostic = Diagnostic(f"no node is named '{ref}'", position, path,
                                        "from: takes a node name or a list of node names, named earlier")
            else:
                diagnostic = Diagnostic(f"unknown node '{ref}'", position, path, self._unknown_hint(str(ref), ns))
            unknown.append(diagnostic)
            self._unresolved.append((diagnostic, str(ref), ns))
        return tensor

    def _unknown_hint(self, ref: str, ns: str) -> str:
        if ref in self._input_names:
            return f"'{ref}' is the input name of {self._input_names[ref]}, which from: sees only inside its body"
        return did_you_mean(ref, self.visible(ns)) or "from: names a node or block named earlier"

    def explain_later_definitions(self) -> None:
        """Once the whole network is expanded: an unknown ``from:`` name that is defined after all is named so."""
        for diagnostic, ref, ns in self._unresolved:
            full = self._full_name(ref, ns)
            if full is None:
                continue
            where = self.defined_at.get(full) or (self.graph.nodes[full].get("pos") if full in self.graph else None)
            line = f", at line {where.line}" if where is not None else ""
            diagnostic.message = f"'{ref}' is defined later{line}"
            diagnostic.hint = "from: reads nodes defined earlier in the network; move this item after it"

    def _full_name(self, ref: str, ns: str) -> str | None:
        parts = ns.split(".") if ns else []
        for cut in range(len(parts), -1, -1):
            candidate = qualify(".".join(parts[:cut]), ref)
            if candidate in self.outputs:
                return candidate
        return None


def _what(value: Any) -> str:
    """A value as a message names it, without internal type names."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a nested list"
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, float):
        return f"the number {value:g}"
    return repr(value)
