"""Pooling ops."""

from __future__ import annotations

from archc.ops.conv import IntPair, NonNegPair, conv_output_size
from archc.ops.registry import Example, OpSpec, Shape, ShapeError, expect_rank, pair, register_op

POOL = frozenset({"pool", "keeps dtype", "keeps sign"})


class _Pool(OpSpec):
    traits = POOL | {"fresh output"}
    kernel: IntPair
    stride: IntPair | None = None  # None: equal to kernel, as in torch
    padding: NonNegPair = 0

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        expect_rank(shape, (3,), self.op_name)
        kernel, stride, padding = pair(self.kernel), pair(self.stride or self.kernel), pair(self.padding)
        for k, p in zip(kernel, padding):
            if 2 * p > k:
                raise ShapeError(f"{self.op_name} padding {p} is more than half the kernel {k}",
                                 hint="torch allows at most kernel // 2")
        dims = []
        for size, k, s, p in zip(shape[1:], kernel, stride, padding):
            out = conv_output_size(size, k, s, p, 1)
            if out < 1:
                raise ShapeError(f"{self.op_name} kernel {k} does not fit input size {size}",
                                 hint="remove a downsampling step or use a larger input")
            dims.append(out)
        return (shape[0], *dims)


@register_op("maxpool")
class MaxPool(_Pool):
    summary = "2-D max pooling"
    examples = (Example((4, 7, 7), {"kernel": 3, "stride": 2, "padding": 1}), Example((4, 6, 6), {"kernel": 2}))


@register_op("avgpool")
class AvgPool(_Pool):
    summary = "2-D average pooling (padding counts as zeros, as torch's default)"
    examples = (Example((4, 7, 7), {"kernel": 3, "stride": 2, "padding": 1}), Example((4, 6, 6), {"kernel": [2, 3]}))


@register_op("global_avgpool")
class GlobalAvgPool(OpSpec):
    """Mean over H and W. Keeps [C, 1, 1] like torch's AdaptiveAvgPool2d(1) unless ``keepdims: false``."""

    summary = "mean over height and width"
    examples = (Example((4, 5, 5)), Example((4, 5, 5), {"keepdims": False}))
    traits = POOL
    keepdims: bool = True

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), "global_avgpool")
        return (inputs[0][0], 1, 1) if self.keepdims else (inputs[0][0],)


@register_op("global_maxpool")
class GlobalMaxPool(GlobalAvgPool):
    summary = "max over height and width"
    examples = (Example((4, 5, 5)), Example((4, 5, 5), {"keepdims": False}))
