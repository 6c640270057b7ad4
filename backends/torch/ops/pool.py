"""Pooling: maxpool / avgpool as nn.MaxPool2d / nn.AvgPool2d modules (as in torchvision, whose ``maxpool`` and
``transition1.pool`` they reproduce in ``print(model)``), the global pools as plain function calls."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archc.backends.torch.registry import Call, LoweringNode, Module, register_lowering


def _pool_kwargs(node: LoweringNode) -> dict[str, object]:
    attrs = node.attrs
    kwargs: dict[str, object] = {"kernel_size": attrs.kernel}
    if attrs.stride is not None:  # None: torch's default, the kernel
        kwargs["stride"] = attrs.stride
    if attrs.padding != 0:
        kwargs["padding"] = attrs.padding
    if attrs.ceil_mode:
        kwargs["ceil_mode"] = True
    if not getattr(attrs, "count_include_pad", True):
        kwargs["count_include_pad"] = False
    return kwargs


@register_lowering("maxpool")
def lower_maxpool(node: LoweringNode) -> Module:
    """nn.MaxPool2d."""
    return Module(nn.MaxPool2d, kwargs=_pool_kwargs(node))


@register_lowering("avgpool")
def lower_avgpool(node: LoweringNode) -> Module:
    """nn.AvgPool2d (padding counts as zeros unless count_include_pad is false, as in torch)."""
    return Module(nn.AvgPool2d, kwargs=_pool_kwargs(node))


@register_lowering("global_avgpool")
def lower_global_avgpool(node: LoweringNode) -> Call:
    """F.adaptive_avg_pool2d to 1 x 1 (keepdims), else the mean over H and W."""
    # adaptive pooling to 1x1 is what torchvision calls (and its fastest kernel); the mean where no H, W remain
    if node.attrs.keepdims:
        return Call(F.adaptive_avg_pool2d, args=(1,))
    return Call(torch.mean, kwargs={"dim": (2, 3)})


@register_lowering("global_maxpool")
def lower_global_maxpool(node: LoweringNode) -> Call:
    """F.adaptive_max_pool2d to 1 x 1 (keepdims), else the max over H and W."""
    if node.attrs.keepdims:
        return Call(F.adaptive_max_pool2d, args=(1,))
    return Call(torch.amax, kwargs={"dim": (2, 3)})


@register_lowering("adaptive_avgpool")
def lower_adaptive_avgpool(node: LoweringNode) -> Module:
    """nn.AdaptiveAvgPool2d (torchvision VGG's and AlexNet's ``avgpool``)."""
    return Module(nn.AdaptiveAvgPool2d, (_size(node),))


@register_lowering("adaptive_maxpool")
def lower_adaptive_maxpool(node: LoweringNode) -> Module:
    """nn.AdaptiveMaxPool2d."""
    return Module(nn.AdaptiveMaxPool2d, (_size(node),))


def _size(node: LoweringNode) -> int | tuple[int, int]:
    height, width = node.shape[1:]
    return height if height == width else (height, width)
