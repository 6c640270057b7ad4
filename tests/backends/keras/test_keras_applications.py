"""keras.applications DenseNet121 / 169 / 201 (random weights) load into archc's densenet121_keras by name and
compute the same outputs."""

from __future__ import annotations

import numpy as np
import pytest

import archc
from archc.transfer import TransferError

keras = pytest.importorskip("keras")

from archc.backends.keras.applications import applications_name, load_applications_weights  # noqa: E402

VARIANTS = [
    pytest.param("DenseNet121", [6, 12, 24, 16], id="DenseNet121"),
    pytest.param("DenseNet169", [6, 12, 32, 32], id="DenseNet169", marks=pytest.mark.slow),
    pytest.param("DenseNet201", [6, 12, 48, 32], id="DenseNet201", marks=pytest.mark.slow),
]


def random_statistics(model, seed: int = 0) -> None:
    """BatchNorm with non-trivial gamma, beta and moving statistics, so a wrong mapping shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape
            layer.set_weights([rng.uniform(0.5, 1.5, size), rng.uniform(-0.5, 0.5, size),
                               rng.uniform(-0.5, 0.5, size), rng.uniform(0.5, 2.0, size)])


@pytest.fixture(scope="module")
def densenet121():
    """keras.applications.DenseNet121 and archc's densenet121_keras, each built once for this module."""
    return keras.applications.DenseNet121(weights=None), archc.load("densenet121_keras", backend="keras")


@pytest.mark.parametrize(("application", "block_config"), VARIANTS)
def test_same_outputs(application, block_config, request):
    if application == "DenseNet121":
        reference, model = request.getfixturevalue("densenet121")
    else:
        reference = getattr(keras.applications, application)(weights=None)
        model = archc.load("densenet121_keras", backend="keras", block_config=block_config)
    random_statistics(reference)
    assert model.count_params() == reference.count_params()
    load_applications_weights(model, reference)

    x = np.random.default_rng(1).standard_normal((1, 224, 224, 3)).astype("float32")
    features = keras.Model(reference.input, reference.get_layer("avg_pool").output)(x, training=False)
    ours = keras.Model(model.input, model.get_layer("flatten").output)(x, training=False)
    features, ours = np.asarray(features), np.asarray(ours)
    assert np.abs(ours - features).max() <= 1e-4 * max(1.0, np.abs(features).max())
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(reference(x, training=False)),
                               rtol=0, atol=1e-6)


def test_every_application_weight_is_used_once(densenet121):
    reference, model = densenet121
    mapped = [applications_name(layer.name) for layer in model.layers if layer.weights]
    assert sorted(mapped) == sorted(layer.name for layer in reference.layers if layer.weights)


def test_keras_bn_epsilon(densenet121):
    _, model = densenet121
    assert {layer.epsilon for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)} == {1.001e-5}


def test_mismatch_is_named(densenet121):
    reference, _ = densenet121
    model = archc.load("densenet121_keras", backend="keras", block_config=[1, 1, 1, 2], num_classes=10)
    with pytest.raises(TransferError) as info:
        load_applications_weights(model, reference)
    message = str(info.value)
    assert "features.transition1.conv <- pool2_conv: shapes [(1, 1, 96, 48)] != [(1, 1, 256, 128)]" in message
    assert "classifier <- predictions: shapes" in message
