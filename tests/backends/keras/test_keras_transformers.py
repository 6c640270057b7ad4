"""The zoo's transformers on the Keras backend: a small ViT and a small Swin (the zoo specs with tiny dims) compute
the torch model's outputs from its transferred weights, every tensor of it randomised first (a zero class token or a
near-zero bias table would hide a wrong index or order); the weights come back exactly; the ``.keras`` file saved by
archc loads with ``safe_mode`` and computes the same, and its ``.weights.h5`` reads back by the declarations.
vit_b_16 and swin_t themselves at 224 are slow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import archc
from archc.api import backend_module
from archc.train.init_from import read_weights_h5
from archc.transfer import read_state, torch_only_suffixes, transfer_weights

torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

#: the zoo spec, its tiny params and input side; ids name no zoo spec, so the slow-test policy leaves these fast
TINY = {
    "vit": ("vit_b_16", {"patch": 8, "layers": 2, "heads": 2, "hidden": 32, "mlp": 64, "num_classes": 10}, 32),
    "swin": ("swin_t", {"embed_dim": 24, "depths": [2, 2], "heads": [2, 4], "window": 4, "num_classes": 10}, 32),
    # a 9x9 grid: padded windows and an odd patch merging; 5x5 after it: 4x4 windows padded to 8x8, shifted
    "swin_odd": ("swin_t", {"embed_dim": 24, "depths": [2, 2], "heads": [2, 4], "window": 4, "num_classes": 10}, 36),
    # Swin V2: post-norms, cosine attention (logit_scale, the k bias zeroed), the position bias MLP, PatchMergingV2
    "swin_v2": ("swin_v2_t", {"embed_dim": 24, "depths": [2, 2], "heads": [2, 4], "window": 4, "num_classes": 10},
                32),
    "swin_v2_odd": ("swin_v2_t", {"embed_dim": 24, "depths": [2, 2], "heads": [2, 4], "window": 4,
                                  "num_classes": 10}, 36),
}


def randomised_torch_model(graph, seed: int = 0):
    model = backend_module("torch").build_model(graph, seed=seed).eval()
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.3)
    return model


def check_same_function(graph, batch: int = 2, tolerance: float = 1e-4):
    """torch (random weights) -> Keras: equal eval outputs (relative to the output's scale); Keras -> torch: every
    tensor back exactly. Returns the Keras model and the NHWC input it was checked on."""
    model = randomised_torch_model(graph)
    side = graph.nodes[graph.input_node]["shape"][-1]
    x = torch.randn(batch, 3, side, side, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    keras_model = backend_module("keras").build_model(graph, seed=1)
    assert keras_model.count_params() == archc.summarize(graph).params
    transfer_weights(model, keras_model)
    nhwc = x.permute(0, 2, 3, 1).numpy()
    actual = np.asarray(keras_model(nhwc, training=False))
    assert np.abs(actual - expected).max() <= tolerance * max(1.0, np.abs(expected).max())
    back = backend_module("torch").build_model(graph, seed=2)
    transfer_weights(keras_model, back)
    for key, value in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    return keras_model, nhwc, actual


@pytest.mark.parametrize("case", list(TINY))
def test_a_small_transformer_computes_torchs_outputs_in_keras(case, tmp_path):
    name, params, side = TINY[case]
    graph = archc.build_graph(name, resolution=side, **params)
    keras_model, x, outputs = check_same_function(graph)
    path = tmp_path / f"{case}.keras"
    backend_module("keras").save(keras_model, graph, path)
    loaded = keras.saving.load_model(path, compile=False, safe_mode=True)  # built-in layers and ops only
    np.testing.assert_allclose(np.asarray(loaded(x, training=False)), outputs, rtol=0, atol=1e-6)
    assert set(read_state(loaded)) == {key for key in read_state(keras_model)}
    weights = tmp_path / f"{case}.weights.h5"  # numbered variables only: the declarations say whose they are
    backend_module("keras").save(keras_model, graph, weights)
    state, expected = read_weights_h5(weights, graph), read_state(keras_model)
    assert set(state) == set(expected)
    assert all(np.array_equal(state[key], expected[key]) for key in expected)


@pytest.mark.parametrize(("case", "computed"), [("swin", {"relative_position_index"}),
                                              ("swin_v2", {"relative_position_index", "relative_coords_table"})])
def test_the_swin_keys_that_keras_does_not_hold_are_the_position_indices(case, computed):
    name, params, side = TINY[case]
    graph = archc.build_graph(name, resolution=side, **params)
    torch_keys = set(backend_module("torch").build_model(graph, seed=0).state_dict())
    keras_keys = set(read_state(backend_module("keras").build_model(graph, seed=0)))
    assert keras_keys <= torch_keys
    assert {key.rsplit(".", 1)[-1] for key in torch_keys - keras_keys} == computed
    assert all(key.endswith(torch_only_suffixes()) for key in torch_keys - keras_keys)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vit_b_16", "swin_t", "swin_v2_t"])
def test_the_full_size_transformer_computes_torchs_outputs_in_keras(name):
    check_same_function(archc.build_graph(name), batch=1)


def test_freezing_a_window_attention_freezes_each_of_its_layers():
    """--freeze 'windows.*' on Keras: the node's three layers (qkv, proj and the bias table, whose key is its layer's
    name) stop training; nothing else does."""
    from archc.train.init_from import freeze_keras

    spec = Path(__file__).parents[2] / "train" / "specs" / "tiny_transformer.yaml"
    graph = archc.build_graph(str(spec))
    model = backend_module("keras").build_model(graph, seed=0)
    frozen = freeze_keras(model, ["windows.*"])
    assert sorted(frozen) == ["windows.proj.bias", "windows.proj.weight", "windows.qkv.bias", "windows.qkv.weight",
                              "windows.relative_position_bias_table"]
    summary = archc.summarize(graph)
    windows = next(row for row in summary.rows if row.name == "windows")
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == summary.params - windows.params


def test_a_node_named_as_a_part_of_another_is_a_located_error_in_keras():
    """attention's output projection is the Keras layer <node>.out_proj: a node of that name would take its tensors."""
    from archc.errors import SpecError

    spec = {"archc": 1, "name": "clash", "input": {"shape": [4, 2, 2]},
            "network": [{"to_tokens": {}}, {"name": "attn", "attention": {"heads": 2}},
                        {"name": "attn.out_proj", "linear": {"out": 4}}]}
    graph = archc.build_graph(yaml.safe_dump(spec, sort_keys=False))
    with pytest.raises(SpecError, match="node 'attn.out_proj' has the name of a part of node 'attn'") as caught:
        backend_module("keras").build_model(graph)
    assert caught.value.diagnostics[0].position is not None


