"""Torch semantics of the modern families' ops that the outputs-in-eval checks cannot see: drop_path in training."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import archc  # noqa: E402


@pytest.mark.parametrize("shape", [[3, 4, 4], [6]])
def test_drop_path_drops_whole_samples_in_training_and_nothing_in_eval(shape):
    spec = {"archc": 1, "name": "dp", "input": {"shape": shape}, "network": [{"drop_path": {"rate": 0.25}}]}
    model = archc.load(spec)
    x = torch.rand(4000, *shape) + 1.0
    torch.manual_seed(0)
    y = model.train()(x)
    per_sample = (y / x).flatten(1)
    # every sample is either dropped whole or kept whole and scaled by 1 / (1 - rate)
    kept = (per_sample - 1 / 0.75).abs().amax(dim=1) < 1e-5
    dropped = per_sample.abs().amax(dim=1) == 0
    assert bool((kept | dropped).all())
    assert abs(float(dropped.float().mean()) - 0.25) < 0.03  # 4000 draws: 3 standard deviations ~ 0.02
    assert torch.equal(model.eval()(x), x)


def test_layer_scale_is_a_bare_parameter_named_as_torchvision_cnblock(tmp_path):
    """torchvision's CNBlock keeps layer_scale ([C, 1, 1]) on the block itself: features.1.0.layer_scale."""
    from zoo.reference import emitted_class

    spec = {"archc": 1, "name": "cn", "input": {"shape": [4, 5, 5]}, "network": [
        {"name": "features.1.0", "body": [
            {"name": "block.0", "conv": {"out": 4, "kernel": 7, "groups": 4}},
            {"name": "layer_scale", "layer_scale": {"init": 0.25}}]}]}
    graph = archc.build_graph(spec)
    model = archc.load(spec).eval()
    assert {key: tuple(value.shape) for key, value in model.state_dict().items()} == {
        "features.1.0.layer_scale": (4, 1, 1), "features.1.0.block.0.weight": (4, 1, 7, 7),
        "features.1.0.block.0.bias": (4,)}
    assert torch.equal(model.state_dict()["features.1.0.layer_scale"], torch.full((4, 1, 1), 0.25))
    assert graph.nodes["features.1.0.layer_scale"]["params"] == 4
    gamma = torch.randn(4, 1, 1)
    model.load_state_dict({**model.state_dict(), "features.1.0.layer_scale": gamma}, strict=True)
    x = torch.randn(2, 4, 5, 5)
    conv = model.get_submodule("features.1.0.block.0")
    with torch.no_grad():
        assert torch.equal(model(x), gamma * conv(x))
        emitted = emitted_class(graph)().eval()
        emitted.load_state_dict(model.state_dict(), strict=True)
        assert list(emitted.state_dict()) == list(model.state_dict())
        assert torch.equal(emitted(x), model(x))


def test_a_convnext_block_is_torchvision_cnblock():
    """layer_scale, layernorm over channels, linear over: channels and drop_path make torchvision's CNBlock: the
    same state_dict keys (strict load) and outputs."""
    from torchvision.models.convnext import CNBlock

    dim = 16
    reference = CNBlock(dim, layer_scale=1e-6, stochastic_depth_prob=0.1).eval()
    with torch.no_grad():
        for tensor in reference.state_dict().values():
            tensor.copy_(torch.randn(tensor.shape, generator=torch.Generator().manual_seed(tensor.numel())))
    spec = {"archc": 1, "name": "cnblock", "input": {"shape": [dim, 7, 7]}, "network": [
        {"name": "0", "residual": {"body": [
            {"name": "block.0", "conv": {"out": dim, "kernel": 7, "groups": dim}},
            {"name": "block.2", "layernorm": {"eps": 1e-6}},
            {"name": "block.3", "linear": {"out": 4 * dim, "over": "channels"}},
            "gelu",
            {"name": "block.5", "linear": {"out": dim, "over": "channels"}},
            {"name": "layer_scale", "layer_scale": {}},
            {"name": "stochastic_depth", "drop_path": {"rate": 0.1}}]}}]}
    model = archc.load(spec).eval()
    model.load_state_dict({f"0.{key}": value for key, value in reference.state_dict().items()}, strict=True)
    x = torch.randn(2, dim, 7, 7)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-5)
