"""The connection registry: residual, dense, highway, se — macros that expand into primitive ops.

A connection is a pydantic model (its arguments, ``extra="forbid"``) with an ``expand`` method that adds nodes to the
graph through the expander's context. Fields named in ``lazy_fields`` hold item lists or names that depend on loop
variables; they are not evaluated before validation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from archc.spec.expand import Expander, Scope, Tensor


class ConnectionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    conn_name: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    lazy_fields: ClassVar[frozenset[str]] = frozenset({"body", "after"})

    def expand(self, ctx: Expander, raw: Any, x: Tensor, scope: Scope) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


CONNECTIONS: dict[str, type[ConnectionSpec]] = {}


def register_connection(name: str):
    """Class decorator: register a connection kind under ``name``. Duplicates are an error."""

    def decorate(cls: type[ConnectionSpec]) -> type[ConnectionSpec]:
        if name in CONNECTIONS:
            raise ValueError(f"connection '{name}' is already registered")
        cls.conn_name = name
        CONNECTIONS[name] = cls
        return cls

    return decorate


def load_builtin_connections() -> None:
    from archc.connections import dense, highway, residual, se  # noqa: F401
