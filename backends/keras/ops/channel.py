"""Ops across the channel axis (the last one in NHWC), from reshapes, permutes, croppings and 1-D pools only."""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder, keras_shape
from archc.backends.keras.ops.conv import weight_initializer
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode


@register_lowering("channel_shuffle")
def lower_channel_shuffle(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """Channels as (groups, C / groups), transposed, flattened back: channel g * (C / groups) + j goes to
    j * groups + g, as torch's view / transpose / flatten."""
    channels, height, width = node.input_shapes[0]
    groups = node.attrs.groups
    x = keras.layers.Reshape((height, width, groups, channels // groups),
                             name=builder.aux_name(node.name, "groups"))(inputs[0])
    x = keras.layers.Permute((1, 2, 4, 3), name=builder.aux_name(node.name, "transpose"))(x)
    return keras.layers.Reshape((height, width, channels), name=builder.layer_name(node.name))(x)


@register_lowering("chunk")
def lower_chunk(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """The part's channels: the channel axis made a spatial one (a trailing axis of 1), cropped, reshaped back."""
    shape = node.input_shapes[0]
    start, stop = node.attrs.bounds(shape[0])
    crop = (start, shape[0] - stop)
    spread = keras.layers.Reshape((*keras_shape(shape), 1), name=builder.aux_name(node.name, "spread"))(inputs[0])
    if len(shape) == 1:
        cropped = keras.layers.Cropping1D(crop, name=builder.aux_name(node.name, "crop"))(spread)
    else:
        cropped = keras.layers.Cropping3D(((0, 0), (0, 0), crop), name=builder.aux_name(node.name, "crop"))(spread)
    return keras.layers.Reshape(keras_shape(node.shape), name=builder.layer_name(node.name))(cropped)


def _channel_reduce(builder: KerasBuilder, node: OpNode, x: Any, pool: type) -> Any:
    channels, height, width = node.input_shapes[0]
    # (H W, C) read channels-first is (features = H W, steps = C): the 1-D global pool reduces the channels
    flat = keras.layers.Reshape((height * width, channels), name=builder.aux_name(node.name, "flat"))(x)
    pooled = pool(data_format="channels_first", name=builder.aux_name(node.name, "pool"))(flat)
    return keras.layers.Reshape((height, width, 1), name=builder.layer_name(node.name))(pooled)


@register_lowering("channel_mean")
def lower_channel_mean(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return _channel_reduce(builder, node, inputs[0], keras.layers.GlobalAveragePooling1D)


@register_lowering("channel_max")
def lower_channel_max(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return _channel_reduce(builder, node, inputs[0], keras.layers.GlobalMaxPooling1D)


@register_lowering("channel_conv")
def lower_channel_conv(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """ECA: the (1, 1, C) tensor as a sequence of C steps of one feature, Conv1D(1, k, same, no bias), back."""
    channels = node.input_shapes[0][0]
    kernel = node.attrs.kernel
    sequence = keras.layers.Reshape((channels, 1), name=builder.aux_name(node.name, "sequence"))(inputs[0])
    conv = keras.layers.Conv1D(1, kernel, padding="same", use_bias=False, name=builder.layer_name(node.name),
                               kernel_initializer=weight_initializer("torch_default",
                                                                     builder.seed_for(node.name, "weight")))
    return keras.layers.Reshape((1, 1, channels), name=builder.aux_name(node.name, "back"))(conv(sequence))