@pytest.mark.parametrize("case", ["vit", "swin", "swin_v2"])
def test_keras_draws_the_initial_weights_as_torch(case):
    """Before any transfer, each Keras tensor has its torch counterpart's initial distribution: constants equal (class
    token, biases, norms), the same spread where drawn (pos_embedding's normal(0.02), in_proj's xavier, out_proj's
    default, Swin's trunc_normal(0.02) projections and bias tables)."""
    name, params, side = TINY[case]
    graph = archc.build_graph(name, resolution=side, **params)
    torch_state = read_state(backend_module("torch").build_model(graph, seed=0))
    keras_state = read_state(backend_module("keras").build_model(graph, seed=0))
    for key, value in keras_state.items():
        expected = torch_state[key]
        if expected.std() == 0:
            np.testing.assert_array_equal(value, expected, err_msg=key)
        elif expected.size >= 1000:  # enough values for the spread to be measured within 15%
            assert abs(value.std() / expected.std() - 1) < 0.15, key
            assert abs(value.mean() - expected.mean()) < 0.1 * expected.std(), key


UNNAMED_RESIDUALS = """\
archc: 1
name: unnamed_residuals
input: {shape: [3, 8, 8]}
network:
  - {name: patch, conv: {out: 8, kernel: 2, stride: 2}}
  - to_tokens
  - {residual: {body: [{name: attn, window_attention: {heads: 2, window: 2, shift: 1}}]}}
  - residual:
      body: [{name: attn2, window_attention: {heads: 2, window: 2, cosine: true, position_bias: mlp}}, layernorm]
  - {residual: {body: [{name: fc, linear: {out: 8}}]}}
  - {name: merge, patch_merging: {norm: after}}
  - token_mean
"""


def test_nodes_named_as_keras_names_its_own_operations():
    # archc names unnamed adds add, add_1, add_2; the window attention's keras.ops are named by Keras' counter
    # (add, add_1, ...): keras.Model refused the model with 'The name "add_1" is used 2 times in the model'
    graph = archc.build_graph(archc.parse(UNNAMED_RESIDUALS))
    assert {"add", "add_1", "add_2"} <= set(graph.nodes)
    check_same_function(graph)
