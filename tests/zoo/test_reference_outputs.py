"""Zoo models compute what their references compute: a reference's weights load by name (strict) into the archc
torch model and both give the same outputs. Small models only, batch 1, eval mode; needs torch (+ torchvision / timm).
"""

from __future__ import annotations

import pytest

import archc

torch = pytest.importorskip("torch")


def _same_function(name: str, reference, shape) -> None:
    model = archc.load(name, backend="torch", seed=0)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()
    reference.eval()
    x = torch.randn(1, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["resnet18", pytest.param("resnext50_32x4d", marks=pytest.mark.slow),
                                  pytest.param("densenet121", marks=pytest.mark.slow)])
def test_torchvision_outputs(name):
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    _same_function(name, torchvision.models.get_model(name), (3, 64, 64))  # any input size; 64x64 is faster


def test_timm_se_resnet18_outputs():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    _same_function("se_resnet18", timm.create_model("seresnet18", pretrained=False), (3, 64, 64))


@pytest.mark.parametrize(("plain", "resnet"), [("plain20", "resnet20"), ("plain_fc10", None)])
def test_plain_nets_share_names_with_their_residual_nets(plain, resnet):
    model = archc.load(plain, backend="torch", seed=0)
    if resnet is not None:  # the degradation experiment compares the same parameters with and without shortcuts
        model.load_state_dict(archc.load(resnet, backend="torch", seed=1).state_dict(), strict=True)
    out = model(torch.randn(2, *archc.build_graph(plain).nodes["input"]["shape"]))
    assert out.shape == (2, 10)
