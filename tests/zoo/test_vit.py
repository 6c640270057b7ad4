"""torchvision's VisionTransformer from YAML (specs/vit_b_16.yaml and its variants): token shapes [N, D], class
token, position embedding, nn.MultiheadAttention's tensors. Counts and strict loads of every variant at 224 run in
test_references.py; here the outputs of a small ViT always, vit_b_16 itself at a small image size, and the located
errors of token shapes. The Keras build: tests/backends/keras/test_keras_transformers.py."""

from __future__ import annotations

import pytest
import yaml

import archc
from archc.errors import SpecError

from .reference import check_emitted_source, check_outputs, torchvision_reference

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

#: a ViT small enough to run in every test session: 32x32 images, 8x8 patches, two layers of two heads
TINY = {"patch": 8, "layers": 2, "heads": 2, "hidden": 32, "mlp": 64, "num_classes": 10}


def tiny_reference(device: str = "cpu", image_size: int = 32, **ignored):
    torch.manual_seed(0)
    with torch.device(device):
        return torchvision.models.VisionTransformer(image_size=image_size, patch_size=8, num_layers=2, num_heads=2,
                                                    hidden_dim=32, mlp_dim=64, num_classes=10)


def test_a_small_vit_computes_torchvisions_outputs():
    reference = tiny_reference()
    graph = archc.build_graph("vit_b_16", resolution=32, **TINY)
    assert archc.summarize(graph).params == sum(p.numel() for p in reference.parameters())
    model = archc.load("vit_b_16", resolution=32, **TINY).eval()
    assert list(model.state_dict()) == list(reference.state_dict())
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference.eval()(x), model(x)
    assert got.shape == (3, 10)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_vit_b_16_at_a_small_image_size():
    difference = check_outputs("vit_b_16", lambda **kw: torchvision_reference("vit_b_16", **kw), 32, batch=1)
    assert difference < 1e-3


def test_vit_b_16_has_torchvisions_counts():
    assert archc.summarize("vit_b_16").params == 86_567_656
    assert archc.summarize("vit_b_16", resolution=32).params == 86_567_656 - 192 * 768  # 5 position vectors, not 197


def test_the_emitted_source_computes_the_same():
    check_emitted_source("vit_b_16", 32, **TINY)


@pytest.mark.parametrize(("network", "message"), [
    ([{"to_tokens": {}}, {"conv": {"out": 4, "kernel": 1}}], r"conv expects \[C, H, W\] input, got \[4, 3\]"),
    ([{"to_tokens": {}}, {"global_avgpool": {}}], r"expects \[C, H, W\] input, got \[4, 3\]"),
    ([{"attention": {"heads": 2}}], r"attention expects \[N, D\] tokens input, got \[3, 2, 2\]"),
    ([{"to_tokens": {}}, {"attention": {"heads": 2}}], "attention with heads=2 needs features divisible by 2, got 3"),
    ([{"to_tokens": {}}, {"token": {"index": 4}}], "token index 4 is out of range for 4 tokens"),
])
def test_token_shape_errors_are_located(network, message):
    spec = {"archc": 1, "name": "bad", "input": {"shape": [3, 2, 2]}, "network": network}
    with pytest.raises(SpecError, match=message) as caught:
        archc.build_graph(yaml.safe_dump(spec, sort_keys=False))
    assert caught.value.diagnostics[0].position is not None  # located at the item
