"""The built-in connection kinds: residual, dense, highway, se, split, gate.

Importing this package registers them in :data:`archc.spec.context.CONNECTIONS`; the registry's loader imports it
(by name) on the first lookup. Each is a pydantic model of its arguments whose ``expand(ctx, x)`` builds primitive
ops through the public :class:`archc.spec.context.Context`; see docs/architecture.md, "Adding a connection".
"""

from archc.connections import dense, gate, highway, residual, se, split

__all__ = ["dense", "gate", "highway", "residual", "se", "split"]
