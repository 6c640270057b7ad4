"""Ops of the Swin Transformer (Liu et al. 2021), as torchvision's ``swin_t``: tokens ``[N, D]`` that are a square
``sqrt(N) x sqrt(N)`` grid read row by row (``to_tokens`` of an image), shifted-window self-attention over that grid,
patch merging (2x2 neighbours concatenated, normalised, reduced 4D -> 2D) and the mean over all tokens. Swin V2
(``swin_v2_t``) is options of the same ops: ``window_attention``'s ``cosine`` and ``position_bias: mlp``,
``patch_merging``'s ``norm: after``."""

from __future__ import annotations

import math
from typing import Literal

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
#: the hidden width of Swin V2's continuous position bias MLP (torchvision's cpb_mlp: Linear(2, 512), ReLU, Linear)
CPB_HIDDEN = 512
#: Swin V2's cosine attention: the learned log logit scale starts at log(10) and is clamped at log(100)
LOGIT_SCALE_INIT, LOGIT_SCALE_MAX = math.log(10.0), math.log(100.0)


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


def _cosine(attrs) -> bool:
    return attrs.cosine


def _learned_table(attrs) -> bool:
    return attrs.position_bias == "table"


def _mlp(attrs) -> bool:
    return attrs.position_bias == "mlp"


def _v2_tensors() -> tuple[TensorDecl, ...]:
    """Swin V2's continuous position bias MLP, declared after qkv and proj as torchvision registers it."""
    return (TensorDecl("cpb_mlp.0.weight", ROLE, lambda a, x: (CPB_HIDDEN, 2), keras="Dense.kernel",
                       init=lambda a: DRAWN, present=_mlp),
            TensorDecl("cpb_mlp.0.bias", "bias", lambda a, x: (CPB_HIDDEN,), keras="Dense.bias",
                       init=lambda a: "zeros", present=_mlp),
            TensorDecl("cpb_mlp.2.weight", ROLE, lambda a, x: (a.heads, CPB_HIDDEN), keras="Dense.kernel",
                       init=lambda a: DRAWN, present=_mlp))


