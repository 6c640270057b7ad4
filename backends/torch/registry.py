"""The torch lowering registry: one function per op name, filled by ``@register_lowering`` in ``ops/*.py``.

A lowering turns one graph node into one of

* an ``nn.Module`` (ops with parameters or train/eval behaviour), installed at the node's hierarchical name, so its
  parameters are ``<node name>.weight`` and so on;
* a :class:`Call` (parameter-free ops): a plain function call in the generated ``forward``;
* a tuple of Calls, each fed by the previous one's result; the empty tuple ``()`` means "the input itself".

Lowerings never see torch.fx: the builder (``build.py``) and the source emitter (``source.py``) both read the same
lowering results, so the GraphModule and the emitted file cannot drift apart. A duplicate registration fails at import;
an unknown op fails with the list of the known ones.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from archc.ops.registry import OpSpec, Shape


@dataclass(frozen=True)
class Call:
    """A parameter-free op as ``target(*inputs, *args, **kwargs)``.

    ``pack``: pass the inputs as one list (``torch.cat([a, b], dim=1)``). ``fold``: apply a binary ``target`` left to
    right over two or more inputs (``a + b + c``). ``method``: ``target`` is the name of a Tensor method called on the
    first input (``a.add_(b)``).
    """

    target: Callable[..., Any] | str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    pack: bool = False
    fold: bool = False
    method: bool = False

    @property
    def name(self) -> str:
        return self.target if isinstance(self.target, str) else self.target.__name__


Lowered = nn.Module | Call | tuple[Call, ...]


@dataclass(frozen=True)
class LoweringNode:
    """What a lowering sees of one graph node."""

    name: str
    op: str
    attrs: OpSpec
    input_shapes: tuple[Shape, ...]
    shape: Shape
    #: the first input is a fresh tensor of this node's shape that nothing else reads and autograd does not keep, and
    #: the other inputs cannot widen its dtype (under autocast): writing the result into it is safe
    can_overwrite_input: bool = False
    #: random source for initial weights (None: torch's global generator)
    generator: torch.Generator | None = None
    #: where modules are created ("meta" when only their structure is wanted, as for emit_source)
    device: str | torch.device = "cpu"

    @property
    def in_channels(self) -> int:
        return self.input_shapes[0][0]


Lowering = Callable[[LoweringNode], Lowered]

LOWERINGS: dict[str, Lowering] = {}

#: binary operators rendered infix, in model.code and in emitted source
INFIX = {operator.add: "+", operator.sub: "-", operator.mul: "*"}


def register_lowering(*ops: str) -> Callable[[Lowering], Lowering]:
    """Function decorator: register a lowering for each op name in ``ops``. Duplicates are an error."""

    def decorate(func: Lowering) -> Lowering:
        for op in ops:
            if op in LOWERINGS:
                other = LOWERINGS[op]
                raise ValueError(f"torch lowering for op '{op}' is already registered (by {other.__module__}."
                                 f"{other.__qualname__})")
            LOWERINGS[op] = func
        return func

    return decorate


def get_lowering(op: str) -> Lowering:
    """The lowering registered for ``op``; KeyError listing the known ops otherwise."""
    if op not in LOWERINGS:
        load_builtin_lowerings()
    try:
        return LOWERINGS[op]
    except KeyError:
        raise KeyError(f"the torch backend has no lowering for op '{op}'; known ops: "
                       f"{', '.join(sorted(LOWERINGS))}") from None


def load_builtin_lowerings() -> None:
    """Import the modules that register the built-in lowerings (idempotent)."""
    from archc.backends.torch.ops import activation, conv, merge, norm, pool  # noqa: F401
