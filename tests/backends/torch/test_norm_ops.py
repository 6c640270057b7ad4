"""layernorm and groupnorm against their references: timm's LayerNorm2d (ConvNeXt), nn.LayerNorm, nn.GroupNorm."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
timm_layers = pytest.importorskip("timm.layers")

import archc  # noqa: E402
from archc.backends.torch import build_model, emit_source  # noqa: E402

SPEC = """
archc: 1
name: norms
input: {shape: [8, 5, 5]}
network:
  - {name: stem, conv: {out: 8, kernel: 3}}
  - {name: norm, layernorm: {eps: 1.0e-6}}
  - {name: group, groupnorm: {groups: 4}}
  - {name: pool, global_avgpool: {keepdims: false}}
  - {name: head, layernorm: {}}
"""


def _random(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.normal_()


def test_layernorm_over_channels_is_timms_layernorm2d():
    model = build_model(archc.build_graph(SPEC), seed=0).eval()
    _random(model)
    reference = timm_layers.LayerNorm2d(8, eps=1e-6).eval()
    reference.load_state_dict(model.norm.state_dict(), strict=True)  # the same keys: weight, bias
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        # the module at the node's name is an nn.LayerNorm; the graph permutes around it, as LayerNorm2d.forward
        torch.testing.assert_close(model.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2), reference(x))


def test_the_whole_net_matches_the_reference_layers():
    graph = archc.build_graph(SPEC)
    model = build_model(graph, seed=0).eval()
    _random(model)
    ln2d = timm_layers.LayerNorm2d(8, eps=1e-6)
    ln2d.load_state_dict(model.norm.state_dict())
    gn = torch.nn.GroupNorm(4, 8)
    gn.load_state_dict(model.group.state_dict())
    head = torch.nn.LayerNorm(8)
    head.load_state_dict(model.head.state_dict())
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        expected = head(gn(ln2d(model.stem(x))).mean((2, 3)))
        torch.testing.assert_close(model(x), expected)
    assert graph.num_params == sum(p.numel() for p in model.parameters()) == 8 * 8 * 9 + 8 + 3 * 16
    assert [key for key in model.state_dict() if key.startswith("norm.")] == ["norm.weight", "norm.bias"]
    assert "x.permute(0, 2, 3, 1)" in emit_source(graph) and "nn.GroupNorm(4, 8)" in emit_source(graph)


def test_groupnorm_needs_divisible_channels():
    with pytest.raises(archc.SpecError, match="groupnorm with groups=3 needs channels divisible by 3, got 8"):
        archc.build_graph(SPEC.replace("groups: 4", "groups: 3"))
