"""The attention templates of specs/attention/blocks.yaml (extends: attention/blocks) against timm's modules: the
same state_dict keys (strict load) and the same outputs. ECA and CBAM are built from primitive ops only."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm_layers = pytest.importorskip("timm.layers")

import archc  # noqa: E402


def attention_net(block: str, channels: int, size: int = 9) -> str:
    return f"""
archc: 1
extends: attention/blocks
name: {block}_only
input: {{shape: [{channels}, {size}, {size}]}}
network:
  - {{name: se, {block}: {{}}}}
"""


def randomise(model: torch.nn.Module, everything: bool = True) -> None:
    """Random tensors (or, in a deep net, only the BatchNorms', whose fresh statistics would hide wiring mistakes,
    moderately: random weights everywhere would overflow 50 layers)."""
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or not (everything or "bn" in name or "downsample.1" in name):
                continue
            if name.endswith("running_var"):
                values = torch.rand(tensor.shape, generator=generator) + 0.5
            elif everything:
                values = torch.randn(tensor.shape, generator=generator)
            else:
                centre = 0.8 if name.endswith("weight") else -0.2
                values = torch.rand(tensor.shape, generator=generator) * 0.4 + centre
            tensor.copy_(values)


@pytest.mark.parametrize("channels", [64, 256, 2048])
def test_eca_is_timm_eca_module(channels):
    from timm.layers import EcaModule

    reference = EcaModule(channels)  # the kernel size follows from the channel count (3, 5, 7 here)
    model = archc.load(attention_net("eca", channels))
    randomise(reference)
    model.load_state_dict({f"se.{key}": value for key, value in reference.state_dict().items()}, strict=True)
    x = torch.randn(2, channels, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("channels", [64, 136])
def test_cbam_is_timm_cbam_module(channels):
    from timm.layers.cbam import CbamModule

    reference = CbamModule(channels)
    model = archc.load(attention_net("cbam", channels))
    randomise(reference)
    state = {f"se.{key}": value for key, value in reference.state_dict().items()}
    assert set(state) == set(model.state_dict())
    model.load_state_dict(state, strict=True)
    x = torch.randn(2, channels, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x), rtol=1e-5, atol=1e-6)



@pytest.mark.parametrize("attention", ["eca", "cbam"])
def test_the_resnet50_attention_variant_is_timm_resnet50_with_that_attention(attention):
    """docs/variants/resnet50_attention.yaml: timm's ResNet-50 with attn_layer=eca / cbam, strict load, equal
    outputs (64 x 64: the wiring is what is checked; every BN has random statistics)."""
    from pathlib import Path

    from timm.models.resnet import Bottleneck, ResNet

    variant = Path(__file__).resolve().parents[2] / "docs" / "variants" / "resnet50_attention.yaml"
    reference = ResNet(Bottleneck, [3, 4, 6, 3], block_args={"attn_layer": attention})
    model = archc.load(variant, attention=attention)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    randomise(reference, everything=False)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x), reference.eval()(x), rtol=1e-4, atol=1e-4)
