"""Shape plumbing and merges: flatten, identity, add, sub, mul, concat, channel_pad."""

from __future__ import annotations

from typing import Literal

from archc.ops.conv import IntPair
from archc.ops.registry import Example, OpSpec, PositiveCount, Shape, ShapeError, expect_rank, numel, pair, register_op

#: an element-wise merge: a new tensor, of the widest input dtype under autocast
MERGE = frozenset({"merge", "elementwise", "fresh output", "promotes dtype"})
#: passes values through unchanged (or only moves them): dtype and sign kept
PLUMBING = frozenset({"keeps dtype", "keeps sign"})


@register_op("identity")
class Identity(OpSpec):
    summary = "passes its input through"
    examples = (Example((4, 3, 3)),)
    traits = PLUMBING


@register_op("flatten")
class Flatten(OpSpec):
    summary = "[C, H, W] -> [C*H*W] (channel-major, as torch)"
    examples = (Example((4, 3, 3)), Example((6,)))
    traits = PLUMBING

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return (numel(inputs[0]),)


def _check_ranks(first: Shape, other: Shape, verb: str) -> None:
    """Tensors of different ranks ([features] and [C, H, W]) never merge: say so, rather than that a size differs."""
    if len(first) == len(other):
        return
    names = {1: "[features]", 3: "[C, H, W]"}
    kinds = " and ".join(names.get(len(shape), f"rank-{len(shape)}") for shape in (first, other))
    raise ShapeError(f"cannot {verb} {list(first)} and {list(other)}: their ranks differ ({kinds})",
                     hint="bring both to one rank first: flatten (or global_avgpool with keepdims: false) the "
                          "[C, H, W] input")


def _broadcast(shapes: list[Shape], verb: str) -> Shape:
    """Shapes must agree, except that a [C, 1, 1] operand broadcasts over H and W (for gates such as SE)."""
    out = shapes[0]
    for other in shapes[1:]:
        if other == out:
            continue
        _check_ranks(out, other, verb)
        if len(other) == len(out) and all(a == b or a == 1 or b == 1 for a, b in zip(out, other)):
            out = tuple(max(a, b) for a, b in zip(out, other))
            continue
        raise ShapeError(f"cannot {verb} {list(other)} and {list(out)}: shapes differ",
                         hint="give the residual a projection shortcut, or make both branches end at the same shape")
    return out


@register_op("add")
class Add(OpSpec):
    summary = "element-wise sum of two or more inputs"
    examples = (Example((4, 3, 3), inputs=3), Example((6,), inputs=2))
    traits = MERGE | {"in-place safe", "keeps sign"}
    symbol = "+"
    arity = None

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return _broadcast(inputs, "add")


@register_op("mul")
class Mul(OpSpec):
    summary = "element-wise product of two or more inputs ([C, 1, 1] broadcasts)"
    examples = (Example((4, 3, 3), inputs=2),)
    traits = MERGE | {"keeps sign"}
    symbol = "×"
    arity = None

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return _broadcast(inputs, "multiply")


@register_op("sub")
class Sub(OpSpec):
    summary = "first input minus second"
    examples = (Example((4, 3, 3), inputs=2),)
    traits = MERGE
    symbol = "−"
    arity = 2

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        return _broadcast(inputs, "subtract")


@register_op("concat")
class Concat(OpSpec):
    """Concatenation along the channels (features), or along ``axis: height`` / ``width`` of [C, H, W] tensors
    (CBAM stacks its average- and max-pooled descriptors side by side, so one 1x1 conv serves both)."""

    summary = "concatenation along channels / features (or height / width)"
    examples = (Example((4, 3, 3), inputs=2), Example((6,), inputs=3), Example((4, 3, 3), {"axis": "width"}, 2))
    traits = {"merge", "fresh output", "promotes dtype", "keeps sign"}
    symbol = "‖"
    arity = None
    axis: Literal["channels", "height", "width"] = "channels"

    @property
    def dim(self) -> int:
        """The axis of the logical shape (0 channels, 1 height, 2 width)."""
        return ("channels", "height", "width").index(self.axis)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        first, dim = inputs[0], self.dim
        if dim and len(first) != 3:
            raise ShapeError(f"concat along {self.axis} needs [C, H, W] inputs, got {list(first)}")
        for other in inputs[1:]:
            _check_ranks(first, other, "concatenate")
            if [n for i, n in enumerate(other) if i != dim] != [n for i, n in enumerate(first) if i != dim]:
                raise ShapeError(f"cannot concatenate {list(other)} with {list(first)} along {self.axis}: only that "
                                 "axis may differ", hint="downsample both branches to the same height and width")
        return tuple(sum(shape[dim] for shape in inputs) if i == dim else n for i, n in enumerate(first))


@register_op("channel_pad")
class ChannelPad(OpSpec):
    """Parameter-free shortcut of He et al. 2015 ("option A"): subsample by ``stride``, zero-pad channels to ``out``."""

    summary = "strided subsample plus zero channels (ResNet option A shortcut)"
    examples = (Example((4, 6, 6), {"out": 8, "stride": 2}), Example((4, 5, 5), {"out": 7}))
    traits = PLUMBING
    out: PositiveCount
    stride: IntPair = 1

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        expect_rank(shape, (3,), "channel_pad")
        if self.out < shape[0]:
            raise ShapeError(f"channel_pad cannot shrink {shape[0]} channels to {self.out}",
                             hint="use a projection shortcut to reduce channels")
        sh, sw = pair(self.stride)
        return (self.out, -(-shape[1] // sh), -(-shape[2] // sw))

    def pad_before_after(self, in_channels: int) -> tuple[int, int]:
        extra = self.out - in_channels
        return extra // 2, extra - extra // 2


