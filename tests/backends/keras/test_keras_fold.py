"""Inference folding of Keras models (backends/keras/fold.py): same outputs with non-trivial BatchNorm statistics,
fewer layers, built-in layers only (the .keras file loads with plain Keras)."""

from __future__ import annotations

import numpy as np
import pytest

import archc

keras = pytest.importorskip("keras")

CASES = [("resnet18", {"layers": [1, 1, 1, 1]}), ("densenet121", {"block_config": [2, 2], "growth": 8}),
         ("highway_cifar", {})]


def small_model(name: str, params: dict) -> keras.Model:
    data = archc.parse(name, **params).to_data()
    data["input"]["shape"] = [3, 32, 32]
    model = archc.load(archc.parse(data), backend="keras", seed=0)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            count = layer.gamma.shape[0]
            layer.set_weights([rng.random(count) + 0.5, rng.standard_normal(count) * 0.2,
                               rng.standard_normal(count) * 0.2, rng.random(count) + 0.5])
    return model


@pytest.mark.parametrize("case", CASES, ids=[name for name, _ in CASES])
def test_folded_keras_model_computes_the_same(case, tmp_path):
    model = small_model(*case)
    folded = archc.optimize(model)
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(np.asarray(folded(x, training=False)), expected, rtol=0,
                               atol=1e-4 * np.abs(expected).max())
    assert len(folded.layers) < len(model.layers)
    path = tmp_path / "folded.keras"
    folded.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(np.asarray(reloaded(x, training=False)), expected, rtol=0,
                               atol=1e-4 * np.abs(expected).max())


def test_resnet_keeps_no_batch_norm_after_folding():
    folded = archc.optimize(small_model(*CASES[0]))
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    conv = folded.get_layer(next(layer.name for layer in folded.layers if layer.name.endswith("conv1")))
    assert conv.use_bias
