"""Inference folding for Keras: a new functional model with BatchNormalization folded into the Conv2D / Dense
before it, a ReLU after a Conv2D / Dense made its ``activation``, and Dropout / Identity layers dropped.

The model is rebuilt call by call from its functional graph (layers and the lowerings' ``keras.ops`` operations),
with built-in layers only, so the result saves as ``.keras`` and loads without archc, like the model it came from. Layer
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


def _calls(model: keras.Model) -> list[Any]:
    """Every call of the model's graph, producers first: layers (a layer may be called twice: Swin V2's window
    attention reads its ``qkv`` Dense kernel twice) and the ``keras.ops`` operations of the lowerings, which
    ``model.layers`` leaves out."""
    by_depth = model._nodes_by_depth
    return [node for depth in sorted(by_depth, reverse=True) for node in by_depth[depth]
            if not isinstance(node.operation, keras.layers.InputLayer)]


def _shape(node: Any) -> Any:
    tensors = node.input_tensors
    return tensors[0].shape if len(tensors) == 1 else [tensor.shape for tensor in tensors]


def _folded(layer: keras.layers.Layer, norm: keras.layers.BatchNormalization, node: Any) -> keras.layers.Layer:
    """``layer`` with ``norm`` applied to its output folded into its kernel and bias (channels last)."""
    config = {**layer.get_config(), "use_bias": True}
    kernel = np.asarray(layer.kernel)
    bias = np.asarray(layer.bias) if layer.use_bias else np.zeros(kernel.shape[-1], kernel.dtype)
    gamma = np.asarray(norm.gamma) if norm.scale else 1.0
    beta = np.asarray(norm.beta) if norm.center else 0.0
    scale = gamma / np.sqrt(np.asarray(norm.moving_variance) + norm.epsilon)
    folded = type(layer).from_config(config)
    folded.build(_shape(node))
    folded.set_weights([kernel * scale, (bias - np.asarray(norm.moving_mean)) * scale + beta])
    return folded


def _with_activation(layer: keras.layers.Layer, node: Any) -> keras.layers.Layer:
    fused = type(layer).from_config({**layer.get_config(), "activation": "relu"})
    fused.build(_shape(node))
    fused.set_weights(layer.get_weights())
    return fused


def _is_plain_relu(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return config.get("max_value") is None and not config.get("negative_slope") and not config.get("threshold")
    return isinstance(layer, keras.layers.Activation) and layer.get_config().get("activation") == "relu"


def _clone(layer: keras.layers.Layer, node: Any) -> keras.layers.Layer:
    """A new layer of the same config and weights: the optimized model shares nothing with the original."""
    clone = type(layer).from_config(layer.get_config())
    clone.build(_shape(node))
    clone.set_weights(layer.get_weights())
    return clone


def _plan(model: keras.Model, calls: list[Any]) -> tuple[dict[str, Any], set[str]]:
    """layer name -> its replacement layer; and the names of layers that disappear (pass their input on). Only
    layers called once take part; the others (and the keras.ops operations) are copied as they are."""
    count = Counter(id(node.operation) for node in calls)
    single = {id(node.operation): node for node in calls
              if isinstance(node.operation, keras.layers.Layer) and count[id(node.operation)] == 1}
    readers: Counter[int] = Counter(id(tensor) for node in calls for tensor in node.input_tensors)
    readers.update(id(tensor) for tensor in model.outputs)
    producer = {id(node.output_tensors[0]): node for node in calls}
    replaced: dict[str, Any] = {}
    dropped: set[str] = set()

    def source(node: Any) -> Any:
        """The call of a Conv2D / Dense without activation whose output only ``node`` reads (through folded BNs)."""
        inputs = node.input_tensors
        if len(inputs) != 1 or readers[id(inputs[0])] != 1:
            return None
        found = producer.get(id(inputs[0]))
        while found is not None and found.operation.name in dropped:
            found = producer.get(id(found.input_tensors[0]))  # a folded BatchNormalization
        if found is None or id(found.operation) not in single or not isinstance(found.operation, WEIGHTED):
            return None
        current = replaced.get(found.operation.name, found.operation)
        return found if current.get_config().get("activation") == "linear" else None

    for node in single.values():
        layer = node.operation
        if isinstance(layer, PASS_THROUGH):
            dropped.add(layer.name)
            continue
        weighted = source(node)
        if weighted is None:
            continue
        name, rank = weighted.operation.name, len(node.input_tensors[0].shape)
        if isinstance(layer, keras.layers.BatchNormalization) and layer.axis in (-1, rank - 1, [-1], [rank - 1]):
            replaced[name] = _folded(replaced.get(name, weighted.operation), layer, weighted)
            dropped.add(layer.name)
        elif _is_plain_relu(layer):
            replaced[name] = _with_activation(replaced.get(name, weighted.operation), weighted)
            dropped.add(layer.name)
    return replaced, dropped


def optimize(model: keras.Model) -> keras.Model:
    """An inference copy of an archc Keras model (module docstring); ``model`` is not changed."""
    calls = _calls(model)
    replaced, dropped = _plan(model, calls)
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name, dtype=model.inputs[0].dtype)
    tensors = {id(model.inputs[0]): inputs}
    copies: dict[int, Any] = {}  # id of an original layer -> the layer that replaces it (once, however often called)
    for node in calls:
        operation = node.operation
        if operation.name in dropped:
            tensors[id(node.output_tensors[0])] = tensors[id(node.input_tensors[0])]
            continue
        if isinstance(operation, keras.layers.Layer):
            if id(operation) not in copies:
                copies[id(operation)] = replaced.get(operation.name) or _clone(operation, node)
            operation = copies[id(operation)]
        else:  # a keras.ops call: no state, a new operation of the same config
            operation = type(operation).from_config(operation.get_config())
        args, kwargs = node.arguments.fill_in(tensors)
        results = keras.tree.flatten(operation(*args, **kwargs))
        tensors.update({id(old): new for old, new in zip(node.output_tensors, results, strict=True)})
    outputs = [tensors[id(tensor)] for tensor in model.outputs]  # several: a multi-output model, in order
    return keras.Model(inputs, outputs if len(outputs) > 1 else outputs[0], name=model.name)
