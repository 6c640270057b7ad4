"""The built-in connection kinds: residual, dense, highway, se.

Importing this package registers them in :data:`archc.spec.context.CONNECTIONS` (``archc.api`` does, one layer above
both). Each is a pydantic model of its arguments whose ``expand(ctx, x)`` builds primitive ops through the public
:class:`archc.spec.context.Context`; see docs/architecture.md, "Adding a connection".
"""

from archc.connections import dense, highway, residual, se

__all__ = ["dense", "highway", "residual", "se"]
