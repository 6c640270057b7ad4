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
from archc.ops.window import CPB_HIDDEN, DRAWN, LOGIT_SCALE_INIT, LOGIT_SCALE_MAX


def relative_position_index(window: int) -> np.ndarray:
    """For each pair of positions of a window, the row of the bias table of their offset (torchvision's)."""
    rows, cols = np.meshgrid(np.arange(window), np.arange(window), indexing="ij")
    coords = np.stack([rows.ravel(), cols.ravel()])
    offsets = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + (window - 1)
    return (offsets[:, :, 0] * (2 * window - 1) + offsets[:, :, 1]).ravel().astype("int32")


def relative_coords_table(window: int) -> np.ndarray:
    """[(2w - 1)^2, 2]: each relative offset, scaled to [-8, 8] and log-spaced (Swin V2, torchvision's), row by row."""
    offsets = np.arange(-(window - 1), window, dtype="float32") / np.float32(max(window - 1, 1)) * np.float32(8)
    rows, cols = np.meshgrid(offsets, offsets, indexing="ij")
    table = np.stack([rows.ravel(), cols.ravel()], axis=-1)
    return (np.sign(table) * np.log2(np.abs(table) + np.float32(1)) / np.float32(3)).astype("float32")


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


def _dense(builder: KerasBuilder, node: OpNode, child: str, units: int, bias: bool = True,
           activation: str | None = None) -> Any:
    return keras.layers.Dense(units, use_bias=bias, name=builder.child_name(node.name, child), activation=activation,
                              kernel_initializer=weight_initializer(DRAWN, builder.seed_for(node.name, child)))


def _grid(builder: KerasBuilder, node: OpNode, x: Any) -> tuple[Any, int, int]:
    tokens, dim = node.input_shapes[0]
    side = math.isqrt(tokens)
    return keras.layers.Reshape((side, side, dim), name=builder.aux_name(node.name, "grid"))(x), side, dim


def _position_bias(builder: KerasBuilder, node: OpNode, x: Any) -> Any:
    """[1, heads, w^2, w^2]: the table's rows at the relative position index, as torch's table[index]; Swin V2's
    table is 16 * sigmoid of the MLP over the relative coordinates (computed from a constant of the graph)."""
    w, heads = node.attrs.window, node.attrs.heads
    index = graph_constant(x, relative_position_index(w), batch=False)
    if node.attrs.position_bias == "mlp":
        coords = _float_constant(x, relative_coords_table(w))
        hidden = _dense(builder, node, "cpb_mlp.0", CPB_HIDDEN, activation="relu")(coords)
        table = _dense(builder, node, "cpb_mlp.2", heads, bias=False)(hidden)  # [1, (2w - 1)^2, heads]
        rows = keras.ops.take(table, index[0], axis=1)
    else:
        drawn = weight_initializer(DRAWN, builder.seed_for(node.name, "table"))
        rows = keras.layers.Embedding((2 * w - 1) ** 2, heads, embeddings_initializer=drawn,
                                      name=builder.child_name(node.name, "relative_position_bias_table"))(index)
    bias = keras.layers.Reshape((w * w, w * w, heads), name=builder.aux_name(node.name, "bias"))(rows)
    bias = keras.layers.Permute((3, 1, 2), name=builder.aux_name(node.name, "bias_heads"))(bias)
    return 16 * keras.ops.sigmoid(bias) if node.attrs.position_bias == "mlp" else bias


def _float_constant(x: Any, values: np.ndarray) -> Any:
    """The float ``values`` as a [1, ...] tensor of the functional graph (derived from ``x``: a layer can read it)."""
    first = x[:1, :1]
    while len(first.shape) > 2:
        first = first[..., 0]
    return keras.ops.zeros_like(first[:, :, None], dtype="float32") + values[None]


def _logit_scale(builder: KerasBuilder, node: OpNode, x: Any) -> Any:
    """[1, 1, heads, 1, 1]: exp(min(logit_scale, log 100)), the learned scale of cosine attention (an Embedding's
    one row, so the variable is a layer's)."""
    heads = node.attrs.heads
    scale = keras.layers.Embedding(1, heads, embeddings_initializer=keras.initializers.Constant(LOGIT_SCALE_INIT),
                                   name=builder.child_name(node.name, "logit_scale"))(
        graph_constant(x, np.zeros(1), batch=False))
    scale = keras.layers.Reshape((1, heads, 1, 1), name=builder.aux_name(node.name, "logit_heads"))(scale)
    return keras.ops.exp(keras.ops.minimum(scale, LOGIT_SCALE_MAX))


def _qkv(builder: KerasBuilder, node: OpNode, x: Any, dim: int) -> Any:
    """The qkv projection; with cosine attention the key third of its bias is held at zero (torchvision's V2): the
    layer applied to zeros is its bias, whose key third is taken away again."""
    layer = _dense(builder, node, "qkv", 3 * dim)
    qkv = layer(x)
    if not node.attrs.cosine:
        return qkv
    key_third = np.repeat(np.array([0, 1, 0], dtype="float32"), dim)
    return qkv - layer(keras.ops.zeros_like(x[..., :1, :])) * key_third


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
    scale = _logit_scale(builder, node, inputs[0]) if attrs.cosine else None
    x = attend(builder, node.name, _qkv(builder, node, x, dim), attrs.heads, attrs.attention_dropout, bias, scale)
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
    norm = keras.layers.LayerNormalization(axis=-1, epsilon=node.attrs.eps, name=builder.child_name(node.name, "norm"))
    reduction = _dense(builder, node, "reduction", 2 * dim, bias=False)
    return norm(reduction(x)) if node.attrs.norm == "after" else reduction(norm(x))  # after: Swin V2's


@register_lowering("token_mean")
def lower_token_mean(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    return keras.layers.GlobalAveragePooling1D(name=builder.layer_name(node.name))(inputs[0])
