"""Ops of modern residual blocks: drop_path as a torch dropout module (so model.train() / model.eval() switch it)."""

from __future__ import annotations

from torch import nn

from archc.backends.torch.registry import Lowered, LoweringNode, Module, register_lowering


@register_lowering("drop_path")
def lower_drop_path(node: LoweringNode) -> Lowered:
    """Stochastic depth per sample. torch's channel dropouts zero whole channels of an unbatched input: given a batched
    NCHW tensor, nn.Dropout3d reads it as one unbatched (C, D, H, W) volume whose "channels" are the samples, and
    nn.Dropout1d does the same for (N, F). So each sample is dropped whole with probability rate and the others
    scaled by 1 / (1 - rate): torchvision's StochasticDepth(mode="row"), with plain torch.nn modules only."""
    if node.attrs.rate == 0:
        return ()
    cls = nn.Dropout3d if len(node.input_shapes[0]) == 3 else nn.Dropout1d
    return Module(cls, (node.attrs.rate,))
