"""Weight-bearing ops: conv and linear."""

from __future__ import annotations

import math
from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, WithJsonSchema, model_validator

from archc.ops.initializers import InitArgs, json_schema, parse_init
from archc.ops.registry import (
    Example,
    NonNegativeCount,
    Number,
    OpSpec,
    PositiveCount,
    Shape,
    ShapeError,
    TensorDecl,
    expect_rank,
    pair,
    register_op,
)

#: Weight initialisation schemes; defaults reproduce the reference implementations (documented in docs/spec-format.md).
InitName = Literal[
    "torch_default",  # kaiming_uniform(a=sqrt(5)), what nn.Conv2d / nn.Linear do on construction
    "kaiming_normal",  # fan_in, gain sqrt(2): torchvision DenseNet
    "kaiming_normal_fan_out",  # fan_out, gain sqrt(2): torchvision ResNet
    "kaiming_uniform",
    "xavier_uniform",
    "xavier_normal",
    "zeros",
]
#: a scheme name or an initialiser with arguments ({normal: {std: 0.01}}, archc.ops.initializers)
WeightInit = Annotated[InitName | InitArgs, BeforeValidator(parse_init),
                       WithJsonSchema(json_schema(list(get_args(InitName))))]
BiasName = Literal["torch_default", "zeros"]
#: a bias: a scheme name, a constant, or an initialiser with arguments (torchvision's ViT MLP: {normal: {std: 1e-6}})
BiasInit = Annotated[BiasName | Number | InitArgs, BeforeValidator(parse_init),
                     WithJsonSchema(json_schema(list(get_args(BiasName)), numbers=True))]
IntPair = PositiveCount | tuple[PositiveCount, PositiveCount]
NonNegPair = NonNegativeCount | tuple[NonNegativeCount, NonNegativeCount]


def _bias(attrs) -> bool:
    return attrs.bias


def bias(keras_layer: str) -> TensorDecl:
    """A conv / linear bias: one value per output channel, torch's default U(+-1/sqrt(fan_in)) unless the spec says."""
    return TensorDecl("bias", "bias", lambda attrs, inputs: (attrs.out,), keras=f"{keras_layer}.bias", present=_bias,
                      init=lambda attrs: attrs.bias_init)


def conv_output_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@register_op("conv")
class Conv(OpSpec):
    """2-D convolution. ``padding`` defaults to ``dilation * (kernel - 1) // 2`` ("same" for odd kernels)."""

    summary = "2-D convolution over [C, H, W]"
    examples = (Example((4, 7, 7), {"out": 6, "kernel": 3, "stride": 2, "groups": 2}),
                Example((4, 6, 6), {"out": 4, "kernel": [1, 3], "padding": [0, 2], "dilation": 2, "bias": False,
                                    "init": "kaiming_normal"}))
    traits = {"weighted", "fresh output", "reduced precision"}
    tensors = (TensorDecl("weight", "conv kernel", lambda a, x: (a.out, x[0][0] // a.groups, *a.kernel_hw),
                          keras="Conv2D.kernel", init=lambda attrs: attrs.init), bias("Conv2D"))
    out: PositiveCount
    kernel: IntPair
    stride: IntPair = 1
    padding: NonNegPair | Literal["same"] | None = None
    dilation: IntPair = 1
    groups: PositiveCount = 1
    bias: bool = True
    init: WeightInit = "torch_default"
    bias_init: BiasInit = "torch_default"

    @model_validator(mode="after")
    def _check(self) -> Conv:
        if self.out % self.groups:
            raise ValueError(f"out ({self.out}) must be divisible by groups ({self.groups})")
        return self

    @property
    def kernel_hw(self) -> tuple[int, int]:
        return pair(self.kernel)

    @property
    def stride_hw(self) -> tuple[int, int]:
        return pair(self.stride)

    @property
    def dilation_hw(self) -> tuple[int, int]:
        return pair(self.dilation)

    @property
    def padding_hw(self) -> tuple[int, int]:
        if self.padding is None or self.padding == "same":
            (kh, kw), (dh, dw) = self.kernel_hw, self.dilation_hw
            return dh * (kh - 1) // 2, dw * (kw - 1) // 2
        return pair(self.padding)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        expect_rank(shape, (3,), "conv")
        channels, height, width = shape
        if channels % self.groups:
            raise ShapeError(f"conv with groups={self.groups} needs input channels divisible by {self.groups}, "
                             f"got {channels}")
        dims = []
        for size, k, s, p, d, axis in zip((height, width), self.kernel_hw, self.stride_hw, self.padding_hw,
                                          self.dilation_hw, ("height", "width")):
            out = conv_output_size(size, k, s, p, d)
            if out < 1:
                raise ShapeError(f"conv kernel {k} (dilation {d}, padding {p}) does not fit input {axis} {size}",
                                 hint="use a smaller kernel or more padding, or fewer downsampling steps before it")
            dims.append(out)
        return (self.out, *dims)

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        kh, kw = self.kernel_hw
        return output[0] * output[1] * output[2] * (inputs[0][0] // self.groups) * kh * kw


@register_op("linear")
class Linear(OpSpec):
    """Fully connected layer over [features], over the features of each token of [N, D] (as nn.Linear), or
    (``over: channels``) over the channels of every position."""

    summary = "fully connected layer over [features], the last axis of [N, D] tokens, or the channels of each position"
    examples = (Example((5,), {"out": 3}), Example((5,), {"out": 3, "bias": False, "bias_init": "zeros"}),
                Example((4, 3, 3), {"out": 6, "over": "channels"}))
    traits = {"weighted", "fresh output", "reduced precision"}
    tensors = (TensorDecl("weight", "linear weight", lambda a, x: (a.out, _in_features(x[0])), keras="Dense.kernel",
                          init=lambda attrs: attrs.init), bias("Dense"))
    out: PositiveCount
    bias: bool = True
    init: WeightInit = "torch_default"
    bias_init: BiasInit = "torch_default"
    #: features: over [F]; channels: over the channels of each position of [C, H, W] (a 1x1 conv with a linear's
    #: weight shape, as nn.Linear between NCHW -> NHWC -> NCHW permutes)
    over: Literal["features", "channels"] = "features"

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        if self.over == "channels":  # per position over the channels (torchvision's ConvNeXt: Linear after Permute)
            expect_rank(inputs[0], (3,), "linear over: channels")
            return (self.out, *inputs[0][1:])
        expect_rank(inputs[0], (1, 2), "linear")
        return (*inputs[0][:-1], self.out)

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        return math.prod(inputs[0]) * self.out


def _in_features(shape: Shape) -> int:
    """What a linear reads: the channels of [C, H, W] (over: channels) and [F], the features of [N, D] tokens."""
    return shape[-1] if len(shape) == 2 else shape[0]
