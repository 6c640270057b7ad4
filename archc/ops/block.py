"""Ops of modern residual blocks: drop_path (stochastic depth)."""

from __future__ import annotations

from pydantic import Field

from archc.ops.registry import Example, Number, OpSpec, Shape, expect_rank, register_op


@register_op("drop_path")
class DropPath(OpSpec):
    """Stochastic depth (Huang et al. 2016) per sample, as torchvision's ``StochasticDepth(p, mode="row")`` and timm's
    ``DropPath``: in training each sample's whole tensor is zeroed with probability ``rate`` and the others scaled by
    ``1 / (1 - rate)``; the identity in eval mode. ``rate`` is usually an expression of the block index."""

    summary = "stochastic depth: drop the whole sample's branch with probability rate (identity in eval)"
    examples = (Example((4, 5, 5), {"rate": 0.2}), Example((6,), {"rate": 0.1}))
    traits = {"keeps dtype", "keeps sign"}
    rate: Number = Field(0.0, ge=0, lt=1)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (1, 3), "drop_path")
        return inputs[0]
