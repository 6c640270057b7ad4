"""Weight-bearing ops: conv -> nn.Conv2d, linear -> nn.Linear, initialised as the node's ``init`` / ``bias_init``."""

from __future__ import annotations

from torch import nn

from archc.backends.torch.init import initialise as _initialise
from archc.backends.torch.init import uninitialised
from archc.backends.torch.registry import LoweringNode, register_lowering


@register_lowering("conv")
def lower_conv(node: LoweringNode) -> nn.Module:
    """nn.Conv2d with the node's kernel, stride, padding, dilation and groups."""
    attrs = node.attrs
    # build without the constructor's random draw, so each weight is drawn once, from node.generator
    conv = uninitialised(nn.Conv2d, node.in_channels, attrs.out, kernel_size=attrs.kernel_hw, stride=attrs.stride_hw,
                     padding=attrs.padding_hw, dilation=attrs.dilation_hw, groups=attrs.groups, bias=attrs.bias,
                     device=node.device)
    _initialise(conv, node)
    return conv


@register_lowering("linear")
def lower_linear(node: LoweringNode) -> nn.Module:
    """nn.Linear over [N, features]."""
    attrs = node.attrs
    linear = uninitialised(nn.Linear, node.in_channels, attrs.out, bias=attrs.bias, device=node.device)
    _initialise(linear, node)
    return linear
