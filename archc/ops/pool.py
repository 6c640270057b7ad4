"""Pooling ops: windowed, global and adaptive."""

from __future__ import annotations

from archc.ops.conv import IntPair, NonNegPair, conv_output_size
from archc.ops.registry import Example, OpSpec, Shape, ShapeError, expect_rank, pair, register_op

POOL = frozenset({"pool", "keeps dtype", "keeps sign"})


def pool_output_size(size: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """torch's pooled size: with ``ceil_mode`` a partial last window counts, unless it would start in the padding."""
    if not ceil_mode:
        return conv_output_size(size, kernel, stride, padding, 1)
    out = -(-(size + 2 * padding - kernel) // stride) + 1
    return out - 1 if (out - 1) * stride >= size + padding else out


class _Pool(OpSpec):
    traits = POOL | {"fresh output"}
    kernel: IntPair
    stride: IntPair | None = None  # None: equal to kernel, as in torch
    padding: NonNegPair = 0
    ceil_mode: bool = False  # torch's ceil_mode: a last, partial window where floor would drop it

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
            out = pool_output_size(size, k, s, p, self.ceil_mode)
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
    summary = "2-D average pooling (padding counts as zeros unless count_include_pad: false)"
    count_include_pad: bool = True  # torch's default: the padded zeros count in each window's mean
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


class _AdaptivePool(OpSpec):
    """torch's adaptive pooling: output cell i of n covers input rows floor(i * H / n) to ceil((i + 1) * H / n)."""

    traits = POOL
    size: IntPair

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), self.op_name)
        return (inputs[0][0], *pair(self.size))


@register_op("adaptive_avgpool")
class AdaptiveAvgPool(_AdaptivePool):
    summary = "average pooling to a fixed size (torch's AdaptiveAvgPool2d: VGG, AlexNet)"
    # a size that divides the input (a plain pool in ONNX) and two that do not (constant slices in ONNX)
    examples = (Example((4, 6, 6), {"size": 3}), Example((4, 6, 4), {"size": [2, 4]}),
                Example((4, 5, 5), {"size": 7}), Example((4, 9, 7), {"size": [4, 3]}))


@register_op("adaptive_maxpool")
class AdaptiveMaxPool(_AdaptivePool):
    summary = "max pooling to a fixed size (torch's AdaptiveMaxPool2d)"
    examples = (Example((4, 6, 6), {"size": 2}), Example((4, 9, 7), {"size": [4, 3]}))
