"""Element-wise activations, as built-in layers."""

from __future__ import annotations

import math
from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode

_ACTIVATIONS = {"silu": "silu", "sigmoid": "sigmoid", "tanh": "tanh", "hardswish": "hard_swish",
                "hardsigmoid": "hard_sigmoid"}


@register_lowering("relu", "relu6")
def lower_relu(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    limit = 6.0 if node.op == "relu6" else None
    return keras.layers.ReLU(max_value=limit, name=builder.layer_name(node.name))(inputs[0])


@register_lowering("leaky_relu")
def lower_leaky_relu(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    slope = node.attrs.negative_slope
    return keras.layers.LeakyReLU(negative_slope=slope, name=builder.layer_name(node.name))(inputs[0])


@register_lowering(*_ACTIVATIONS)
def lower_activation(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.Activation(_ACTIVATIONS[node.op], name=builder.layer_name(node.name))(inputs[0])


@register_lowering("softmax")
def lower_softmax(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.Softmax(axis=-1, name=builder.layer_name(node.name))(inputs[0])  # channels / features are last


@register_lowering("gelu")
def lower_gelu(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    (x,) = inputs
    if node.attrs.approximate == "none":
        # the exact (erf) form, torch's default
        return keras.layers.Activation("gelu", name=builder.layer_name(node.name))(x)
    # the tanh form has no built-in layer: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) from plain layers
    def aux(role: str) -> str:
        return builder.aux_name(node.name, role)

    cube = keras.layers.Multiply(name=aux("cube"))([x, x, x])
    inner = keras.layers.Add(name=aux("inner"))([x, keras.layers.Rescaling(0.044715, name=aux("c"))(cube)])
    scaled = keras.layers.Rescaling(math.sqrt(2 / math.pi), name=aux("scale"))(inner)
    tanh = keras.layers.Activation("tanh", name=aux("tanh"))(scaled)
    half = keras.layers.Rescaling(0.5, offset=0.5, name=aux("half"))(tanh)
    return keras.layers.Multiply(name=builder.layer_name(node.name))([x, half])
