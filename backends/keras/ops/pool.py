"""Pooling: torch's symmetric padding with built-in layers only.

avgpool: torch counts padded zeros (count_include_pad=True), so ZeroPadding2D + ``valid`` is exact.
maxpool: torch pads with -inf. ``same`` is exact where it is symmetric (stride 1, odd kernel); zero padding is exact
when the input cannot be negative (after a ReLU: every window holds a real element >= 0); otherwise the input is
padded by repeating its edge rows and columns, which is exact too, because any window that reaches into the padding
also contains that edge element (torch allows padding <= kernel // 2).
"""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.ops.conv import pad
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode
from archc.ops.registry import has_trait, pair


def is_nonnegative(builder: KerasBuilder, node: str) -> bool:
    """True when the node's output is >= 0 everywhere, whatever the weights."""
    data = builder.node(node)
    if has_trait(data["op"], "nonnegative"):
        return True
    if has_trait(data["op"], "keeps sign"):
        return all(is_nonnegative(builder, source) for source in data["inputs"])
    return False


def _replicate_pad(builder: KerasBuilder, name: str, x: Any, shape: tuple[int, ...], padding: tuple[int, int]) -> Any:
    """Pad H and W by repeating the edge rows / columns (NHWC) with Cropping2D + Concatenate."""
    _, height, width = shape
    for axis, (size, amount) in enumerate(zip((height, width), padding), start=1):
        if amount == 0:
            continue
        first = ((0, size - 1), (0, 0)) if axis == 1 else ((0, 0), (0, size - 1))
        last = ((size - 1, 0), (0, 0)) if axis == 1 else ((0, 0), (size - 1, 0))
        head = keras.layers.Cropping2D(first, name=builder.aux_name(name, f"edge{axis}a"))(x)
        tail = keras.layers.Cropping2D(last, name=builder.aux_name(name, f"edge{axis}b"))(x)
        x = keras.layers.Concatenate(axis=axis, name=builder.aux_name(name, f"pad{axis}"))(
            [head] * amount + [x] + [tail] * amount)
    return x


@register_lowering("maxpool")
def lower_maxpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    attrs = node.attrs
    (x,) = inputs
    kernel, stride, padding = pair(attrs.kernel), pair(attrs.stride or attrs.kernel), pair(attrs.padding)
    if padding != (0, 0) and stride == (1, 1) and all(k % 2 == 1 and p == k // 2 for k, p in zip(kernel, padding)):
        return keras.layers.MaxPooling2D(kernel, strides=stride, padding="same", name=builder.layer_name(node.name))(x)
    if padding != (0, 0):
        source = node.inputs[0]
        if is_nonnegative(builder, source):
            x = pad(builder, node.name, x, padding)
        else:
            x = _replicate_pad(builder, node.name, x, tuple(builder.node(source)["shape"]), padding)
    return keras.layers.MaxPooling2D(kernel, strides=stride, padding="valid", name=builder.layer_name(node.name))(x)


@register_lowering("avgpool")
def lower_avgpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    attrs = node.attrs
    kernel, stride, padding = pair(attrs.kernel), pair(attrs.stride or attrs.kernel), pair(attrs.padding)
    x = pad(builder, node.name, inputs[0], padding)
    return keras.layers.AveragePooling2D(kernel, strides=stride, padding="valid", name=builder.layer_name(node.name))(x)


@register_lowering("global_avgpool")
def lower_global_avgpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    layer = keras.layers.GlobalAveragePooling2D(keepdims=node.attrs.keepdims, name=builder.layer_name(node.name))
    return layer(inputs[0])


@register_lowering("global_maxpool")
def lower_global_maxpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.GlobalMaxPooling2D(keepdims=node.attrs.keepdims, name=builder.layer_name(node.name))(inputs[0])
