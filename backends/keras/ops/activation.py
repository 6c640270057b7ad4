"""Element-wise activations, as built-in layers."""

from __future__ import annotations

import math
from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering

_ACTIVATIONS = {"silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh"}


@register_lowering("relu", "relu6")
def lower_relu(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    return keras.layers.ReLU(max_value=6.0 if data["op"] == "relu6" else None, name=builder.layer_name(name))(inputs[0])


@register_lowering("leaky_relu")
def lower_leaky_relu(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    return keras.layers.LeakyReLU(negative_slope=data["attrs"].negative_slope, name=builder.layer_name(name))(inputs[0])


@register_lowering(*_ACTIVATIONS)
def lower_activation(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    return keras.layers.Activation(_ACTIVATIONS[data["op"]], name=builder.layer_name(name))(inputs[0])


@register_lowering("softmax")
def lower_softmax(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    return keras.layers.Softmax(axis=-1, name=builder.layer_name(name))(inputs[0])  # channels / features are last


@register_lowering("gelu")
def lower_gelu(builder: KerasBuilder, name: str, data: dict[str, Any], inputs: list[Any]) -> Any:
    (x,) = inputs
    if data["attrs"].approximate == "none":
        return keras.layers.Activation("gelu", name=builder.layer_name(name))(x)  # exact (erf) form, as torch's default
    # the tanh form has no built-in layer: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) from plain layers
    aux = builder.aux_name
    cube = keras.layers.Multiply(name=aux(name, "cube"))([x, x, x])
    inner = keras.layers.Add(name=aux(name, "inner"))([x, keras.layers.Rescaling(0.044715, name=aux(name, "c"))(cube)])
    scaled = keras.layers.Rescaling(math.sqrt(2 / math.pi), name=aux(name, "scale"))(inner)
    tanh = keras.layers.Activation("tanh", name=aux(name, "tanh"))(scaled)
    half = keras.layers.Rescaling(0.5, offset=0.5, name=aux(name, "half"))(tanh)
    return keras.layers.Multiply(name=builder.layer_name(name))([x, half])
