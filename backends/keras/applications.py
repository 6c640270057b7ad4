"""Name maps from keras.applications models to archc zoo specs, so their weights load into archc's Keras models.

``load_applications_weights(model, keras.applications.DenseNet121(...))`` copies every weight of the archc model
(built from ``densenet121_keras``, which has keras.applications' BN eps and final softmax) from the layer the map
names. DenseNet169 / DenseNet201 load the same way into ``densenet121_keras`` with their ``block_config``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from archc.transfer import TransferError, node_name

NameRule = tuple[str, Callable[[re.Match[str]], str]]

_DENSE_LAYER = {"norm1": "0_bn", "conv1": "1_conv", "norm2": "1_bn", "conv2": "2_conv"}
_TRANSITION = {"norm": "bn", "conv": "conv"}

#: archc node name (torchvision's) -> keras.applications.densenet layer name
DENSENET_NAMES: list[NameRule] = [
    (r"features\.conv0", lambda m: "conv1_conv"),
    (r"features\.norm0", lambda m: "conv1_bn"),
    (r"features\.denseblock(\d+)\.denselayer(\d+)\.(norm1|conv1|norm2|conv2)",
     lambda m: f"conv{int(m[1]) + 1}_block{m[2]}_{_DENSE_LAYER[m[3]]}"),
    (r"features\.transition(\d+)\.(norm|conv)", lambda m: f"pool{int(m[1]) + 1}_{_TRANSITION[m[2]]}"),
    (r"features\.norm5", lambda m: "bn"),
    (r"classifier", lambda m: "predictions"),
]


def applications_name(node: str, rules: list[NameRule] = DENSENET_NAMES) -> str | None:
    """The keras.applications layer name of an archc node, or None when no rule matches."""
    for pattern, rename in rules:
        match = re.fullmatch(pattern, node)
        if match:
            return rename(match)
    return None


def load_applications_weights(model: Any, application: Any, rules: list[NameRule] = DENSENET_NAMES) -> None:
    """Copy the weights of a keras.applications model into an archc Keras model, layer by layer through ``rules``.

    Raises TransferError naming every archc layer without a counterpart and every shape that differs.
    """
    problems = []
    pairs = []
    app_layers = {layer.name: layer for layer in application.layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        name = applications_name(node_name(layer.name), rules)
        source = app_layers.get(name) if name else None
        if source is None:
            problems.append(f"{layer.name}: no layer {name!r} in {application.name}" if name else
                            f"{layer.name}: no name rule matches")
            continue
        ours, theirs = [tuple(w.shape) for w in layer.weights], [tuple(w.shape) for w in source.weights]
        if ours != theirs:
            problems.append(f"{layer.name} <- {name}: shapes {ours} != {theirs}")
            continue
        pairs.append((layer, source))
    if problems:
        raise TransferError(f"cannot load {application.name} weights: " + "; ".join(problems))
    for layer, source in pairs:
        layer.set_weights(source.get_weights())
