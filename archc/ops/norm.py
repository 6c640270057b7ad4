"""Normalisation and regularisation ops: bn, dropout."""

from __future__ import annotations

from pydantic import Field

from archc.ops.registry import Number, OpSpec, Shape, TensorDecl, expect_rank, register_op


def _channels(attrs, inputs: list[Shape]) -> Shape:
    return (inputs[0][0],)


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


@register_op("dropout")
class Dropout(OpSpec):
    """Dropout with probability ``p`` (identity in eval mode)."""

    summary = "dropout (identity in eval mode)"
    traits = {"elementwise", "keeps dtype", "keeps sign"}
    p: Number = Field(0.5, ge=0, lt=1)
