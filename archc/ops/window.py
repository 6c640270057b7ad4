"""Ops of the Swin Transformer (Liu et al. 2021), as torchvision's ``swin_t``: tokens ``[N, D]`` that are a square
``sqrt(N) x sqrt(N)`` grid read row by row (``to_tokens`` of an image), shifted-window self-attention over that grid,
patch merging (2x2 neighbours concatenated, normalised, reduced 4D -> 2D) and the mean over all tokens."""

from __future__ import annotations

import math

from pydantic import Field

from archc.ops.initializers import TruncNormal
from archc.ops.registry import (
    Example,
    NonNegativeCount,
    Number,
    OpSpec,
    PositiveCount,
    Shape,
    ShapeError,
    TensorDecl,
    expect_rank,
    register_op,
)

ROLE = "window attention"
#: torchvision's SwinTransformer: every linear weight and the bias table trunc_normal(std=0.02), linear biases zero
DRAWN = TruncNormal(std=0.02)


def grid_side(shape: Shape, what: str) -> int:
    """The side of the square grid of ``[N, D]`` tokens; a located error where ``N`` is not a square."""
    expect_rank(shape, (2,), what)
    side = math.isqrt(shape[0])
    if side * side != shape[0]:
        raise ShapeError(f"{what} needs a square grid of tokens, got {shape[0]} tokens",
                         hint="give the image equal height and width")
    return side


def _dim(attrs, inputs: list[Shape]) -> int:
    return inputs[0][-1]


def _table(attrs, inputs: list[Shape]) -> Shape:
    return ((2 * attrs.window - 1) ** 2, attrs.heads)


@register_op("window_attention")
class WindowAttention(OpSpec):
    """Shifted-window multi-head self-attention over a square grid of ``[N, D]`` tokens, as torchvision's
    ``ShiftedWindowAttention``: the grid is padded to a multiple of ``window``, rolled by ``shift`` (0 where the
    window covers the padded grid), cut into ``window x window`` windows, each attended with a learned relative
    position bias (and a mask across the rolled seams), then rolled back. Tensors, in torchvision's state_dict
    order: ``relative_position_bias_table`` ``[(2w - 1)^2, heads]``, the ``relative_position_index`` buffer
    ``[w^2 * w^2]``, ``qkv.weight`` ``[3D, D]``, ``qkv.bias``, ``proj.weight``, ``proj.bias``. In Keras the layers
    ``<node>.qkv``, ``<node>.proj`` (Dense) and ``<node>.relative_position_bias_table`` (an Embedding) hold them; the
    index is a constant of the Keras graph, not a variable."""

    summary = "shifted-window self-attention over a square grid of [N, D] tokens (torchvision's Swin)"
    examples = (Example((16, 4), {"heads": 2, "window": 2, "shift": 1}),
                Example((9, 4), {"heads": 2, "window": 2, "shift": 1}))  # padded to 4 x 4: padding, mask and crop
    traits = {"weighted", "fresh output"}
    tensors = (TensorDecl("relative_position_bias_table", "position bias table", _table, init=lambda a: DRAWN,
                          keras="Embedding.embeddings", keras_layer="relative_position_bias_table"),
               TensorDecl("relative_position_index", "position index", lambda a, x: (a.window ** 4,), trainable=False),
               TensorDecl("qkv.weight", ROLE, init=lambda a: DRAWN, shape=lambda a, x: (3 * _dim(a, x), _dim(a, x)),
                          keras="Dense.kernel"),
               TensorDecl("qkv.bias", "bias", init=lambda a: "zeros", shape=lambda a, x: (3 * _dim(a, x),),
                          keras="Dense.bias"),
               TensorDecl("proj.weight", ROLE, init=lambda a: DRAWN, shape=lambda a, x: (_dim(a, x), _dim(a, x)),
                          keras="Dense.kernel"),
               TensorDecl("proj.bias", "bias", init=lambda a: "zeros", shape=lambda a, x: (_dim(a, x),),
                          keras="Dense.bias"))
    heads: PositiveCount
    window: PositiveCount = 7
    shift: NonNegativeCount = 0
    attention_dropout: Number = Field(0.0, ge=0, lt=1)
    dropout: Number = Field(0.0, ge=0, lt=1)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        grid_side(inputs[0], "window_attention")
        if inputs[0][1] % self.heads:
            raise ShapeError(f"window_attention with heads={self.heads} needs features divisible by {self.heads}, "
                             f"got {inputs[0][1]}", hint="choose heads among the divisors of the token width")
        if self.shift >= self.window:
            raise ShapeError(f"window_attention shift {self.shift} must be smaller than its window {self.window}")
        return inputs[0]

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        side = -(-grid_side(inputs[0], "window_attention") // self.window) * self.window  # padded grid
        tokens, features = side * side, inputs[0][1]
        # qkv and output projections over the padded grid, then q k^T and the weighted sum of v within each window
        return 4 * tokens * features * features + 2 * tokens * self.window ** 2 * features


@register_op("patch_merging")
class PatchMerging(OpSpec):
    """Halve a square grid of ``[N, D]`` tokens: each 2x2 neighbourhood concatenated (``[D * 4]``, padded where the
    side is odd), layer-normalised over the ``4D`` features, reduced to ``2D`` without bias -> ``[ceil(side / 2)^2,
    2D]``, as torchvision's ``PatchMerging``. Tensors, in its state_dict order: ``reduction.weight`` ``[2D, 4D]``,
    ``norm.weight``, ``norm.bias`` (Keras layers ``<node>.reduction``, ``<node>.norm``)."""

    summary = "Swin patch merging: 2x2 tokens concatenated, layernorm, linear 4D -> 2D: [N, D] -> [N / 4, 2D]"
    examples = (Example((16, 4)), Example((9, 4)))  # an odd side: padded
    traits = {"weighted", "fresh output"}
    tensors = (TensorDecl("reduction.weight", ROLE, init=lambda a: DRAWN, keras="Dense.kernel",
                          shape=lambda a, x: (2 * _dim(a, x), 4 * _dim(a, x))),
               TensorDecl("norm.weight", "per-channel vector", lambda a, x: (4 * _dim(a, x),),
                          keras="LayerNormalization.gamma"),
               TensorDecl("norm.bias", "per-channel vector", lambda a, x: (4 * _dim(a, x),),
                          keras="LayerNormalization.beta"))
    eps: Number = Field(1e-5, gt=0)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        half = -(-grid_side(inputs[0], "patch_merging") // 2)
        return (half * half, 2 * inputs[0][1])

    def count_macs(self, inputs: list[Shape], output: Shape) -> int:
        return output[0] * 4 * inputs[0][1] * output[1]


@register_op("token_mean")
class TokenMean(OpSpec):
    """The mean over all tokens: ``[N, D]`` -> ``[D]`` (Swin's global average pool of its last grid)."""

    summary = "mean over the tokens: [N, D] -> [D]"
    examples = (Example((3, 4)),)
    traits = {"keeps dtype"}

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (2,), "token_mean")
        return (inputs[0][1],)
