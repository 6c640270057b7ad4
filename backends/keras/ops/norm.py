"""bn, layernorm, groupnorm and dropout (channels and features are the last axis in Keras)."""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode


@register_lowering("bn")
def lower_bn(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    attrs = node.attrs
    # channels are the last axis in NHWC and for [features]; Keras' momentum weighs the old statistic
    return keras.layers.BatchNormalization(axis=-1, momentum=1 - attrs.momentum, epsilon=attrs.eps,
                                           gamma_initializer=keras.initializers.Constant(attrs.gamma_init),
                                           beta_initializer=keras.initializers.Constant(attrs.beta_init),
                                           name=builder.layer_name(node.name))(inputs[0])


@register_lowering("layernorm")
def lower_layernorm(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.LayerNormalization(axis=-1, epsilon=node.attrs.eps, name=builder.layer_name(node.name))(
        inputs[0])


@register_lowering("groupnorm")
def lower_groupnorm(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.GroupNormalization(node.attrs.groups, axis=-1, epsilon=node.attrs.eps,
                                           name=builder.layer_name(node.name))(inputs[0])


@register_lowering("dropout")
def lower_dropout(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.Dropout(node.attrs.p, name=builder.layer_name(node.name))(inputs[0])
