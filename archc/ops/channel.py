"""Ops across the channel axis: channel_shuffle and chunk (ShuffleNet), channel_mean / channel_max (CBAM's spatial
attention), channel_conv (ECA's 1-D conv across channels)."""

from __future__ import annotations

from pydantic import model_validator

from archc.ops.registry import (
    Example,
    NonNegativeCount,
    OpSpec,
    PositiveCount,
    Shape,
    ShapeError,
    TensorDecl,
    expect_rank,
    register_op,
)

#: moves values between channels without changing them
PLUMBING = frozenset({"keeps dtype", "keeps sign"})


@register_op("channel_shuffle")
class ChannelShuffle(OpSpec):
    """ShuffleNet's shuffle: the channels as a ``groups`` x ``C / groups`` matrix, transposed (torchvision's
    ``channel_shuffle``: view, transpose(1, 2), flatten)."""

    summary = "interleave the channels of groups (ShuffleNet)"
    examples = (Example((6, 3, 3), {"groups": 3}),)
    traits = PLUMBING
    groups: PositiveCount

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), "channel_shuffle")
        if inputs[0][0] % self.groups:
            raise ShapeError(f"channel_shuffle with groups={self.groups} needs channels divisible by {self.groups}, "
                             f"got {inputs[0][0]}")
        return inputs[0]


@register_op("chunk")
class Chunk(OpSpec):
    """Part ``index`` of the channels cut into ``chunks`` equal parts (``x.chunk(chunks, dim=1)[index]``). The
    ``split`` connection makes one chunk node per part, addressed as ``<name>.0``, ``<name>.1``, ..."""

    summary = "one of `chunks` equal parts of the channels / features"
    examples = (Example((6, 3, 3), {"chunks": 2, "index": 1}), Example((6,), {"chunks": 3}))
    traits = PLUMBING
    chunks: PositiveCount = 2
    index: NonNegativeCount = 0

    @model_validator(mode="after")
    def _check(self) -> Chunk:
        if self.index >= self.chunks:
            raise ValueError(f"index ({self.index}) must be less than chunks ({self.chunks})")
        return self

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (1, 3), "chunk")
        channels = inputs[0][0]
        if channels % self.chunks:
            raise ShapeError(f"chunk cannot cut {channels} channels into {self.chunks} equal parts",
                             hint="torch's chunk would give unequal parts; archc asks for a divisor")
        return (channels // self.chunks, *inputs[0][1:])

    def bounds(self, channels: int) -> tuple[int, int]:
        """[start, stop) of this part's channels."""
        width = channels // self.chunks
        return self.index * width, (self.index + 1) * width


class _ChannelReduce(OpSpec):
    traits = {"keeps dtype"}

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), self.op_name)
        return (1, *inputs[0][1:])


@register_op("channel_mean")
class ChannelMean(_ChannelReduce):
    summary = "mean over the channels: [C, H, W] -> [1, H, W] (CBAM)"
    examples = (Example((4, 3, 3)),)


@register_op("channel_max")
class ChannelMax(_ChannelReduce):
    summary = "max over the channels: [C, H, W] -> [1, H, W] (CBAM)"
    examples = (Example((4, 3, 3)),)
    traits = {"keeps dtype", "keeps sign"}


def _channel_kernel(attrs, inputs: list[Shape]) -> Shape:
    return (1, 1, attrs.kernel)


@register_op("channel_conv")
class ChannelConv(OpSpec):
    """ECA's 1-D convolution across the channels of a [C, 1, 1] tensor: one kernel of size ``kernel`` slid over C,
    zero padded to keep C, no bias (timm's EcaModule ``conv``: nn.Conv1d(1, 1, k, padding=(k - 1) // 2))."""

    summary = "1-D conv across the channels of [C, 1, 1] (ECA)"
    examples = (Example((6, 1, 1), {"kernel": 3}), Example((9, 1, 1), {"kernel": 5}))
    traits = {"weighted", "fresh output", "reduced precision"}
    tensors = (TensorDecl("weight", "conv1d kernel", _channel_kernel, keras="Conv1D.kernel",
                          init=lambda attrs: "torch_default"),)
    kernel: PositiveCount = 3

    @model_validator(mode="after")
    def _odd(self) -> ChannelConv:
        if self.kernel % 2 == 0:
            raise ValueError(f"kernel must be odd (it keeps the channel count), got {self.kernel}")
        return self

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        (shape,) = inputs
        if len(shape) != 3 or shape[1:] != (1, 1):
            raise ShapeError(f"channel_conv expects [C, 1, 1] input, got {list(shape)}",
                             hint="global_avgpool first (ECA pools, then convolves across channels)")
        return shape

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        return output[0] * self.kernel
