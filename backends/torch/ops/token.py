"""Token ops of vision transformers, as torchvision's VisionTransformer computes them: to_tokens as flatten +
transpose, class_token and pos_embedding with the node's own parameter, token as an index, attention as
torch.nn.MultiheadAttention(batch_first=True) called on (x, x, x) without attention weights."""

from __future__ import annotations

import operator

import torch
from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, Param, register_lowering


def prepend_token(x: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """``[token, x]`` along the tokens, the [1, 1, D] token repeated over the batch (torchvision's ViT)."""
    return torch.cat([token.expand(x.shape[0], -1, -1), x], dim=1)


class SelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention read as a one-input layer: ``attn(x, x, x, need_weights=False)[0]``. Same tensors and
    state_dict keys as its base (torchvision's EncoderBlock.self_attention)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


@register_lowering("to_tokens")
def lower_to_tokens(node: LoweringNode) -> Lowered:
    """(N, C, H, W) -> (N, C, H * W) -> (N, H * W, C)."""
    return (Call("flatten", args=(2,), method=True), Call("transpose", args=(1, 2), method=True))


@register_lowering("class_token")
def lower_class_token(node: LoweringNode) -> Lowered:
    return (Param(), Call(prepend_token))


@register_lowering("pos_embedding")
def lower_pos_embedding(node: LoweringNode) -> Lowered:
    return (Param(), Call(operator.add, fold=True))


@register_lowering("token")
def lower_token(node: LoweringNode) -> Call:
    """x[:, index]."""
    return Call(operator.getitem, args=((slice(None), node.attrs.index),))


@register_lowering("attention")
def lower_attention(node: LoweringNode) -> Module:
    return Module(SelfAttention, (node.input_shapes[0][-1], node.attrs.heads),
                  {"dropout": node.attrs.dropout, "batch_first": True})