@register_op("window_attention")
class WindowAttention(OpSpec):
    """Shifted-window multi-head self-attention over a square grid of ``[N, D]`` tokens, as torchvision's
    ``ShiftedWindowAttention``: the grid is padded to a multiple of ``window``, rolled by ``shift`` (0 where the
    window covers the padded grid), cut into ``window x window`` windows, each attended with a learned relative
    position bias (and a mask across the rolled seams), then rolled back. Tensors, in torchvision's state_dict
    order: ``relative_position_bias_table`` ``[(2w - 1)^2, heads]``, the ``relative_position_index`` buffer
    ``[w^2 * w^2]``, ``qkv.weight`` ``[3D, D]``, ``qkv.bias``, ``proj.weight``, ``proj.bias``. In Keras the layers
    ``<node>.qkv``, ``<node>.proj`` (Dense) and ``<node>.relative_position_bias_table`` (an Embedding) hold them; the
    index is a constant of the Keras graph, not a variable.

    Swin V2 (torchvision's ``ShiftedWindowAttentionV2``) is ``cosine: true, position_bias: mlp``. ``cosine``: scaled
    cosine attention, ``cos(q, k) * exp(min(logit_scale, log 100))`` with a learned ``logit_scale`` ``[heads, 1, 1]``
    (from log 10; first in the state dict; Keras: the Embedding ``<node>.logit_scale``), and the key third of
    ``qkv.bias`` held at zero in the forward. ``position_bias: mlp``: the continuous bias ``16 * sigmoid(cpb_mlp(t))``
    over the log-spaced relative coordinates ``t`` (the ``relative_coords_table`` buffer ``[1, 2w - 1, 2w - 1, 2]``,
    before the index), ``cpb_mlp`` a ``Linear(2, 512)``, ReLU, ``Linear(512, heads, bias=False)`` (last in the state
    dict; Keras Dense ``<node>.cpb_mlp.0`` / ``.2``) instead of the learned table."""

    summary = ("shifted-window self-attention over a square grid of [N, D] tokens (torchvision's Swin; cosine: true, "
               "position_bias: mlp is Swin V2's)")
    examples = (Example((16, 4), {"heads": 2, "window": 2, "shift": 1}),
                Example((9, 4), {"heads": 2, "window": 2, "shift": 1}),  # padded to 4 x 4: padding, mask and crop
                Example((9, 4), {"heads": 2, "window": 2, "shift": 1, "cosine": True, "position_bias": "mlp"}),
                Example((16, 4), {"heads": 2, "window": 2, "cosine": True}),
                Example((16, 4), {"heads": 2, "window": 2, "shift": 1, "position_bias": "mlp"}))
    traits = {"weighted", "fresh output"}
    tensors = (TensorDecl("logit_scale", "attention logit scale", lambda a, x: (a.heads, 1, 1), present=_cosine,
                          init=lambda a: LOGIT_SCALE_INIT, keras="Embedding.embeddings", keras_layer="logit_scale"),
               TensorDecl("relative_position_bias_table", "position bias table", _table, init=lambda a: DRAWN,
                          keras="Embedding.embeddings", keras_layer="relative_position_bias_table",
                          present=_learned_table),
               TensorDecl("relative_coords_table", "position coordinates", trainable=False, present=_mlp,
                          shape=lambda a, x: (1, 2 * a.window - 1, 2 * a.window - 1, 2)),
               TensorDecl("relative_position_index", "position index", lambda a, x: (a.window ** 4,), trainable=False),
               TensorDecl("qkv.weight", ROLE, init=lambda a: DRAWN, shape=lambda a, x: (3 * _dim(a, x), _dim(a, x)),
                          keras="Dense.kernel"),
               TensorDecl("qkv.bias", "bias", init=lambda a: "zeros", shape=lambda a, x: (3 * _dim(a, x),),
                          keras="Dense.bias"),
               TensorDecl("proj.weight", ROLE, init=lambda a: DRAWN, shape=lambda a, x: (_dim(a, x), _dim(a, x)),
                          keras="Dense.kernel"),
               TensorDecl("proj.bias", "bias", init=lambda a: "zeros", shape=lambda a, x: (_dim(a, x),),
                          keras="Dense.bias"),
               *_v2_tensors())
    heads: PositiveCount
    window: PositiveCount = 7
    shift: NonNegativeCount = 0
    attention_dropout: Number = Field(0.0, ge=0, lt=1)
    dropout: Number = Field(0.0, ge=0, lt=1)
    cosine: bool = Field(False, description="Swin V2's scaled cosine attention: cos(q, k) times a learned, "
                         "clamped logit_scale per head; the key third of qkv.bias held at zero")
    position_bias: Literal["table", "mlp"] = Field(
        "table", description="table: a learned relative position bias table (Swin); mlp: Swin V2's continuous bias, "
        "16 * sigmoid(cpb_mlp(log-spaced relative coordinates))")

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
        macs = 4 * tokens * features * features + 2 * tokens * self.window ** 2 * features
        if self.position_bias == "mlp":  # the bias MLP over the (2w - 1)^2 relative coordinates
            macs += (2 * self.window - 1) ** 2 * CPB_HIDDEN * (2 + self.heads)
        return macs


def _norm_width(attrs, inputs: list[Shape]) -> int:
    return (2 if attrs.norm == "after" else 4) * _dim(attrs, inputs)


@register_op("patch_merging")
class PatchMerging(OpSpec):
    """Halve a square grid of ``[N, D]`` tokens: each 2x2 neighbourhood concatenated (``[D * 4]``, padded where the
    side is odd), layer-normalised over the ``4D`` features, reduced to ``2D`` without bias -> ``[ceil(side / 2)^2,
    2D]``, as torchvision's ``PatchMerging``. Tensors, in its state_dict order: ``reduction.weight`` ``[2D, 4D]``,
    ``norm.weight``, ``norm.bias`` (Keras layers ``<node>.reduction``, ``<node>.norm``)."""

    summary = ("Swin patch merging: 2x2 tokens concatenated, layernorm, linear 4D -> 2D: [N, D] -> [N / 4, 2D] "
               "(norm: after, Swin V2's: linear, then layernorm)")
    examples = (Example((16, 4)), Example((9, 4)),  # an odd side: padded
                Example((9, 4), {"norm": "after"}))
    traits = {"weighted", "fresh output"}
    tensors = (TensorDecl("reduction.weight", ROLE, init=lambda a: DRAWN, keras="Dense.kernel",
                          shape=lambda a, x: (2 * _dim(a, x), 4 * _dim(a, x))),
               TensorDecl("norm.weight", "per-channel vector", lambda a, x: (_norm_width(a, x),),
                          keras="LayerNormalization.gamma"),
               TensorDecl("norm.bias", "per-channel vector", lambda a, x: (_norm_width(a, x),),
                          keras="LayerNormalization.beta"))
    eps: Number = Field(1e-5, gt=0)
    norm: Literal["before", "after"] = Field(
        "before", description="before: layernorm over the 4D concatenation, then the reduction (Swin); after: the "
        "reduction, then layernorm over the 2D (Swin V2's PatchMergingV2)")

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
