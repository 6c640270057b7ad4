"""Element-wise activations. None has parameters or MACs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archc.ops.registry import OpSpec, register_op


@register_op("relu")
class ReLU(OpSpec):
    summary = "max(x, 0)"


@register_op("relu6")
class ReLU6(OpSpec):
    summary = "min(max(x, 0), 6)"


@register_op("leaky_relu")
class LeakyReLU(OpSpec):
    summary = "x if x > 0 else negative_slope * x"
    negative_slope: float = Field(0.01, ge=0)


@register_op("gelu")
class GELU(OpSpec):
    summary = "Gaussian error linear unit"
    approximate: Literal["none", "tanh"] = "none"


@register_op("silu")
class SiLU(OpSpec):
    summary = "x * sigmoid(x)"


@register_op("sigmoid")
class Sigmoid(OpSpec):
    summary = "1 / (1 + exp(-x))"


@register_op("tanh")
class Tanh(OpSpec):
    summary = "hyperbolic tangent"


@register_op("softmax")
class Softmax(OpSpec):
    summary = "softmax over the channel / feature axis"
