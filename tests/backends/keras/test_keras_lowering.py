"""Each Keras lowering computes what the torch backend computes: small specs, one feature each, random weights."""

from __future__ import annotations

import pytest

import archc

keras = pytest.importorskip("keras")
pytest.importorskip("torch")

from keras_lowering_cases import CASES  # noqa: E402


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_function_as_torch(case, same_function):
    same_function(archc.build_graph(CASES[case]))


def test_maxpool_padding_constructions():
    """The three exact constructions of torch's -inf padding are the ones chosen."""
    def layer_types(case: str) -> set[str]:
        model = archc.load(CASES[case], backend="keras")
        return {type(layer).__name__ for layer in model.layers}

    assert {"Cropping2D", "Concatenate"} <= layer_types("maxpool_padded_negative_input")
    assert "ZeroPadding2D" in layer_types("maxpool_after_relu")
    same = archc.load(CASES["maxpool_same"], backend="keras")
    assert [layer.padding for layer in same.layers if isinstance(layer, keras.layers.MaxPooling2D)] == ["same"]


def test_layer_names_are_node_names():
    graph = archc.build_graph("resnet18")
    model = archc.load("resnet18", backend="keras")
    names = {layer.name for layer in model.layers}
    assert set(graph.nodes) <= names
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert weighted == {name for name, data in graph.op_nodes() if data["op"] in ("conv", "bn", "linear")}


def test_built_in_layers_only():
    model = archc.load(CASES["activations"], backend="keras")
    for layer in model.layers:
        assert type(layer).__module__.startswith("keras."), type(layer)
        assert not isinstance(layer, keras.layers.Lambda)


def test_bn_epsilon_and_momentum():
    model = archc.load(CASES["features_input"], backend="keras")
    (bn,) = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bn.epsilon == pytest.approx(1e-3) and bn.momentum == pytest.approx(0.7)
