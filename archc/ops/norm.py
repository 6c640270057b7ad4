"""Normalisation and regularisation ops: bn, layernorm, groupnorm, dropout."""

from __future__ import annotations

from pydantic import Field

from archc.ops.registry import (
    Example,
    Number,
    OpSpec,
    PositiveCount,
    Shape,
    ShapeError,
    TensorDecl,
    expect_rank,
    register_op,
)


def _channels(attrs, inputs: list[Shape]) -> Shape:
    """The normalised axis: channels of [C, H, W] and [F], the features (last axis) of [N, D] tokens."""
    return (inputs[0][-1] if len(inputs[0]) == 2 else inputs[0][0],)


def scale_and_shift(keras_layer: str, gamma, beta) -> tuple[TensorDecl, TensorDecl]:
    """A norm's learned per-channel scale (torch weight, Keras gamma) and shift (bias, beta); ``gamma`` / ``beta``:
    attrs -> initial value."""
    return (TensorDecl("weight", "per-channel vector", _channels, keras=f"{keras_layer}.gamma", init=gamma,
                       constructor_init=1.0),
            TensorDecl("bias", "per-channel vector", _channels, keras=f"{keras_layer}.beta", init=beta,
                       constructor_init=0.0))


@register_op("bn")
class BatchNorm(OpSpec):
    """Batch normalisation over channels ([C, H, W]) or features ([F]); eps / momentum in torch convention."""

    summary = "batch normalisation (torch convention for eps and momentum)"
    examples = (Example((4, 5, 5), {"eps": 1e-3, "momentum": 0.2, "gamma_init": 0.5}), Example((6,)))
    traits = {"normalization", "fresh output", "keeps dtype"}
    tensors = (*scale_and_shift("BatchNormalization", lambda attrs: attrs.gamma_init, lambda attrs: attrs.beta_init),
               TensorDecl("running_mean", "per-channel vector", _channels, keras="BatchNormalization.moving_mean",
                          trainable=False),
               TensorDecl("running_var", "per-channel vector", _channels, keras="BatchNormalization.moving_variance",
                          trainable=False),
               TensorDecl("num_batches_tracked", "step counter", lambda attrs, inputs: (), trainable=False))
    eps: Number = Field(1e-5, gt=0)
    momentum: Number = Field(0.1, gt=0, lt=1)
    gamma_init: Number = 1.0
    beta_init: Number = 0.0

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (1, 3), "bn")
        return inputs[0]


@register_op("layernorm")
class LayerNorm(OpSpec):
    """Layer normalisation over the channels of each position ([C, H, W], as ConvNeXt's LayerNorm2d) or over the
    features ([F], as nn.LayerNorm); a learned scale and shift per channel."""

    summary = "layer normalisation over channels ([C, H, W], per position), features ([F]) or token features ([N, D])"
    examples = (Example((4, 5, 5), {"eps": 1e-6}), Example((6,)), Example((3, 4), {"eps": 1e-6}))
    # no dtype trait: CUDA autocast runs layer_norm in float32; no fresh output: over [C, H, W] it returns a view
    traits = {"normalization"}
    tensors = scale_and_shift("LayerNormalization", lambda attrs: 1.0, lambda attrs: 0.0)
    eps: Number = Field(1e-5, gt=0)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (1, 2, 3), "layernorm")
        return inputs[0]


@register_op("groupnorm")
class GroupNorm(OpSpec):
    """Group normalisation: the channels split into ``groups`` consecutive groups, each normalised over its channels
    and H, W; a learned scale and shift per channel (nn.GroupNorm)."""

    summary = "group normalisation over groups of consecutive channels"
    examples = (Example((6, 5, 5), {"groups": 3}),)
    traits = {"normalization", "fresh output"}  # CUDA autocast runs group_norm in float32: no dtype trait
    tensors = scale_and_shift("GroupNormalization", lambda attrs: 1.0, lambda attrs: 0.0)
    groups: PositiveCount
    eps: Number = Field(1e-5, gt=0)

    def infer_shape(self, inputs: list[Shape]) -> Shape:
        expect_rank(inputs[0], (3,), "groupnorm")
        if inputs[0][0] % self.groups:
            raise ShapeError(f"groupnorm with groups={self.groups} needs channels divisible by {self.groups}, "
                             f"got {inputs[0][0]}", hint="choose groups among the divisors of the channel count")
        return inputs[0]


@register_op("dropout")
class Dropout(OpSpec):
    """Dropout with probability ``p`` (identity in eval mode)."""

    summary = "dropout (identity in eval mode)"
    examples = (Example((4, 5, 5), {"p": 0.25}),)
    traits = {"elementwise", "keeps dtype", "keeps sign"}
    p: Number = Field(0.5, ge=0, lt=1)
