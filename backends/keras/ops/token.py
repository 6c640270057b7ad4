"""Token ops of vision transformers as built-in Keras layers and keras.ops (no Lambda, no custom class: a saved
``.keras`` file loads with ``safe_mode``). to_tokens is a Reshape (channels-last [H, W, C] is already one token per
position, row by row); token a one-token Cropping1D then a Reshape; class_token and pos_embedding the rows of an
``Embedding`` named as the node (its [N, D] table is torch's [1, N, D] parameter); attention torch's
MultiheadAttention computed out: an ``EinsumDense`` named as the node holds the stacked q, k, v projection
(``in_proj_weight``), a ``Dense`` ``<node>.out_proj`` the output projection."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.ops.conv import weight_initializer
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


def graph_constant(x: Any, values: np.ndarray, batch: bool = True) -> Any:
    """The integer ``values`` as a tensor of the functional graph, [B, len] (one row per sample) or [1, len]: derived
    from ``x`` so that a layer can read it (a table lookup of 0, 1, ... is the table itself)."""
    first = x[:, :1] if batch else x[:1, :1]
    while len(first.shape) > 2:
        first = first[..., 0]
    return keras.ops.zeros_like(first, dtype="int32") + values.astype("int32")


def _embedding(builder: KerasBuilder, node: OpNode, rows: int) -> Any:
    return keras.layers.Embedding(rows, node.input_shapes[0][-1], name=builder.layer_name(node.name),
                                  embeddings_initializer=weight_initializer(node.attrs.init,
                                                                            builder.seed_for(node.name, "")))


@register_lowering("class_token")
def lower_class_token(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """[token, x] along the tokens: the token is the one row of the node's Embedding, looked up for every sample."""
    token = _embedding(builder, node, 1)(graph_constant(inputs[0], np.zeros(1)))
    return keras.layers.Concatenate(axis=1, name=builder.aux_name(node.name, "prepend"))([token, inputs[0]])


@register_lowering("pos_embedding")
def lower_pos_embedding(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    """x + the node's Embedding looked up at every position: row i is added to token i."""
    embedded = _embedding(builder, node, node.shape[0])(graph_constant(inputs[0], np.arange(node.shape[0])))
    return keras.layers.Add(name=builder.aux_name(node.name, "add"))([inputs[0], embedded])


def _length(x: Any) -> Any:
    """The Euclidean length over the last axis (not keras.ops.norm: its operation is named "norm", as Swin's last
    layernorm node)."""
    return keras.ops.sqrt(keras.ops.sum(keras.ops.square(x), axis=-1, keepdims=True))


def attend(builder: KerasBuilder, name: str, qkv: Any, heads: int, dropout: float, bias: Any = None,
           cosine_scale: Any = None) -> Any:
    """Scaled dot-product attention of [..., T, 3D] stacked q, k, v (torch's in_proj / qkv order) -> [..., T, D]:
    softmax(q k^T / sqrt(D / heads) + bias) v per head, dropout on the weights, as torch computes it. With
    ``cosine_scale`` (Swin V2): cosine similarities of q and k (F.normalize's) times that scale instead."""
    *outer, tokens, features = qkv.shape[1:]
    width = features // 3 // heads
    qkv = keras.layers.Reshape((*outer, tokens, 3, heads, width), name=builder.aux_name(name, "heads"))(qkv)
    order = len(outer)  # [..., T, 3, h, w] -> [3, ..., h, T, w]
    qkv = keras.layers.Permute((order + 2, *range(1, order + 1), order + 3, order + 1, order + 4),
                               name=builder.aux_name(name, "split"))(qkv)
    query, key, value = qkv[:, 0], qkv[:, 1], qkv[:, 2]
    if cosine_scale is None:
        scores = keras.ops.matmul(query * width ** -0.5, keras.ops.swapaxes(key, -1, -2))
    else:
        query, key = (x / keras.ops.maximum(_length(x), 1e-12) for x in (query, key))  # F.normalize's
        scores = keras.ops.matmul(query, keras.ops.swapaxes(key, -1, -2)) * cosine_scale
    if bias is not None:
        scores = scores + bias
    weights = keras.layers.Softmax(axis=-1, name=builder.aux_name(name, "softmax"))(scores)
    if dropout:
        weights = keras.layers.Dropout(dropout, name=builder.aux_name(name, "attention_dropout"))(weights)
    out = keras.ops.matmul(weights, value)  # [..., h, T, w] -> [..., T, h, w] -> [..., T, D]
    out = keras.layers.Permute((*range(1, order + 1), order + 2, order + 1, order + 3),
                               name=builder.aux_name(name, "merge"))(out)
    return keras.layers.Reshape((*outer, tokens, features // 3), name=builder.aux_name(name, "concat"))(out)


@register_lowering("attention")
def lower_attention(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    tokens, features = node.input_shapes[0]
    seed = builder.seed_for
    # torch's MultiheadAttention: in_proj xavier_uniform (Keras' glorot on the [D, 3D] kernel: the same fans), biases
    # zero, out_proj a Linear's default draw
    qkv = keras.layers.EinsumDense("btd,de->bte", (tokens, 3 * features), bias_axes="e",
                                   kernel_initializer=weight_initializer("xavier_uniform", seed(node.name, "in_proj")),
                                   name=builder.layer_name(node.name))(inputs[0])
    out = attend(builder, node.name, qkv, node.attrs.heads, node.attrs.dropout)
    return keras.layers.Dense(features, name=builder.child_name(node.name, "out_proj"),
                              kernel_initializer=weight_initializer("torch_default", seed(node.name, "out_proj")))(out)
