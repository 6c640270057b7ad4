"""The Keras lowering registry: one function per op name, filled by ``@register_lowering`` in ``ops/*.py``.

A lowering turns one graph node into built-in Keras layers (no ``Lambda``, no custom classes, so a saved ``.keras``
file loads without archc). It receives the build context, the node's name and data, and its input tensors in port
order, and returns the node's output tensor. A duplicate registration fails at import; an unknown op fails with the
list of the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from archc.backends.keras.build import KerasBuilder

Lowering = Callable[["KerasBuilder", str, dict[str, Any], list[Any]], Any]

LOWERINGS: dict[str, Lowering] = {}


def register_lowering(*ops: str) -> Callable[[Lowering], Lowering]:
    """Function decorator: register a lowering for each op name in ``ops``. Duplicates are an error."""

    def decorate(func: Lowering) -> Lowering:
        for op in ops:
            if op in LOWERINGS:
                other = LOWERINGS[op]
                raise ValueError(f"keras lowering for op '{op}' is already registered (by {other.__module__}."
                                 f"{other.__qualname__})")
            LOWERINGS[op] = func
        return func

    return decorate


def get_lowering(op: str) -> Lowering:
    """The lowering registered for ``op``; KeyError listing the known ops otherwise."""
    load_builtin_lowerings()
    try:
        return LOWERINGS[op]
    except KeyError:
        raise KeyError(f"the keras backend has no lowering for op '{op}'; known ops: "
                       f"{', '.join(sorted(LOWERINGS))}") from None


def load_builtin_lowerings() -> None:
    """Import the modules that register the built-in lowerings (idempotent)."""
    from archc.backends.keras.ops import activation, conv, merge, norm, pool  # noqa: F401
