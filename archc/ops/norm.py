"""Normalisation and regularisation ops: bn, dropout."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from archc.ops.registry import OpSpec, Shape, expect_rank, register_op


@register_op("bn")
class BatchNorm(OpSpec):
    """Batch normalisation over channels ([C, H, W]) or features ([F]); eps / momentum in torch convention."""

    summary = "batch normalisation (torch convention for eps and momentum)"
    eps: PositiveFloat = 1e-5
    momentum: float = Field(0.1, gt=0, lt=1)
    gamma_init: float = 1.0
    beta_init: float = 0.0

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (1, 3), "bn")
        return inputs[0]

    def count_params(self, inputs: list[Shape], output: Shape) -> int:
        return 2 * inputs[0][0]

    def count_buffers(self, inputs: list[Shape], output: Shape) -> int:
        return 2 * inputs[0][0]  # running mean and variance


@register_op("dropout")
class Dropout(OpSpec):
    """Dropout with probability ``p`` (identity in eval mode)."""

    summary = "dropout (identity in eval mode)"
    p: float = Field(0.5, ge=0, lt=1)
