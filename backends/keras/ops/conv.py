"""conv and linear: Conv2D / Dense with torch's padding and torch's initial distributions."""

from __future__ import annotations

import math
from typing import Any

import keras

from archc.backends.keras.build import KerasBuilder
from archc.backends.keras.registry import register_lowering
from archc.errors import SpecError
from archc.ir.node import OpNode
from archc.ops.initializers import Constant, Normal, Uniform

# init name -> VarianceScaling arguments reproducing torch.nn.init (untruncated normals, as torch draws them)
_VARIANCE_SCALING = {
    "torch_default": (1 / 3, "fan_in", "uniform"),  # kaiming_uniform(a=sqrt(5)): U(+-1/sqrt(fan_in))
    "kaiming_normal": (2.0, "fan_in", "untruncated_normal"),
    "kaiming_normal_fan_out": (2.0, "fan_out", "untruncated_normal"),
    "kaiming_uniform": (2.0, "fan_in", "uniform"),
    "xavier_uniform": (1.0, "fan_avg", "uniform"),
    "xavier_normal": (1.0, "fan_avg", "untruncated_normal"),
}


def _with_arguments(init: Any, seed: int | None) -> keras.initializers.Initializer:
    """Keras' initialiser of the distribution torch's nn.init draws from (archc.ops.initializers)."""
    if isinstance(init, Normal):
        return keras.initializers.RandomNormal(init.mean, init.std, seed=seed)
    if isinstance(init, Uniform):
        return keras.initializers.RandomUniform(init.a, init.b, seed=seed)
    if isinstance(init, Constant):
        return keras.initializers.Constant(init.value)
    # Keras truncates at two standard deviations: torch's bounds there are that distribution; bounds six or more
    # away cut off less than 2e-9 of it, so the normal is the same distribution to that
    low, high = (init.a - init.mean) / init.std, (init.b - init.mean) / init.std
    if math.isclose(low, -2) and math.isclose(high, 2):
        return keras.initializers.TruncatedNormal(init.mean, init.std, seed=seed)
    if low <= -6 and high >= 6:
        return keras.initializers.RandomNormal(init.mean, init.std, seed=seed)
    raise SpecError(f"the keras backend draws trunc_normal only with bounds mean ± 2 std or at least 6 std away; got "
                    f"a = {init.a}, b = {init.b} for mean {init.mean}, std {init.std}")


def weight_initializer(init: Any, seed: int | None) -> keras.initializers.Initializer:
    if not isinstance(init, str):
        return _with_arguments(init, seed)
    if init == "zeros":
        return keras.initializers.Zeros()
    scale, mode, distribution = _VARIANCE_SCALING[init]
    return keras.initializers.VarianceScaling(scale=scale, mode=mode, distribution=distribution, seed=seed)


def bias_initializer(bias_init: Any, fan_in: int, seed: int | None) -> keras.initializers.Initializer:
    if not isinstance(bias_init, (str, int, float)):  # an initialiser with arguments
        return _with_arguments(bias_init, seed)
    if bias_init == "zeros":
        return keras.initializers.Zeros()
    if bias_init == "torch_default":
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        return keras.initializers.RandomUniform(-bound, bound, seed=seed)
    return keras.initializers.Constant(float(bias_init))


def same_padding_is_exact(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
                          padding: tuple[int, int]) -> bool:
    """Keras ``padding="same"`` equals torch's symmetric padding for stride 1, an odd effective kernel and
    ``padding == (effective kernel - 1) / 2``; it saves the copy a ZeroPadding2D makes."""
    for k, s, d, p in zip(kernel, stride, dilation, padding):
        effective = d * (k - 1) + 1
        if s != 1 or effective % 2 == 0 or p != (effective - 1) // 2:
            return False
    return True


def pad(builder: KerasBuilder, name: str, x: Any, padding: tuple[int, int]) -> Any:
    """Symmetric zero padding of H and W (nothing when the padding is zero)."""
    if padding == (0, 0):
        return x
    return keras.layers.ZeroPadding2D(padding, name=builder.aux_name(name, "pad"))(x)


@register_lowering("conv")
def lower_conv(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    attrs = node.attrs
    (x,) = inputs
    kernel, stride, dilation, padding = attrs.kernel_hw, attrs.stride_hw, attrs.dilation_hw, attrs.padding_hw
    in_channels = node.input_shapes[0][0]
    fan_in = in_channels // attrs.groups * kernel[0] * kernel[1]
    mode = "same" if same_padding_is_exact(kernel, stride, dilation, padding) else "valid"
    if mode == "valid":
        x = pad(builder, node.name, x, padding)
    # Keras refuses stride > 1 together with dilation > 1: convolve densely, then keep every stride-th output
    dilated_stride = dilation != (1, 1) and stride != (1, 1)
    y = keras.layers.Conv2D(attrs.out, kernel, strides=(1, 1) if dilated_stride else stride, padding=mode,
                            dilation_rate=dilation, groups=attrs.groups, use_bias=attrs.bias,
                            kernel_initializer=weight_initializer(attrs.init, builder.seed_for(node.name, "weight")),
                            bias_initializer=bias_initializer(attrs.bias_init, fan_in,
                                                              builder.seed_for(node.name, "bias")),
                            name=builder.layer_name(node.name))(x)
    if dilated_stride:
        y = keras.layers.MaxPooling2D(1, strides=stride, name=builder.aux_name(node.name, "stride"))(y)
    return y


@register_lowering("linear")
def lower_linear(builder: KerasBuilder, node: OpNode, inputs: list[Any]) -> Any:
    attrs = node.attrs
    shape = node.input_shapes[0]
    fan_in = shape[-1] if len(shape) == 2 else shape[0]  # [N, D] tokens: D; [F] and [C, H, W] (over: channels): C
    return keras.layers.Dense(attrs.out, use_bias=attrs.bias, name=builder.layer_name(node.name),
                              kernel_initializer=weight_initializer(attrs.init, builder.seed_for(node.name, "weight")),
                              bias_initializer=bias_initializer(attrs.bias_init, fan_in,
                                                                builder.seed_for(node.name, "bias")))(inputs[0])
