"""The Keras lowering registry: one function per op name, filled by ``@register_lowering`` in ``ops/*.py``.

A lowering turns one graph node into built-in Keras layers (no ``Lambda``, no custom classes, so a saved ``.keras``
file loads without archc). It receives the build context, the typed node (``archc.ir.node.OpNode``, what torch
lowerings get too) and its input tensors in port order, and returns the node's output tensor. A duplicate
registration fails at import; an unknown op fails with the list of the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from archc.registry import Registry

if TYPE_CHECKING:
    from archc.backends.keras.build import KerasBuilder
    from archc.ir.node import OpNode

Lowering = Callable[["KerasBuilder", "OpNode", list[Any]], Any]

#: op name -> Keras lowering; the package archc.backends.keras installs the loader (built-in lowerings, then plugins)
LOWERINGS: Registry[Lowering] = Registry("keras lowering")
register_lowering = LOWERINGS.register
get_lowering = LOWERINGS.get
