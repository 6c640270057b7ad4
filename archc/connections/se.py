"""Squeeze-and-excitation, Hu et al. 2018: ``y = x · sigmoid(fc2(relu(fc1(gap(x)))))``.

fc1 / fc2 are 1x1 convolutions with bias, named as timm's ``SEModule`` so timm checkpoints load by name.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveInt

from archc.connections.registry import ConnectionSpec, register_connection
from archc.spec.expand import Expander, Scope, Tensor, _ItemError


def reduced_channels(channels: int, reduction: float, divisor: int, rounding: str) -> int:
    """The bottleneck width: timm's make_divisible(C / r, divisor, round_limit=0), or the paper's floor(C / r)."""
    value = channels / reduction
    if rounding == "floor":
        return max(1, int(value))
    return max(divisor, int(value + divisor / 2) // divisor * divisor)


@register_connection("se")
class SqueezeExcitation(ConnectionSpec):
    summary = "y = x · sigmoid(fc2(act(fc1(gap(x)))))"
    reduction: float = Field(16, gt=0)
    divisor: PositiveInt = 8
    rounding: Literal["divisible", "floor"] = "divisible"
    channels: PositiveInt | None = None  # explicit bottleneck width, overrides reduction
    activation: Literal["relu", "relu6", "silu", "gelu"] = "relu"
    gate: Literal["sigmoid"] = "sigmoid"

    def expand(self, ctx: Expander, raw: Any, x: Tensor, scope: Scope) -> Tensor:
        position = scope.position or getattr(raw, "pos", None)
        if x.shape is None:
            return x
        if len(x.shape) != 3:
            raise _ItemError(f"se expects [C, H, W] input, got {list(x.shape)}", position, scope.path)
        channels = x.shape[0]
        hidden = self.channels or reduced_channels(channels, self.reduction, self.divisor, self.rounding)
        pooled = ctx.add_node("global_avgpool", {}, [x], scope, None, position, scope.path)
        squeezed = ctx.add_node("conv", {"out": hidden, "kernel": 1, "bias": True}, [pooled], scope, "fc1", position,
                                scope.path)
        act = ctx.add_node(self.activation, {}, [squeezed], scope, None, position, scope.path)
        excited = ctx.add_node("conv", {"out": channels, "kernel": 1, "bias": True}, [act], scope, "fc2", position,
                               scope.path)
        gate = ctx.add_node(self.gate, {}, [excited], scope, None, position, scope.path)
        return ctx.add_node("mul", {}, [x, gate], scope, None, position, scope.path)
