"""Initial weights follow the spec (init, bias_init, gamma_init, beta_init, eps, momentum); seeds reproduce them."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402
from archc.backends.torch import build_model  # noqa: E402

# fan_in = 64 * 3 * 3 = 576, fan_out = 128 * 3 * 3 = 1152: 73,728 draws per conv, enough to pin the spread to ~1 %
SCHEMES = """
archc: 1
name: schemes
input: {shape: [64, 8, 8]}
network:
""" + "".join(f"  - {{name: {scheme}, conv: {{out: 128, kernel: 3, init: {scheme}}}, from: [input]}}\n" for scheme in (
    "torch_default", "kaiming_normal", "kaiming_normal_fan_out", "kaiming_uniform", "xavier_uniform", "xavier_normal",
    "zeros")) + """\
  - {name: bias_zero, conv: {out: 128, kernel: 3, bias_init: zeros}, from: [input]}
  - {name: bias_const, conv: {out: 128, kernel: 3, bias_init: -2.5}, from: [input]}
  - {name: merged, concat: {}, from: [torch_default, kaiming_normal, kaiming_normal_fan_out, kaiming_uniform,
      xavier_uniform, xavier_normal, zeros, bias_zero, bias_const]}
  - {name: norm, bn: {gamma_init: 0.0, beta_init: 0.25, eps: 1.0e-3, momentum: 0.01}}
  - {name: pool, global_avgpool: {keepdims: false}}
  - {name: fc, linear: {out: 10, bias: true, init: xavier_uniform, bias_init: zeros}}
