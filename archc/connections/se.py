"""Squeeze-and-excitation, Hu et al. 2018: ``y = x · gate(fc2(act(fc1(gap(x)))))``, gate sigmoid (hardsigmoid in
MobileNetV3), act relu (silu in EfficientNet).

fc1 / fc2 are 1x1 convolutions with bias, named as timm's ``SEModule`` so timm checkpoints load by name.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, PositiveInt, model_validator

from archc.spec.context import Connection, Context, Tensor, register_connection
from archc.spec.expr import divisible


def reduced_channels(channels: int, reduction: float, divisor: int, rounding: str) -> int:
    """The bottleneck width: timm's make_divisible(C / r, divisor, round_limit=0) (the expression function
    ``divisible``), or the paper's floor(C / r)."""
    if rounding == "floor":
        return max(1, int(channels / reduction))
    return divisible(channels / reduction, divisor, round_limit=0)


@register_connection("se")
class SqueezeExcitation(Connection):
    summary = "y = x · gate(fc2(act(fc1(gap(x)))))"
    roles = frozenset({"global_avgpool", "fc1", "act", "fc2", "gate", "mul"})
    reduction: float = Field(16, gt=0)
    divisor: PositiveInt = 8
    rounding: Literal["divisible", "floor"] = "divisible"
    # the bottleneck width in channels, given from outside (EfficientNet squeezes from the block input: in // 4);
    # overrides reduction. ``channels`` is its older name
    squeeze: PositiveInt | None = None
    channels: PositiveInt | None = None
    activation: Literal["relu", "relu6", "silu", "gelu", "hardswish"] = "relu"
    gate: Literal["sigmoid", "hardsigmoid"] = "sigmoid"  # hardsigmoid: MobileNetV3

    @model_validator(mode="after")
    def _one_width(self) -> SqueezeExcitation:
        if self.squeeze is not None and self.channels is not None:
            raise ValueError("give the bottleneck width once: squeeze (channels is its older name)")
        return self

    def expand(self, ctx: Context, x: Tensor) -> Tensor:
        if x.shape is None:
            return x
        if len(x.shape) != 3:
            raise ctx.error(f"se expects [C, H, W] input, got {list(x.shape)}")
        channels = x.shape[0]
        hidden = self.squeeze or self.channels or \
            reduced_channels(channels, self.reduction, self.divisor, self.rounding)
        pooled = ctx.add("global_avgpool", {}, [x])
        squeezed = ctx.add("conv", {"out": hidden, "kernel": 1, "bias": True}, [pooled], "fc1")
        act = ctx.add(self.activation, {}, [squeezed], role="act")
        excited = ctx.add("conv", {"out": channels, "kernel": 1, "bias": True}, [act], "fc2")
        gate = ctx.add(self.gate, {}, [excited], role="gate")
        return ctx.add("mul", {}, [x, gate])
