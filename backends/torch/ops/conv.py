"""Weight-bearing ops: conv -> nn.Conv2d, linear -> nn.Linear (initialised by the builder as the op declares)."""

from __future__ import annotations

from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, register_lowering


def compact(value: tuple[int, ...]) -> int | tuple[int, ...]:
    """``(3, 3)`` -> ``3``: what one writes by hand; torch layers take either."""
    return value[0] if len(set(value)) == 1 else tuple(value)


@register_lowering("conv")
def lower_conv(node: LoweringNode) -> Module:
    """nn.Conv2d with the node's kernel, stride, padding, dilation and groups."""
    attrs = node.attrs
    return Module(nn.Conv2d, (node.in_channels, attrs.out), {
        "kernel_size": compact(attrs.kernel_hw), "stride": compact(attrs.stride_hw),
        "padding": compact(attrs.padding_hw), "dilation": compact(attrs.dilation_hw), "groups": attrs.groups,
        "bias": attrs.bias})


@register_lowering("linear")
def lower_linear(node: LoweringNode) -> Lowered:
    """nn.Linear over [N, features] or [N, tokens, D]; over: channels, the same module between NCHW -> NHWC -> NCHW
    permutes (torchvision's ConvNeXt block: Permute, Linear, ..., Permute)."""
    shape = node.input_shapes[0]
    linear = Module(nn.Linear, (shape[-1] if len(shape) == 2 else node.in_channels, node.attrs.out),
                    {"bias": node.attrs.bias})
    if node.attrs.over == "features":
        return linear
    return (Call("permute", args=(0, 2, 3, 1), method=True), linear, Call("permute", args=(0, 3, 1, 2), method=True))
