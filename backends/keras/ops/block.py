"""Ops of modern residual blocks: drop_path as keras.layers.Dropout with one mask value per sample."""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode


@register_lowering("drop_path")
def lower_drop_path(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """Dropout whose noise shape is (batch, 1, ...): each sample kept whole or zeroed, kept ones scaled by
    1 / (1 - rate), as torch's stochastic depth; the identity in inference."""
    name = builder.layer_name(node.name)
    if node.attrs.rate == 0:
        return keras.layers.Identity(name=name)(inputs[0])
    noise = (None, *[1] * len(node.shape))
    return keras.layers.Dropout(node.attrs.rate, noise_shape=noise, seed=builder.seed_for(node.name, "mask"),
                                name=name)(inputs[0])


@register_lowering("layer_scale")
def lower_layer_scale(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """A 1 x 1 depthwise convolution without bias: one learned factor per channel, exactly x * gamma (its (1, 1, C, 1)
    kernel is the torch [C, 1, 1] tensor reshaped: the "channel scale" role)."""
    return keras.layers.DepthwiseConv2D(1, use_bias=False, name=builder.layer_name(node.name),
                                        depthwise_initializer=keras.initializers.Constant(node.attrs.init))(inputs[0])
