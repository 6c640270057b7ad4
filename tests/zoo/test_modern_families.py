"""The modern residual families beyond what the shared reference tests (test_references.py) check for every zoo
spec: stochastic depth rates as torchvision computes them per block (EfficientNet V1 and V2), timm's resnet50d at
odd resolutions."""

from __future__ import annotations

import functools

import pytest

import archc

from .reference import check_outputs, timm_reference, torchvision_reference

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")


def drop_rates(graph) -> dict[str, float]:
    return {name: node["attrs"].rate for name, node in graph.nodes(data=True) if node["op"] == "drop_path"}


def reference_rates(model) -> dict[str, float]:
    """torchvision's StochasticDepth modules where the block adds its input (use_res_connect); others never run."""
    from torchvision.ops import StochasticDepth

    return {name: module.p for name, module in model.named_modules() if isinstance(module, StochasticDepth)
            and getattr(model.get_submodule(name.rsplit(".", 1)[0]), "use_res_connect", True)}


@pytest.mark.parametrize("name", ["efficientnet_b0", "efficientnet_b7", "efficientnet_v2_s", "efficientnet_v2_l"])
def test_stochastic_depth_rates_are_torchvisions(name):
    expected = reference_rates(torchvision_reference(name, device="meta"))
    got = drop_rates(archc.build_graph(name, resolution=64))
    assert set(got) == set(expected)
    assert got == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("resolution", [67, 93])
def test_resnet50d_is_exact_at_odd_resolutions(resolution):
    """The avg-pool shortcut's last window is partial at odd sides: ceil_mode keeps it, count_include_pad=False
    averages only its real pixels."""
    assert check_outputs("resnet50d", functools.partial(timm_reference, "resnet50d"), resolution) < 1e-4


def test_regnet_registers_its_projection_before_the_body():
    """torchvision's ResBottleneckBlock holds proj before f: the residual's projection with first: true."""
    names = list(archc.build_graph("regnet_x_400mf", resolution=64).nodes)
    assert names.index("trunk_output.block1.block1-0.proj.0") < names.index("trunk_output.block1.block1-0.f.a.0")
    assert "trunk_output.block1.block1-1.proj.0" not in names  # same shape: the when: leaves the identity


def test_a_projection_first_must_apply_everywhere(tmp_path):
    spec = tmp_path / "first.yaml"
    spec.write_text("""archc: 1
name: first
input: {shape: [4, 8, 8]}
network:
  - residual:
      body: [{name: conv, conv: {out: 8, kernel: 3}}]
      shortcut: {name: proj, first: true, body: [{name: "0", conv: {out: 8, kernel: 1}}]}
""")
    with pytest.raises(archc.SpecError, match="use: always") as error:
        archc.build_graph(str(spec))
    assert "first.yaml:7" in str(error.value)


def test_convnext_blocks_count_in_the_comparison():
    """ConvNeXt has no BatchNorm for the harness to randomize, and a layer scale of 1e-6 makes every block nearly
    the identity: give every LayerNorm and layer scale non-trivial values first, then outputs must still agree."""
    reference = torchvision_reference("convnext_tiny")
    generator = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, tensor in reference.named_parameters():
            if name.endswith("layer_scale") or tensor.dim() == 1:  # layer scales, LayerNorm affines, biases
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 0.5 + 0.25)
    assert check_outputs("convnext_tiny", lambda: reference, 64) < 1e-3
    assert drop_rates(archc.build_graph("convnext_tiny", resolution=64)) == pytest.approx(
        reference_rates(reference), abs=1e-12)
