"""Ops of modern residual blocks: drop_path (stochastic depth), layer_scale (ConvNeXt)."""

from __future__ import annotations

from pydantic import Field

from archc.ops.registry import Example, Number, OpSpec, Shape, TensorDecl, expect_rank, register_op


@register_op("drop_path")
class DropPath(OpSpec):
    """Stochastic depth (Huang et al. 2016) per sample, as torchvision's ``StochasticDepth(p, mode="row")`` and timm's
    ``DropPath``: in training each sample's whole tensor is zeroed with probability ``rate`` and the others scaled by
    ``1 / (1 - rate)``; the identity in eval mode. ``rate`` is usually an expression of the block index."""

    summary = "stochastic depth: drop the whole sample's branch with probability rate (identity in eval)"
    examples = (Example((4, 5, 5), {"rate": 0.2}), Example((6,), {"rate": 0.1}), Example((3, 4), {"rate": 0.1}))
    traits = {"keeps dtype", "keeps sign"}
    rate: Number = Field(0.0, ge=0, lt=1)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (1, 2, 3), "drop_path")
        return inputs[0]


@register_op("layer_scale")
class LayerScale(OpSpec):
    """ConvNeXt's layer scale: ``x · γ`` with γ a learned ``[C, 1, 1]`` tensor starting at ``init``. Its tensor is the
    node itself, a bare parameter as torchvision's CNBlock keeps it: name the node ``features.1.0.layer_scale`` and
    its state_dict key is ``features.1.0.layer_scale``."""

    summary = "x times a learned per-channel scale (ConvNeXt's layer_scale; the node is the parameter)"
    examples = (Example((4, 3, 3), {"init": 0.5}),)
    traits = {"weighted", "elementwise", "fresh output", "promotes dtype"}
    tensors = (TensorDecl("", "channel scale", lambda attrs, inputs: (inputs[0][0], 1, 1),
                          keras="DepthwiseConv2D.kernel", init=lambda attrs: attrs.init),)
    init: Number = 1e-6  # torchvision's layer_scale default

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), "layer_scale")
        return inputs[0]