"""

FAN_IN, FAN_OUT = 576, 1152
GAIN = math.sqrt(2)
#: scheme -> (standard deviation, bound of a uniform draw or None)
EXPECTED = {
    "torch_default": (1 / math.sqrt(3 * FAN_IN), 1 / math.sqrt(FAN_IN)),  # kaiming_uniform(a=sqrt(5))
    "kaiming_normal": (GAIN / math.sqrt(FAN_IN), None),
    "kaiming_normal_fan_out": (GAIN / math.sqrt(FAN_OUT), None),
    "kaiming_uniform": (GAIN / math.sqrt(FAN_IN), GAIN * math.sqrt(3 / FAN_IN)),
    "xavier_uniform": (math.sqrt(2 / (FAN_IN + FAN_OUT)), math.sqrt(6 / (FAN_IN + FAN_OUT))),
    "xavier_normal": (math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
}


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return build_model(archc.build_graph(SCHEMES), seed=0)


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_weight_schemes_draw_from_their_distribution(model, scheme):
    weight = model.get_parameter(f"{scheme}.weight")
    std, bound = EXPECTED[scheme]
    assert weight.mean().abs() < 0.05 * std
    assert weight.std().item() == pytest.approx(std, rel=0.02)
    if bound is not None:
        assert weight.abs().max() <= bound
        assert weight.abs().max() > 0.99 * bound


def test_zeros_and_bias_schemes(model):
    assert not model.get_parameter("zeros.weight").any()
    torch_default_bias = model.get_parameter("torch_default.bias")
    assert torch_default_bias.abs().max() <= 1 / math.sqrt(FAN_IN) and torch_default_bias.std() > 0
    assert not model.get_parameter("bias_zero.bias").any()
    assert torch.equal(model.get_parameter("bias_const.bias"), torch.full((128,), -2.5))
    assert not model.get_parameter("fc.bias").any()


def test_batch_norm_settings(model):
    norm = model.get_submodule("norm")
    assert isinstance(norm, torch.nn.BatchNorm2d)
    assert not norm.weight.any() and torch.equal(norm.bias, torch.full((9 * 128,), 0.25))
    assert (norm.eps, norm.momentum) == (1e-3, 0.01)
    assert not norm.running_mean.any() and torch.equal(norm.running_var, torch.ones(9 * 128))
    assert int(norm.num_batches_tracked) == 0


def test_zoo_defaults_reproduce_the_references():
    resnet = build_model(archc.build_graph("resnet18", zero_init_residual=True), seed=0)
    conv = resnet.get_parameter("layer1.0.conv1.weight")  # kaiming normal, fan_out = 64 * 9
    assert conv.std().item() == pytest.approx(GAIN / math.sqrt(576), rel=0.03)
    assert not resnet.get_parameter("layer1.0.bn2.weight").any()  # zero_init_residual
    densenet = build_model(archc.build_graph("densenet121"), seed=0)
    assert not densenet.get_parameter("classifier.bias").any()  # torchvision: constant 0 for Linear bias
    conv = densenet.get_parameter("features.denseblock1.denselayer1.conv2.weight")  # kaiming normal, fan_in 128 * 9
    assert conv.std().item() == pytest.approx(GAIN / math.sqrt(128 * 9), rel=0.03)


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(torch.equal(a[key], b[key]) for key in a)


def test_vit_initialisation_has_torchvisions_spreads():
    """A small ViT from the zoo spec: conv_proj trunc_normal(sqrt(1 / fan_in)), zero class token, position embedding
    normal(0.02), MLP linears xavier_uniform with biases normal(1e-6), a zero head (torchvision's VisionTransformer)."""
    model = archc.load("vit_b_16", seed=0, resolution=32, patch=8, layers=1, heads=2, hidden=256, mlp=512)
    state = model.state_dict()
    assert state["conv_proj.weight"].std().item() == pytest.approx(math.sqrt(1 / (3 * 8 * 8)), rel=0.05)
    assert not state["conv_proj.bias"].any() and not state["class_token"].any()
    assert state["encoder.pos_embedding"].std().item() == pytest.approx(0.02, rel=0.05)
    mlp = "encoder.layers.encoder_layer_0.mlp."
    assert state[mlp + "0.weight"].abs().max().item() <= math.sqrt(6 / (256 + 512))
    assert state[mlp + "0.weight"].std().item() == pytest.approx(math.sqrt(2 / (256 + 512)), rel=0.05)
    assert state[mlp + "3.bias"].std().item() == pytest.approx(1e-6, rel=0.2)
    assert not state["heads.head.weight"].any() and not state["heads.head.bias"].any()


def test_a_bias_drawn_with_arguments_and_a_constant_with_arguments():
    spec = {"archc": 1, "name": "b", "input": {"shape": [64]}, "network": [
        {"name": "a", "linear": {"out": 4096, "bias_init": {"uniform": {"a": 2, "b": 3}}}},
        {"name": "c", "linear": {"out": 8, "bias_init": {"constant": {"value": -0.5}}}}]}
    state = archc.load(spec, seed=0).state_dict()
    assert 2 <= state["a.bias"].min().item() and state["a.bias"].max().item() <= 3
    assert state["a.bias"].std().item() == pytest.approx(1 / math.sqrt(12), rel=0.1)
    assert torch.equal(state["c.bias"], torch.full((8,), -0.5))


def test_same_seed_same_weights_bit_for_bit():
    graph = archc.build_graph("resnet20")
    torch.manual_seed(1)
    first = build_model(graph, seed=7).state_dict()
    torch.manual_seed(2)  # the global generator plays no part
    assert _same(first, build_model(graph, seed=7).state_dict())
    assert not _same(first, build_model(graph, seed=8).state_dict())


def test_a_seed_leaves_the_global_generator_alone():
    state = torch.get_rng_state()
    build_model(archc.build_graph("resnet20"), seed=3)
    assert torch.equal(state, torch.get_rng_state())


TRANSFORMERS = {"vit_b_16": {"patch": 8, "layers": 1, "heads": 2, "hidden": 16, "mlp": 32, "resolution": 32},
                "swin_t": {"embed_dim": 16, "depths": [2], "heads": [2], "window": 4, "resolution": 32}}


@pytest.mark.parametrize("name", list(TRANSFORMERS))
def test_a_seed_draws_every_transformer_tensor(name):
    # attention's in_proj_weight / out_proj.weight came from MultiheadAttention's constructor, drawn from the global
    # generator: two seeded builds differed; Swin's child Linears moved the global state
    graph = archc.build_graph(name, **TRANSFORMERS[name])
    state = torch.get_rng_state()
    torch.manual_seed(1)
    first = build_model(graph, seed=7).state_dict()
    torch.manual_seed(2)
    assert _same(first, build_model(graph, seed=7).state_dict())
    torch.set_rng_state(state)
    build_model(graph, seed=3)
    assert torch.equal(state, torch.get_rng_state())


def test_attention_starts_as_torchs_multihead_attention():
    model = archc.load("vit_b_16", seed=0, **TRANSFORMERS["vit_b_16"])
    attention = model.get_submodule("encoder.layers.encoder_layer_0.self_attention")
    bound = math.sqrt(6 / (16 + 3 * 16))  # xavier_uniform over the stacked [3D, D] in_proj_weight
    assert attention.in_proj_weight.abs().max().item() <= bound and attention.in_proj_weight.std().item() > bound / 3
    assert not attention.in_proj_bias.any() and not attention.out_proj.bias.any()
    assert attention.out_proj.weight.abs().max().item() <= 1 / math.sqrt(16)  # a Linear's kaiming_uniform(a=sqrt 5)


def test_no_seed_draws_from_the_global_generator():
    graph = archc.build_graph("resnet20")
    torch.manual_seed(5)
    first = build_model(graph).state_dict()
    torch.manual_seed(5)
    assert _same(first, build_model(graph).state_dict())
    assert not _same(first, build_model(graph).state_dict())


def test_load_passes_the_seed():
    assert _same(archc.load("resnet20", seed=1).state_dict(), archc.load("resnet20", seed=1).state_dict())
