"""An archc op plugin in one module: the op's core declaration and one lowering per backend.

Installed (``pip install .``), it is found through the ``archc.ops`` entry point and imported when archc loads its
ops; a spec then uses ``scaled_tanh`` like any built-in op. Nothing here imports torch or Keras at import time: the
lowerings import their framework when they run, so ``archc validate`` stays framework-free.
"""

from __future__ import annotations

from pydantic import Field

from archc.backends.keras.registry import register_lowering as register_keras_lowering
from archc.backends.torch.registry import Call, register_lowering
from archc.ops.registry import Example, Number, OpSpec, register_op


@register_op("scaled_tanh")
class ScaledTanh(OpSpec):
    """``scale * tanh(slope * x)``; the defaults are LeCun et al. 1998's 1.7159 tanh(2x / 3)."""

    summary = "scale * tanh(slope * x) (LeCun's scaled tanh)"
    traits = {"activation", "elementwise", "keeps dtype"}  # drawn as an activation; autocast keeps its dtype
    tensors = ()  # no parameters or buffers
    examples = (Example((4, 5, 5)), Example((6,), {"scale": 2.0, "slope": 0.5}))  # for the conformance test
    scale: Number = Field(1.7159, gt=0)
    slope: Number = Field(2 / 3, gt=0)


@register_lowering("scaled_tanh")
def lower_scaled_tanh(node):
    """Three plain calls in the generated forward: ``torch.mul(torch.tanh(torch.mul(x, slope)), scale)``."""
    import torch

    return (Call(torch.mul, args=(node.attrs.slope,)), Call(torch.tanh), Call(torch.mul, args=(node.attrs.scale,)))


@register_keras_lowering("scaled_tanh")
def lower_scaled_tanh_keras(builder, node, inputs):
    """Built-in layers only (a saved .keras file loads without this plugin); the last one carries the node's name."""
    import keras

    x = keras.layers.Rescaling(node.attrs.slope, name=builder.aux_name(node.name, "slope"))(inputs[0])
    x = keras.layers.Activation("tanh", name=builder.aux_name(node.name, "tanh"))(x)
    return keras.layers.Rescaling(node.attrs.scale, name=builder.layer_name(node.name))(x)
