"""The op registry: one pydantic model per primitive op, carrying its shape rule and its cost formulas.

Each op is registered once with ``@register_op("name")``; backends register a lowering per op name in their own
registries. A duplicate name fails at import, an unknown name fails with the list of known names.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

Shape = tuple[int, ...]


class ShapeError(Exception):
    """An op cannot take the shapes it is given. Carries a hint toward the fix."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint


class OpSpec(BaseModel):
    """Base of every op's parameter model: the validated attributes of one graph node.

    Subclasses override ``infer_shape`` and, when they hold weights or compute MACs, ``count_params``,
    ``count_buffers`` and ``count_macs``. Shapes are logical: ``(C, H, W)`` for images, ``(F,)`` for features,
    without the batch dimension.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    op_name: ClassVar[str] = ""
    #: number of inputs; None means two or more
    arity: ClassVar[int | None] = 1
    #: one-line description for `archc ops` and the schema
    summary: ClassVar[str] = ""

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return inputs[0]

    def count_params(self, inputs: list[Shape], output: Shape) -> int:
        """Trainable parameters."""
        return 0

    def count_buffers(self, inputs: list[Shape], output: Shape) -> int:
        """Non-trainable state that is part of the model (BatchNorm running mean and variance)."""
        return 0

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        """Multiply-accumulates of conv / linear work, as torch.utils.flop_counter counts them (÷2)."""
        return 0


OPS: dict[str, type[OpSpec]] = {}


def register_op(name: str):
    """Class decorator: register an OpSpec subclass under ``name``. Duplicates are an error."""

    def decorate(cls: type[OpSpec]) -> type[OpSpec]:
        if name in OPS:
            raise ValueError(f"op '{name}' is already registered (by {OPS[name].__module__}.{OPS[name].__name__})")
        cls.op_name = name
        OPS[name] = cls
        return cls

    return decorate


def get_op(name: str) -> type[OpSpec]:
    """The op class registered under ``name``; KeyError listing the known ops otherwise."""
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"unknown op '{name}'; known ops: {', '.join(sorted(OPS))}") from None


def numel(shape: Shape) -> int:
    return math.prod(shape)


def expect_rank(shape: Shape, ranks: tuple[int, ...], what: str) -> None:
    if len(shape) not in ranks:
        names = {1: "[features]", 3: "[C, H, W]"}
        wanted = " or ".join(names.get(r, f"rank {r}") for r in ranks)
        raise ShapeError(f"{what} expects {wanted} input, got {list(shape)}",
                         hint="flatten or global_avgpool first" if 1 in ranks else None)


def pair(value: Any) -> tuple[int, int]:
    """An int or a 2-list as (height, width)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def load_builtin_ops() -> None:
    """Import the modules that register the built-in ops (idempotent)."""
    from archc.ops import activation, conv, merge, norm, pool  # noqa: F401
