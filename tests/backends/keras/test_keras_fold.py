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


TRANSFORMERS = {
    # Swin V2 calls its qkv Dense twice (once for the kernel with the key bias zeroed); the window ops are keras.ops
    # operations, which model.layers leaves out: folding failed with a KeyError or "called 2 times", a traceback
    "swin_v2": ("swin_v2_t", {"embed_dim": 16, "depths": [2, 2], "heads": [2, 4], "window": 4, "num_classes": 10,
                              "resolution": 32}),
    "vit": ("vit_b_16", {"patch": 8, "layers": 1, "heads": 2, "hidden": 16, "mlp": 32, "num_classes": 10,
                         "resolution": 32}),
}


@pytest.mark.parametrize("case", list(TRANSFORMERS))
def test_folding_a_transformer_keeps_its_operations(case, tmp_path):
    name, params = TRANSFORMERS[case]
    model = archc.load(name, backend="keras", seed=0, **params)
    rng = np.random.default_rng(2)
    for weight in model.weights:  # zero biases and tables would hide a dropped operation
        weight.assign(rng.standard_normal(weight.shape).astype("float32") * 0.2)
    folded = archc.optimize(model)
    x = rng.standard_normal((2, 32, 32, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    np.testing.assert_allclose(np.asarray(folded(x, training=False)), expected, rtol=0, atol=1e-5)
    path = tmp_path / "folded.keras"
    folded.save(path)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(np.asarray(reloaded(x, training=False)), expected, rtol=0, atol=1e-5)


def test_folding_keeps_every_output():
    spec = ("archc: 1\nname: two\ninput: {shape: [3, 8, 8]}\noutputs: [a, b]\nnetwork:\n"
            "  - {name: a, conv: {out: 4, kernel: 3}}\n  - {name: bn, bn: {}}\n  - relu\n"
            "  - {name: b, conv: {out: 2, kernel: 1}}\n")
    model = archc.load(spec, backend="keras", seed=0)
    folded = archc.optimize(model)
    x = np.random.default_rng(0).standard_normal((1, 8, 8, 3)).astype("float32")
    assert len(folded.outputs) == 2  # it returned the first output only
    for got, want in zip(folded(x, training=False), model(x, training=False), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=1e-5)
