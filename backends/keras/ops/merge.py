"""Shape plumbing and merges: identity, flatten, add, sub, mul, concat, channel_pad."""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode
from archc.ops.registry import pair


@register_lowering("identity")
def lower_identity(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.Identity(name=builder.layer_name(node.name))(inputs[0])


@register_lowering("flatten")
def lower_flatten(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    (x,) = inputs
    shape = node.input_shapes[0]
    if len(shape) == 3 and shape[1] * shape[2] > 1:
        # torch flattens channel-major (C, H, W): bring NHWC to NCHW first so the features line up
        x = keras.layers.Permute((3, 1, 2), name=builder.aux_name(node.name, "chw"))(x)
    return keras.layers.Flatten(name=builder.layer_name(node.name))(x)


@register_lowering("add", "sub", "mul")
def lower_elementwise(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    # the merge layers broadcast a (1, 1, C) operand over H and W, as the IR's (C, 1, 1) gates need
    layer = {"add": keras.layers.Add, "sub": keras.layers.Subtract, "mul": keras.layers.Multiply}[node.op]
    return layer(name=builder.layer_name(node.name))(inputs)


@register_lowering("concat")
def lower_concat(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    axis = {"channels": -1, "height": 1, "width": 2}[node.attrs.axis]  # NHWC: channels / features are last
    return keras.layers.Concatenate(axis=axis, name=builder.layer_name(node.name))(inputs)


@register_lowering("channel_pad")
def lower_channel_pad(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """``x[:, :, ::s, ::s]`` as a 1x1 max pool with stride s, then zero channels via a 5-D ZeroPadding3D."""
    attrs = node.attrs
    (x,) = inputs
    stride = pair(attrs.stride)
    in_channels = node.input_shapes[0][0]
    out_channels, height, width = node.shape
    if stride != (1, 1):
        x = keras.layers.MaxPooling2D(1, strides=stride, name=builder.aux_name(node.name, "subsample"))(x)
    before, after = attrs.pad_before_after(in_channels)
    if before == after == 0:
        return keras.layers.Identity(name=builder.layer_name(node.name))(x)
    x = keras.layers.Reshape((height, width, in_channels, 1), name=builder.aux_name(node.name, "split"))(x)
    x = keras.layers.ZeroPadding3D(((0, 0), (0, 0), (before, after)), name=builder.aux_name(node.name, "pad"))(x)
    return keras.layers.Reshape((height, width, out_channels), name=builder.layer_name(node.name))(x)
