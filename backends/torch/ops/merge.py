"""Shape plumbing and merges: add, sub, mul, concat, flatten, identity, channel_pad."""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F

from archc.backends.torch.registry import Call, Lowered, LoweringNode, register_lowering
from archc.ops.registry import pair


@register_lowering("add")
def lower_add(node: LoweringNode) -> Call:
    """a + b (+ c ...); ``a.add_(b)`` where a may be overwritten (torchvision's ``out += identity``)."""
    if node.can_overwrite_input:
        return Call("add_", fold=True, method=True)  # no new tensor per residual block
    return Call(operator.add, fold=True)  # a (N, C, 1, 1) operand broadcasts over H and W by itself


@register_lowering("sub")
def lower_sub(node: LoweringNode) -> Call:
    """a - b."""
    return Call(operator.sub, fold=True)


@register_lowering("mul")
def lower_mul(node: LoweringNode) -> Call:
    """a * b (* c ...)."""
    return Call(operator.mul, fold=True)


@register_lowering("concat")
def lower_concat(node: LoweringNode) -> Call:
    """torch.cat along channels / features (or height / width)."""
    return Call(torch.cat, kwargs={"dim": node.attrs.dim + 1}, pack=True)


@register_lowering("flatten")
def lower_flatten(node: LoweringNode) -> Lowered:
    """torch.flatten(x, 1); nothing for an input that is already [features]."""
    if len(node.input_shapes[0]) == 1:
        return ()  # already [N, F]
    return Call(torch.flatten, args=(1,))


@register_lowering("identity")
def lower_identity(node: LoweringNode) -> Lowered:
    """Nothing: the input itself."""
    return ()  # no code: consumers read the input directly


@register_lowering("channel_pad")
def lower_channel_pad(node: LoweringNode) -> Lowered:
    """He et al.'s option A shortcut: ``x[:, :, ::s, ::s]`` then zero channels, split before / after."""
    calls = []
    stride_h, stride_w = pair(node.attrs.stride)
    if (stride_h, stride_w) != (1, 1):
        every = slice(None)
        calls.append(Call(operator.getitem, args=((every, every, slice(None, None, stride_h),
                                                    slice(None, None, stride_w)),)))
    before, after = node.attrs.pad_before_after(node.in_channels)
    if before or after:
        calls.append(Call(F.pad, args=((0, 0, 0, 0, before, after),)))
    return tuple(calls)
