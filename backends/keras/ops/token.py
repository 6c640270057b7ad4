"""Weightless token ops of vision transformers as built-in Keras layers: to_tokens as a Reshape (channels-last
[H, W, C] is already one token per position, row by row), token as a one-token Cropping1D then a Reshape. The
weighted token ops (class_token, pos_embedding, attention) are torch only so far."""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode


@register_lowering("to_tokens")
def lower_to_tokens(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """(N, H, W, C) -> (N, H * W, C): the order of torch's flatten(2).transpose(1, 2) on (N, C, H, W)."""
    return keras.layers.Reshape(node.shape, name=builder.layer_name(node.name))(inputs[0])


@register_lowering("token")
def lower_token(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """x[:, index]: crop every other token, then drop the token axis of length 1."""
    tokens = inputs[0].shape[1]
    name = builder.layer_name(node.name)
    kept = keras.layers.Cropping1D((node.attrs.index, tokens - node.attrs.index - 1), name=f"{name}_crop")(inputs[0])
    return keras.layers.Reshape(node.shape, name=name)(kept)
