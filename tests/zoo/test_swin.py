"""torchvision's Swin Transformer from YAML (specs/swin_t.yaml): a square grid of [N, D] tokens, shifted-window
attention with its relative position bias, patch merging. Counts, strict load and swin_t's outputs at a small and
(slow) full resolution run in test_references.py; here a small Swin always, at an even and an odd grid (padded
windows, padded merging), the emitted source, and the located errors. The Keras build:
tests/backends/keras/test_keras_transformers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import archc
from archc.errors import SpecError

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from .reference import check_emitted_source  # noqa: E402

#: a Swin small enough for every test session: two stages of two blocks, 4x4 windows
TINY = {"embed_dim": 24, "depths": [2, 2], "heads": [2, 4], "window": 4, "num_classes": 10}


def tiny_reference():
    from torchvision.models.swin_transformer import SwinTransformer

    torch.manual_seed(0)
    return SwinTransformer(patch_size=[4, 4], embed_dim=24, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                           num_classes=10)


SWINS = ["swin_t", "swin_s", "swin_b", "swin_v2_t", "swin_v2_s", "swin_v2_b"]


@pytest.mark.parametrize("name", SWINS)
def test_the_published_table(name):
    """torchvision's weights table (no download): the parameter count and GMACs at the weights' crop size."""
    weights = torchvision.models.get_model_weights(name).DEFAULT
    summary = archc.summarize(name, resolution=weights.transforms().crop_size[0])
    assert summary.params == weights.meta["num_params"]
    assert round(summary.macs / 1e9, 3) == round(weights.meta["_ops"], 3)


@pytest.mark.parametrize("resolution", [32, 36])  # grids 8 -> 4 (shift masks), 9 -> 5 (padded windows, merging)
def test_a_small_swin_computes_torchvisions_outputs(resolution):
    reference = tiny_reference()
    assert archc.summarize("swin_t", resolution=resolution, **TINY).params == sum(
        p.numel() for p in reference.parameters())
    model = archc.load("swin_t", resolution=resolution, **TINY).eval()
    assert list(model.state_dict()) == list(reference.state_dict())
    with torch.no_grad():  # a trained-looking bias table: a zero-ish one would hide a wrong index
        for name, tensor in reference.named_parameters():
            if name.endswith("relative_position_bias_table"):
                tensor.normal_(0, 1)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(3, 3, resolution, resolution, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference.eval()(x), model(x)
    assert got.shape == (3, 10)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_the_shift_changes_the_outputs():
    """The odd blocks' shifted windows are wired: the same weights without the shift compute something else."""
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    shifted = archc.load("swin_t", resolution=32, seed=0, **TINY).eval()
    with torch.no_grad():  # weights large enough that attention is far from uniform
        for tensor in shifted.parameters():
            tensor.normal_(0, 0.5, generator=torch.Generator().manual_seed(tensor.numel()))
    text = (Path(__file__).parents[2] / "specs" / "swin_t.yaml").read_text(encoding="utf-8")
    spec = text.replace('"${0 if i % 2 == 0 else window // 2}"', "0")
    assert spec != text
    unshifted = archc.load(spec, resolution=32, **TINY).eval()
    unshifted.load_state_dict(shifted.state_dict(), strict=True)
    with torch.no_grad():
        assert (shifted(x) - unshifted(x)).abs().max() > 1e-2 * shifted(x).abs().max()


def test_drop_path_drops_whole_samples_of_tokens():
    spec = {"archc": 1, "name": "tokens", "input": {"shape": [8, 4, 4]},
            "network": [{"to_tokens": {}}, {"drop_path": {"rate": 0.5}}]}
    model = archc.load(yaml.safe_dump(spec, sort_keys=False)).train()
    y = model(torch.ones(256, 8, 4, 4)).flatten(1)
    assert ((y == 0).all(1) | (y == 2).all(1)).all()  # each sample kept (scaled by 1 / (1 - rate)) or dropped whole
    assert 64 < (y == 0).all(1).sum() < 192


def test_the_emitted_source_computes_the_same():
    check_emitted_source("swin_t", 32, **TINY)


@pytest.mark.parametrize(("network", "message"), [
    ([{"window_attention": {"heads": 2}}], r"window_attention expects \[N, D\] tokens input, got \[4, 2, 2\]"),
    ([{"to_tokens": {}}, {"linear": {"out": 4}}, {"window_attention": {"heads": 3}}],
     "window_attention with heads=3 needs features divisible by 3, got 4"),
    ([{"to_tokens": {}}, {"window_attention": {"heads": 1, "window": 2, "shift": 2}}],
     "window_attention shift 2 must be smaller than its window 2"),
    ([{"conv": {"out": 4, "kernel": [1, 2]}}, {"to_tokens": {}}, {"patch_merging": {}}],
     "patch_merging needs a square grid of tokens, got 2 tokens"),
    ([{"to_tokens": {}}, {"token_mean": {}}, {"token_mean": {}}], r"token_mean expects \[N, D\] tokens input"),
])
def test_window_shape_errors_are_located(network, message):
    spec = {"archc": 1, "name": "bad", "input": {"shape": [4, 2, 2]}, "network": network}
    with pytest.raises(SpecError, match=message) as caught:
        archc.build_graph(yaml.safe_dump(spec, sort_keys=False))
    assert caught.value.diagnostics[0].position is not None  # located at the item


def tiny_v2_reference():
    from torchvision.models.swin_transformer import PatchMergingV2, SwinTransformer, SwinTransformerBlockV2

    torch.manual_seed(0)
    return SwinTransformer(patch_size=[4, 4], embed_dim=24, depths=[2, 2], num_heads=[2, 4], window_size=[4, 4],
                           num_classes=10, block=SwinTransformerBlockV2, downsample_layer=PatchMergingV2)


@pytest.mark.parametrize("resolution", [32, 36])
def test_a_small_swin_v2_computes_torchvisions_outputs(resolution):
    """Res-post-norm, scaled cosine attention (logit_scale, the k bias zeroed), the continuous position bias MLP and
    PatchMergingV2, against torchvision's with every parameter moved off its initial value (a zero k bias or the
    initial logit scale would hide the zeroing and the clamp; one head's scale beyond log 100 exercises the clamp)."""
    from .reference import reference_key_order

    reference = tiny_v2_reference()
    params = sum(p.numel() for p in reference.parameters())
    assert archc.summarize("swin_v2_t", resolution=resolution, **TINY).params == params
    model = archc.load("swin_v2_t", resolution=resolution, **TINY).eval()
    assert list(model.state_dict()) == reference_key_order("swin_v2_t", list(reference.state_dict()))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in reference.named_parameters():
            tensor.add_(torch.randn(tensor.shape, generator=generator) * (1.0 if "logit_scale" in name else 0.2))
        reference.features[1][1].attn.logit_scale[0] = 6.0
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(3, 3, resolution, resolution, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference.eval()(x), model(x)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_the_v2_k_bias_is_held_at_zero():
    """With cosine attention the key third of qkv.bias does not change the outputs (torchvision zeroes it in the
    forward); the query third does."""
    model = archc.load("swin_v2_t", resolution=32, seed=0, **TINY).eval()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    bias = model.get_submodule("features.1.0.attn.qkv").bias
    with torch.no_grad():
        before = model(x)
        bias[24:48] += 5.0
        assert torch.equal(model(x), before)
        bias[:24] += 5.0
        assert (model(x) - before).abs().max() > 1e-3


def test_the_v2_emitted_source_computes_the_same():
    check_emitted_source("swin_v2_t", 36, **TINY)
