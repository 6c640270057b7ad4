"""Swin ops as torchvision's SwinTransformer computes them, with built-in Keras layers and keras.ops: tokens
[B, N, D] viewed as the square [B, H, W, D] grid (channels-last, as torchvision keeps it). window_attention cuts the
grid into windows kept as an axis of their own ([B, windows, w * w, D]); its layers are ``<node>.qkv``,
``<node>.proj`` (Dense) and ``<node>.relative_position_bias_table`` (an Embedding whose table is torch's), as the
torch keys; the relative position index and the shift mask are constants of the graph."""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.ops.conv import weight_initializer
from archc.backends.keras.ops.token import attend, graph_constant
from archc.backends.keras.registry import register_lowering
from archc.ir.node import OpNode
from archc.ops.window import DRAWN


def relative_position_index(window: int) -> np.ndarray:
    """For each pair of positions of a window, the row of the bias table of their offset (torchvision's)."""
    rows, cols = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()])
    offsets = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return (offsets[:, :, 0] * (2 * window - 1) + offsets[:, :, 1]).ravel().astype("int32")


def shift_mask(pad: int, window: int, shift: int) -> np.ndarray:
    """[windows, 1, w^2, w^2]: -100 between positions that the roll brought together from opposite seams, else 0
    (torchvision's attention mask; the axis of 1 broadcasts over the heads)."""
    regions = np.zeros((pad, pad), dtype="float32")
    bounds = ((0, pad - window), (pad - window, pad - shift), (pad - shift, pad))
    for i, (h, w) in enumerate((h, w) for h in bounds for w in bounds):
        regions[h[0]:h[1], w[0]:w[1]] = i
    cells = pad // window
    regions = regions.reshape(cells, window, cells, window).transpose(0, 2, 1, 3).reshape(-1, window ** 2)
    differ = regions[:, None, :] - regions[:, :, None]
    return np.where(differ != 0, -100.0, 0.0).astype("float32")[:, None]


def _dense(builder: KerasBuilder, node: OpNode, child: str, units: int, bias: bool = True) -> Any:
    return keras.layers.Dense(units, use_bias=bias, name=builder.child_name(node.name, child),
                              kernel_initializer=weight_initializer(DRAWN, builder.seed_for(node.name, child)))


def _grid(builder: KerasBuilder, node: OpNode, x: Any) -> tuple[Any, int, int]:
    tokens, dim = node.input_shapes[0]
    side = math.isqrt(tokens)
    return keras.layers.Reshape((side, side, dim), name=builder.aux_name(node.name, "grid"))(x), side, dim


def _position_bias(builder: KerasBuilder, node: OpNode, x: Any) -> Any:
    """[1, heads, w^2, w^2]: the table's rows at the relative position index, as torch's table[index]."""
    w, heads = node.attrs.window, node.attrs.heads
    drawn = weight_initializer(DRAWN, builder.seed_for(node.name, "table"))
    table = keras.layers.Embedding((2 * w - 1) ** 2, heads, embeddings_initializer=drawn,
                                   name=builder.child_name(node.name, "relative_position_bias_table"))
    index = graph_constant(x, relative_position_index(w), batch=False)
    bias = keras.layers.Reshape((w * w, w * w, heads), name=builder.aux_name(node.name, "bias"))(table(index))
    return keras.layers.Permute((3, 1, 2), name=builder.aux_name(node.name, "bias_heads"))(bias)


@register_lowering("window_attention")
def lower_window_attention(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    attrs, w = node.attrs, node.attrs.window
    x, side, dim = _grid(builder, node, inputs[0])
    pad = -(-side // w) * w
    cells = pad // w
    shift = 0 if w >= pad else attrs.shift  # a window covering the padded grid has nothing to shift
    if pad > side:
        x = keras.layers.ZeroPadding2D(((0, pad - side), (0, pad - side)), name=builder.aux_name(node.name, "pad"))(x)
    if shift:
        x = keras.ops.roll(x, shift=(-shift, -shift), axis=(1, 2))
    x = keras.layers.Reshape((cells, w, cells, w, dim), name=builder.aux_name(node.name, "cells"))(x)
    x = keras.layers.Permute((1, 3, 2, 4, 5), name=builder.aux_name(node.name, "windows"))(x)
    x = keras.layers.Reshape((cells * cells, w * w, dim), name=builder.aux_name(node.name, "partition"))(x)
    bias = _position_bias(builder, node, inputs[0])
    if shift:
        bias = bias + shift_mask(pad, w, shift)
    x = attend(builder, node.name, _dense(builder, node, "qkv", 3 * dim)(x), attrs.heads, attrs.attention_dropout,
               bias)
    x = _dense(builder, node, "proj", dim)(x)
    if attrs.dropout:
        x = keras.layers.Dropout(attrs.dropout, name=builder.aux_name(node.name, "dropout"))(x)
    x = keras.layers.Reshape((cells, cells, w, w, dim), name=builder.aux_name(node.name, "unpartition"))(x)
    x = keras.layers.Permute((1, 3, 2, 4, 5), name=builder.aux_name(node.name, "rows"))(x)
    x = keras.layers.Reshape((pad, pad, dim), name=builder.aux_name(node.name, "padded"))(x)
    if shift:
        x = keras.ops.roll(x, shift=(shift, shift), axis=(1, 2))
    if pad > side:
        x = keras.layers.Cropping2D(((0, pad - side), (0, pad - side)), name=builder.aux_name(node.name, "crop"))(x)
    return keras.layers.Reshape(node.shape, name=builder.layer_name(node.name))(x)


@register_lowering("patch_merging")
def lower_patch_merging(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """2x2 neighbours concatenated in torchvision's order x0 (even row, even column), x1 (odd row, even column), x2
    (even row, odd column), x3: the column parity is the slower axis of the 4D features."""
    x, side, dim = _grid(builder, node, inputs[0])
    if side % 2:
        x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=builder.aux_name(node.name, "pad"))(x)
    half = -(-side // 2)
    x = keras.layers.Reshape((half, 2, half, 2, dim), name=builder.aux_name(node.name, "pairs"))(x)
    x = keras.layers.Permute((1, 3, 4, 2, 5), name=builder.aux_name(node.name, "order"))(x)  # row, col, j, i, D
    x = keras.layers.Reshape((half * half, 4 * dim), name=builder.aux_name(node.name, "concat"))(x)
    x = keras.layers.LayerNormalization(axis=-1, epsilon=node.attrs.eps, name=builder.child_name(node.name, "norm"))(x)
    return _dense(builder, node, "reduction", 2 * dim, bias=False)(x)


@register_lowering("token_mean")
def lower_token_mean(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.GlobalAveragePooling1D(name=builder.layer_name(node.name))(inputs[0])
