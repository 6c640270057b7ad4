"""Normalisation and regularisation: bn -> nn.BatchNorm2d / 1d, layernorm -> nn.LayerNorm (between permutes over
[C, H, W], as timm's LayerNorm2d), groupnorm -> nn.GroupNorm, dropout -> nn.Dropout (modules: they follow
``model.train()`` / ``model.eval()``)."""

from __future__ import annotations

from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, register_lowering


@register_lowering("bn")
def lower_bn(node: LoweringNode) -> Module:
    """nn.BatchNorm2d for [C, H, W], nn.BatchNorm1d for [features]; eps and momentum in torch convention."""
    cls = nn.BatchNorm2d if len(node.input_shapes[0]) == 3 else nn.BatchNorm1d
    return Module(cls, (node.in_channels,), {"eps": node.attrs.eps, "momentum": node.attrs.momentum})


@register_lowering("layernorm")
def lower_layernorm(node: LoweringNode) -> Lowered:
    """nn.LayerNorm over [features]; over [C, H, W] the same module between NCHW -> NHWC -> NCHW permutes (timm's
    LayerNorm2d: state_dict keys weight and bias)."""
    rank = len(node.input_shapes[0])
    norm = Module(nn.LayerNorm, (node.input_shapes[0][-1] if rank == 2 else node.in_channels,), {"eps": node.attrs.eps})
    if rank < 3:  # [F] or [N, D]: over the last axis
        return norm
    return (Call("permute", args=(0, 2, 3, 1), method=True), norm, Call("permute", args=(0, 3, 1, 2), method=True))


@register_lowering("groupnorm")
def lower_groupnorm(node: LoweringNode) -> Module:
    """nn.GroupNorm(groups, channels)."""
    return Module(nn.GroupNorm, (node.attrs.groups, node.in_channels), {"eps": node.attrs.eps})


@register_lowering("dropout")
def lower_dropout(node: LoweringNode) -> Lowered:
    """nn.Dropout (a module, so model.eval() turns it off); nothing at all for p = 0."""
    if node.attrs.p == 0:
        return ()  # nothing to drop: the input itself, no module
    return Module(nn.Dropout, kwargs={"p": node.attrs.p})
