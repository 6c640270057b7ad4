"""Ops of modern residual blocks: drop_path as a torch dropout module (so model.train() / model.eval() switch it),
layer_scale as a product with the node's own parameter."""

from __future__ import annotations

import operator

from torch import nn

from archc.backends.torch.registry import Call, Lowered, LoweringNode, Module, Param, register_lowering


@register_lowering("drop_path")
def lower_drop_path(node: LoweringNode) -> Lowered:
    """Stochastic depth per sample. torch's channel dropouts zero whole channels of an unbatched input: given a batched
    NCHW tensor, nn.Dropout3d reads it as one unbatched (C, D, H, W) volume whose "channels" are the samples, and
    nn.Dropout1d does the same for (N, F). So each sample is dropped whole with probability rate and the others
    scaled by 1 / (1 - rate): torchvision's StochasticDepth(mode="row"), with plain torch.nn modules only."""
    if node.attrs.rate == 0:
        return ()
    if len(node.input_shapes[0]) == 2:  # (B, N, D) tokens: as (B, N, D, 1), one unbatched volume, as above
        return (Call("unsqueeze", args=(-1,), method=True), Module(nn.Dropout3d, (node.attrs.rate,)),
                Call("squeeze", args=(-1,), method=True))
    cls = nn.Dropout3d if len(node.input_shapes[0]) == 3 else nn.Dropout1d
    return Module(cls, (node.attrs.rate,))


@register_lowering("layer_scale")
def lower_layer_scale(node: LoweringNode) -> Lowered:
    """x * the node's own [C, 1, 1] parameter (torchvision's CNBlock: ``self.layer_scale * self.block(input)``)."""
    return (Param(), Call(operator.mul, fold=True))
