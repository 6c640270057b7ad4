"""Element-wise activations. None has parameters or MACs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from archc.ops.registry import Example, Number, OpSpec, register_op

#: what every element-wise activation is; the in-place ones add "in-place safe"
POINTWISE = frozenset({"activation", "elementwise", "keeps dtype"})


@register_op("relu")
class ReLU(OpSpec):
    summary = "max(x, 0)"
    examples = (Example((4, 5, 5)), Example((6,)))
    traits = POINTWISE | {"in-place safe", "nonnegative"}


@register_op("relu6")
class ReLU6(OpSpec):
    summary = "min(max(x, 0), 6)"
    examples = (Example((4, 5, 5)),)
    traits = POINTWISE | {"in-place safe", "nonnegative"}


@register_op("leaky_relu")
class LeakyReLU(OpSpec):
    summary = "x if x > 0 else negative_slope * x"
    examples = (Example((4, 5, 5), {"negative_slope": 0.2}),)
    traits = POINTWISE | {"in-place safe"}
    negative_slope: Number = Field(0.01, ge=0)


@register_op("gelu")
class GELU(OpSpec):
    summary = "Gaussian error linear unit"
    examples = (Example((4, 5, 5)), Example((6,), {"approximate": "tanh"}))
    traits = POINTWISE
    approximate: Literal["none", "tanh"] = "none"


@register_op("silu")
class SiLU(OpSpec):
    summary = "x * sigmoid(x)"
    examples = (Example((4, 5, 5)),)
    traits = POINTWISE | {"in-place safe"}


@register_op("sigmoid")
class Sigmoid(OpSpec):
    summary = "1 / (1 + exp(-x))"
    examples = (Example((4, 5, 5)),)
    traits = POINTWISE | {"nonnegative"}


@register_op("tanh")
class Tanh(OpSpec):
    summary = "hyperbolic tangent"
    examples = (Example((6,)),)
    traits = POINTWISE


@register_op("softmax")
class Softmax(OpSpec):
    summary = "softmax over the channel / feature axis"
    examples = (Example((6,)), Example((4, 3, 3)))
    traits = {"activation", "nonnegative"}  # not element-wise; CUDA autocast runs it in float32


@register_op("hardswish")
class HardSwish(OpSpec):
    summary = "x * relu6(x + 3) / 6 (MobileNetV3)"
    examples = (Example((4, 5, 5)), Example((6,)))
    traits = POINTWISE | {"in-place safe"}


@register_op("hardsigmoid")
class HardSigmoid(OpSpec):
    summary = "relu6(x + 3) / 6 (MobileNetV3's SE gate)"
    examples = (Example((4, 5, 5)),)
    traits = POINTWISE | {"in-place safe", "nonnegative"}
