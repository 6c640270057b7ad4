"""Ops across the channel axis as tensor methods and slices: channel_shuffle, chunk, channel_mean, channel_max;
channel_conv as nn.Conv1d between reshapes (timm's EcaModule)."""

from __future__ import annotations

import operator

import torch
from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, register_lowering


@register_lowering("channel_shuffle")
def lower_channel_shuffle(node: LoweringNode) -> Lowered:
    """torchvision's channel_shuffle: (N, g, C/g, H, W), transpose(1, 2), back to (N, C, H, W)."""
    channels, height, width = node.input_shapes[0]
    groups = node.attrs.groups
    return (Call("reshape", args=(-1, groups, channels // groups, height, width), method=True),
            Call("transpose", args=(1, 2), method=True),
            Call("reshape", args=(-1, channels, height, width), method=True))


@register_lowering("chunk")
def lower_chunk(node: LoweringNode) -> Call:
    """x[:, start:stop]: the part's channels (a view, as x.chunk(n, dim=1)[i])."""
    start, stop = node.attrs.bounds(node.input_shapes[0][0])
    return Call(operator.getitem, args=((slice(None), slice(start, stop)),))


@register_lowering("channel_mean")
def lower_channel_mean(node: LoweringNode) -> Call:
    """torch.mean over dim 1, keeping it: (N, 1, H, W)."""
    return Call(torch.mean, kwargs={"dim": 1, "keepdim": True})


@register_lowering("channel_max")
def lower_channel_max(node: LoweringNode) -> Call:
    """torch.amax over dim 1, keeping it: (N, 1, H, W)."""
    return Call(torch.amax, kwargs={"dim": 1, "keepdim": True})


@register_lowering("channel_conv")
def lower_channel_conv(node: LoweringNode) -> Lowered:
    """timm's EcaModule: (N, C, 1, 1) viewed as (N, 1, C), nn.Conv1d(1, 1, k, padding=(k - 1) // 2, bias=False),
    back to (N, C, 1, 1)."""
    channels = node.input_shapes[0][0]
    kernel = node.attrs.kernel
    return (Call("reshape", args=(-1, 1, channels), method=True),
            Module(nn.Conv1d, (1, 1, kernel), {"padding": (kernel - 1) // 2, "bias": False}),
            Call("reshape", args=(-1, channels, 1, 1), method=True))
