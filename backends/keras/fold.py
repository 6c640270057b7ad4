"""Inference folding for Keras: a new functional model with BatchNormalization folded into the Conv2D / Dense
before it, a ReLU after a Conv2D / Dense made its ``activation``, and Dropout / Identity layers dropped.

The model is rebuilt layer by layer from its functional graph (each layer called once, as archc builds them), with
built-in layers only, so the result saves as ``.keras`` and loads without archc, like the model it came from. Layer
names are kept; the folded BatchNormalization, ReLU and Dropout layers are gone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import keras
import numpy as np

__all__ = ["optimize"]

PASS_THROUGH = (keras.layers.Dropout, keras.layers.Identity)
WEIGHTED = (keras.layers.Conv2D, keras.layers.Dense)


def _node(layer: keras.layers.Layer) -> Any:
    if len(layer._inbound_nodes) != 1:
        raise ValueError(f"archc.optimize: layer '{layer.name}' is called {len(layer._inbound_nodes)} times; "
                         "only models whose layers are each called once (as archc builds them) can be folded")
    return layer._inbound_nodes[0]


def _folded(layer: keras.layers.Layer, norm: keras.layers.BatchNormalization,
            original: keras.layers.Layer) -> keras.layers.Layer:
    """``layer`` with ``norm`` applied to its output folded into its kernel and bias (channels last)."""
    config = {**layer.get_config(), "use_bias": True}
    kernel = np.asarray(layer.kernel)
    bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], kernel.dtype)
    gamma = np.asarray(norm.gamma) if norm.scale else 1.0
    beta = np.asarray(norm.beta) if norm.center else 0.0
    scale = gamma / np.sqrt(np.asarray(norm.moving_variance) + norm.epsilon)
    folded = type(layer).from_config(config)
    folded.build(_node(original).input_tensors[0].shape)
    folded.set_weights([kernel * scale, (bias - np.asarray(norm.moving_mean)) * scale + beta])
    return folded


def _with_activation(layer: keras.layers.Layer, original: keras.layers.Layer) -> keras.layers.Layer:
    fused = type(layer).from_config({**layer.get_config(), "activation": "relu"})
    fused.build(_node(original).input_tensors[0].shape)
    fused.set_weights(layer.get_weights())
    return fused


def _is_plain_relu(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold")
    return isinstance(layer, keras.layers.Activation) and layer.get_config().get("activation") == "relu"


def _clone(layer: keras.layers.Layer) -> keras.layers.Layer:
    """A new layer of the same config and weights: the optimized model shares nothing with the original."""
    clone = type(layer).from_config(layer.get_config())
    clone.build(_node(layer).input_tensors[0].shape if len(_node(layer).input_tensors) == 1
                else [tensor.shape for tensor in _node(layer).input_tensors])
    clone.set_weights(layer.get_weights())
    return clone


def _plan(model: keras.Model) -> tuple[dict[str, Any], set[str]]:
    """layer name -> its replacement layer; and the names of layers that disappear (pass their input on)."""
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    readers: Counter[int] = Counter(id(tensor) for layer in layers for tensor in _node(layer).input_tensors)
    readers.update(id(tensor) for tensor in model.outputs)
    producer = {id(_node(layer).output_tensors[0]): layer for layer in layers}
    replaced: dict[str, Any] = {}
    dropped: set[str] = set()

    def source(layer: keras.layers.Layer) -> keras.layers.Layer | None:
        """The Conv2D / Dense without activation whose output only ``layer`` reads (through folded BNs)."""
        inputs = _node(layer).input_tensors
        if len(inputs) != 1 or readers[id(inputs[0])] != 1:
            return None
        found = producer.get(id(inputs[0]))
        while found is not None and found.name in dropped:
            found = producer.get(id(_node(found).input_tensors[0]))  # a folded BatchNormalization
        if found is None or not isinstance(found, WEIGHTED):
            return None
        current = replaced.get(found.name, found)
        return found if current.get_config().get("activation") == "linear" else None

    for layer in layers:
        if isinstance(layer, PASS_THROUGH):
            dropped.add(layer.name)
            continue
        weighted = source(layer)
        if weighted is None:
            continue
        rank = len(_node(layer).input_tensors[0].shape)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.axis in (-1, rank - 1, [-1], [rank - 1]):
            replaced[weighted.name] = _folded(replaced.get(weighted.name, weighted), layer, weighted)
            dropped.add(layer.name)
        elif _is_plain_relu(layer):
            replaced[weighted.name] = _with_activation(replaced.get(weighted.name, weighted), weighted)
            dropped.add(layer.name)
    return replaced, dropped


def optimize(model: keras.Model) -> keras.Model:
    """An inference copy of an archc Keras model (module docstring); ``model`` is not changed."""
    replaced, dropped = _plan(model)
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name, dtype=model.inputs[0].dtype)
    tensors = {id(model.inputs[0]): inputs}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        node = _node(layer)
        if layer.name in dropped:
            tensors[id(node.output_tensors[0])] = tensors[id(node.input_tensors[0])]
            continue
        args, kwargs = node.arguments.fill_in(tensors)
        tensors[id(node.output_tensors[0])] = (replaced.get(layer.name) or _clone(layer))(*args, **kwargs)
    return keras.Model(inputs, tensors[id(model.outputs[0])], name=model.name)
