"""Pooling: torch's symmetric padding with built-in layers only.

avgpool: torch counts padded zeros (count_include_pad=True), so ZeroPadding2D + ``valid`` is exact.
maxpool: torch pads with -inf. ``same`` is exact where it is symmetric (stride 1, odd kernel); zero padding is exact
when the input cannot be negative (after a ReLU: every window holds a real element >= 0); otherwise the input is
padded by repeating its edge rows and columns, which is exact too, because any window that reaches into the padding
also contains that edge element (torch allows padding <= kernel // 2, and ceil_mode's last window starts inside the
input or its left padding). avgpool with count_include_pad: false or ceil_mode uses Keras' ``same`` windows, which
average over the real elements only, where they are torch's windows (timm's resnet50d shortcut: kernel 2, stride 2).
adaptive pools: Keras' adaptive layers use torch's bins.
"""

from __future__ import annotations

from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.ops.conv import pad
from archc.backends.keras.registry import register_lowering
from archc.errors import Diagnostic, SpecError
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


Padding = tuple[tuple[int, int], tuple[int, int]]  # ((top, bottom), (left, right))


def _replicate_pad(builder: KerasBuilder, name: str, x: Any, shape: tuple[int, ...], padding: Padding) -> Any:
    """Pad H and W by repeating the edge rows / columns (NHWC) with Cropping2D + Concatenate."""
    _, height, width = shape
    for axis, (size, (before, after)) in enumerate(zip((height, width), padding), start=1):
        if before == after == 0:
            continue
        first = ((0, size - 1), (0, 0)) if axis == 1 else ((0, 0), (0, size - 1))
        last = ((size - 1, 0), (0, 0)) if axis == 1 else ((0, 0), (size - 1, 0))
        head = keras.layers.Cropping2D(first, name=builder.aux_name(name, f"edge{axis}a"))(x)
        tail = keras.layers.Cropping2D(last, name=builder.aux_name(name, f"edge{axis}b"))(x)
        x = keras.layers.Concatenate(axis=axis, name=builder.aux_name(name, f"pad{axis}"))(
            [head] * before + [x] + [tail] * after)
    return x


def _windows(node: OpNode) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
    """kernel, stride, padding and the extra rows / columns torch's ceil_mode reads past the bottom / right
    padding (0 without ceil_mode)."""
    attrs = node.attrs
    kernel, stride, padding = pair(attrs.kernel), pair(attrs.stride or attrs.kernel), pair(attrs.padding)
    sizes = node.input_shapes[0][1:]
    extra = tuple(max(0, (out - 1) * s + k - (size + 2 * p))
                  for out, size, k, s, p in zip(node.shape[1:], sizes, kernel, stride, padding))
    return kernel, stride, padding, extra  # type: ignore[return-value]


@register_lowering("maxpool")
def lower_maxpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    (x,) = inputs
    kernel, stride, padding, extra = _windows(node)
    if padding != (0, 0) and extra == (0, 0) and stride == (1, 1) and \
            all(k % 2 == 1 and p == k // 2 for k, p in zip(kernel, padding)):
        return keras.layers.MaxPooling2D(kernel, strides=stride, padding="same", name=builder.layer_name(node.name))(x)
    sides: Padding = ((padding[0], padding[0] + extra[0]), (padding[1], padding[1] + extra[1]))
    if sides != ((0, 0), (0, 0)):
        # every window holds a real element (torch's rule for padding and ceil_mode), which edge repetition and,
        # for a nonnegative input, zeros cannot exceed
        source = node.inputs[0]
        if is_nonnegative(builder, source):
            x = keras.layers.ZeroPadding2D(sides, name=builder.aux_name(node.name, "pad"))(x)
        else:
            x = _replicate_pad(builder, node.name, x, tuple(builder.node(source)["shape"]), sides)
    return keras.layers.MaxPooling2D(kernel, strides=stride, padding="valid", name=builder.layer_name(node.name))(x)


@register_lowering("avgpool")
def lower_avgpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """Padded zeros that torch counts are written as ZeroPadding2D; windows whose divisor leaves out padding (
    count_include_pad: false, or ceil_mode's partial windows) are Keras' ``same`` pooling, which averages over the
    real elements only, where its windows are torch's."""
    kernel, stride, padding, extra = _windows(node)
    x, sizes = inputs[0], node.input_shapes[0][1:]
    uncounted = padding  # padding left out of the divisor
    if node.attrs.count_include_pad:
        x, uncounted = pad(builder, node.name, x, padding), (0, 0)
        sizes = tuple(n + 2 * p for n, p in zip(sizes, padding))
    if uncounted == (0, 0) and extra == (0, 0):
        return keras.layers.AveragePooling2D(kernel, strides=stride, padding="valid",
                                             name=builder.layer_name(node.name))(x)
    for size, k, s, p, out in zip(sizes, kernel, stride, uncounted, node.shape[1:]):
        same_out = -(-size // s)
        if same_out != out or max((out - 1) * s + k - size, 0) // 2 != p:
            raise SpecError(Diagnostic(
                f"the keras backend cannot pool kernel {list(kernel)}, stride {list(stride)}, padding "
                f"{list(padding)} over {list(node.input_shapes[0][1:])} with count_include_pad: "
                f"{str(node.attrs.count_include_pad).lower()}, ceil_mode: {str(node.attrs.ceil_mode).lower()} "
                "exactly", builder.node(node.name).get("pos"), builder.node(node.name).get("path", ""),
                "count_include_pad: true without ceil_mode is exact everywhere"))
    return keras.layers.AveragePooling2D(kernel, strides=stride, padding="same", name=builder.layer_name(node.name))(x)


@register_lowering("adaptive_avgpool")
def lower_adaptive_avgpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """keras.layers.AdaptiveAveragePooling2D: torch's bins (floor(i H / n) to ceil((i + 1) H / n))."""
    return keras.layers.AdaptiveAveragePooling2D(node.shape[1:], name=builder.layer_name(node.name))(inputs[0])


@register_lowering("adaptive_maxpool")
def lower_adaptive_maxpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """keras.layers.AdaptiveMaxPooling2D: torch's bins."""
    return keras.layers.AdaptiveMaxPooling2D(node.shape[1:], name=builder.layer_name(node.name))(inputs[0])


@register_lowering("global_avgpool")
def lower_global_avgpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    layer = keras.layers.GlobalAveragePooling2D(keepdims=node.attrs.keepdims, name=builder.layer_name(node.name))
    return layer(inputs[0])


@register_lowering("global_maxpool")
def lower_global_maxpool(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.GlobalMaxPooling2D(keepdims=node.attrs.keepdims, name=builder.layer_name(node.name))(inputs[0])
