"""bn and dropout."""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering


@register_lowering("bn")
def lower_bn(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    attrs = data["attrs"]
    # channels are the last axis in NHWC and for [features]; Keras' momentum weighs the old statistic
    return keras.layers.BatchNormalization(axis=-1, momentum=1 - attrs.momentum, epsilon=attrs.eps,
                                           gamma_initializer=keras.initializers.Constant(attrs.gamma_init),
                                           beta_initializer=keras.initializers.Constant(attrs.beta_init),
                                           name=builder.layer_name(name))(inputs[0])


@register_lowering("dropout")
def lower_dropout(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    return keras.layers.Dropout(data["attrs"].p, name=builder.layer_name(name))(inputs[0])
