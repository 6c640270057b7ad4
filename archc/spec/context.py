"""The public interface of connections: what a connection kind may do while the expander unrolls it.

A connection (``residual``, ``dense``, ``highway``, ``se``, or one of your own) is a pydantic model of its
arguments, registered in :data:`CONNECTIONS` with :func:`register_connection`. Its ``expand(ctx, x)`` builds
primitive ops through the :class:`Context` it is given and returns its output; it never sees the expander::

    @register_connection("double")
    class Double(Connection):
        summary = "y = x + x"

        def expand(self, ctx: Context, x: Tensor) -> Tensor:
            return ctx.add("add", {}, [x, x])

Every node a context adds records the connection that made it (node data ``connection``), which drawing and
``archc diff`` read. The built-in connections live in the ``archc.connections`` package, which registers them when it
is imported; the registry's loader imports that package by name on the first lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from archc.errors import Position
from archc.registry import Registry
from archc.spec.loader import position_of

if TYPE_CHECKING:
    from archc.spec.names import Scope

Shape = tuple[int, ...]


class Tensor(NamedTuple):
    """A value flowing through expansion: the graph node that produces it and its logical shape (None: unknown after
    an earlier error)."""

    node: str
    shape: Shape | None


class ItemError(Exception):
    """A located mistake in one item. Raised, it abandons that item; expansion goes on with the next one."""

    def __init__(self, message: str, position: Position | None, path: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.position, self.path, self.hint = message, position, path, hint
        # an expression error on an unknown in_channels follows from an earlier error: it is not reported again
        self.maybe_cascade = False
        self.reported = False  # its diagnostics are recorded already


class Connection(BaseModel):
    """Base of every connection's argument model. ``lazy_fields`` hold item lists or names that depend on loop
    variables: they are not evaluated before validation (the connection evaluates or expands them itself)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)  # built on first use

    kind: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    lazy_fields: ClassVar[frozenset[str]] = frozenset({"body", "after"})
    #: names for the nodes the connection itself adds, by role (``{add: conv2_block1_add}``); a role is the name the
    #: connection gives the node (``fc1``), else its op (``add``, ``mul``, ``global_avgpool``)
    names: dict[str, str] = Field(default_factory=dict)
    #: the roles ``names:`` may rename (None: any, unchecked)
    roles: ClassVar[frozenset[str] | None] = None

    def expand(self, ctx: Context, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


def _load_builtin_connections() -> None:
    # The built-in kinds live one layer up, in the package archc.connections, which imports this module; it is named
    # here, not imported at module level, so no import cycle spans the two folders and a lookup finds them however
    # archc was entered (``import archc`` loads nothing until a name is used).
    importlib.import_module("archc.connections")


CONNECTIONS: Registry[type[Connection]] = Registry("connection", loader=_load_builtin_connections)


def register_connection(name: str):
    """Class decorator: register a Connection subclass under ``name``. A duplicate fails at import."""

    def decorate(cls: type[Connection]) -> type[Connection]:
        CONNECTIONS.add(name, cls)
        cls.kind = name
        return cls

    return decorate


class Context:
    """What one use of a connection may do: add nodes, expand item lists, evaluate expressions, bind variables,
    open namespaces and raise located errors. ``args`` are the connection's arguments as written (with their source
    positions); ``at`` arguments are places inside them (``"body"``, ``"shortcut.body"``) that errors point to."""

    def __init__(self, interpreter: Any, scope: Scope, args: Any, kind: str, name: str,
                 renames: dict[str, str] | None = None, used: set[str] | None = None):
        self._interpreter = interpreter
        self._scope = scope
        self.args = args
        self.kind = kind
        self.name = name  # the connection's own name: the namespace it was given, or an automatic one
        self._renames = renames or {}  # the spec's names: for the nodes this connection adds, by role
        self.used_names: set[str] = set() if used is None else used  # the roles that took one (shared by copies)

    def _copy(self, scope: Scope) -> Context:
        return Context(self._interpreter, scope, self.args, self.kind, self.name, self._renames, self.used_names)

    @property
    def position(self) -> Position | None:
        """Where the connection is written (its key: ``residual:``)."""
        return self._scope.position or getattr(self.args, "pos", None)

    @property
    def path(self) -> str:
        """The connection's spec path (``network[3].residual``)."""
        return self._scope.path

    @property
    def namespace(self) -> str:
        """The namespace new nodes are named in (``layer1.0``)."""
        return self._scope.ns

    def where(self, at: str | None) -> Position | None:
        """The source position of an argument (first part of ``at``), else the connection's."""
        key = at.split(".")[0] if at else None
        if key is None or not isinstance(self.args, dict) or key not in self.args:
            return self.position
        return position_of(self.args, key) or self.position

    def _path(self, at: str | None) -> str:
        return f"{self.path}.{at}" if at else self.path

    def add(self, op: str, args: dict[str, Any] | None, inputs: list[Tensor], name: str | None = None,
            at: str | None = None, role: str | None = None) -> Tensor:
        """Add one primitive op fed by ``inputs``; ``name`` None lets archc name it after the op. The spec's
        ``names: {role: name}`` renames it; its role is ``role``, else ``name``, else ``op``."""
        role = role or name or op
        if role in self._renames:
            name = self._renames[role]
            self.used_names.add(role)
        return self._interpreter.add_node(op, args or {}, list(inputs), self._scope, name, self.where(at),
                                          self._path(at), connection={"kind": self.kind, "name": self.name})

    def expand(self, items: Any, x: Tensor, at: str = "body") -> Tensor:
        """Expand spec items (a list from ``args``) in sequence, fed by ``x``; returns the last output."""
        scope = self._scope.child(path=self._path(at))
        return self._interpreter.expand_body(items, x, scope, self.where(at))

    def evaluate(self, value: Any, at: str | None = None) -> Any:
        """Substitute ``${...}`` expressions in ``value`` with the variables bound here."""
        return self._interpreter.evaluate(value, self._scope, self.where(at), self._path(at))

    def bind(self, **variables: Any) -> Context:
        """A context whose expressions also see ``variables`` (a loop variable, say)."""
        return self._copy(self._scope._replace(env=self._scope.env.new_child(variables)))

    def within(self, name: str) -> Context:
        """A context whose nodes are named inside the namespace ``name`` (``denselayer1``)."""
        from archc.spec.names import qualify

        return self._copy(self._scope._replace(ns=qualify(self.namespace, name)))

    def publish(self, x: Tensor) -> None:
        """Make this context's namespace name ``x`` for later ``from:`` references."""
        self._interpreter.names.publish(self.namespace, x, self.position)

    def publish_as(self, name: str, x: Tensor) -> None:
        """Let ``from: name`` read ``x`` from here on, in this context's namespace (a connection's input, say)."""
        from archc.spec.names import qualify

        self._interpreter.names.publish(qualify(self.namespace, name), x, self.position)

    @contextmanager
    def input_named(self, name: str | None, x: Tensor) -> Iterator[None]:
        """Inside the ``with`` block, ``from: name`` reads ``x`` (a connection's ``input: x``); outside it the name
        means nothing. A node of that name here is a located error. ``name`` None: nothing to bind."""
        if name is None:
            yield
            return
        names = self._interpreter.names
        line = f" at line {self.position.line}" if self.position is not None else ""
        shadowed = names.bind_input(self.namespace, name, x, f"the {self.kind}{line}", self.where("input"),
                                    self._path("input"))
        try:
            yield
        finally:
            names.unbind_input(self.namespace, name, shadowed)

    def error(self, message: str, hint: str | None = None, at: str | None = None) -> ItemError:
        """A located error to ``raise``: it abandons this connection and is reported at ``at`` (or the
        connection)."""
        return ItemError(message, self.where(at), self._path(at), hint)
