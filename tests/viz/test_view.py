"""The drawing model: groups by namespace, collapsing by --depth, connection kinds, diagnostics on the right boxes."""

from __future__ import annotations

from pathlib import Path

import pytest

import archc
from archc.viz.view import build_view, connection_of, count_text, dense_bundles, op_text, shape_text

SPECS = Path(__file__).parent / "specs"


def kinds_into(view, target: str) -> set[str]:
    return {e.kind for e in view.edges if e.target == target}


def test_every_node_is_a_box_at_full_depth():
    graph = archc.build_graph("resnet50")
    view = build_view(graph)
    assert set(view.nodes) == set(graph.nodes)
    assert view.params == graph.num_params == 25_557_032
    assert view.groups["layer1"].parent is None and view.groups["layer1.0"].parent == "layer1"
    assert view.groups["layer1.0.downsample"].parent == "layer1.0"
    assert view.nodes["layer1.0.conv1"].group == "layer1.0" and view.nodes["layer1.0.conv1"].label == "conv1"
    assert view.nodes["layer1.0.conv1"].description == "conv 1×1"
    assert view.nodes["layer2.0.conv2"].description == "conv 3×3 /2"


def test_residual_edges_are_add():
    view = build_view(archc.build_graph("resnet50"))
    assert view.nodes["layer1.1.add"].kind == "add"
    assert kinds_into(view, "layer1.1.add") == {"add"}
    sources = {e.source for e in view.edges if e.target == "layer1.1.add"}
    assert sources == {"layer1.1.bn3", "layer1.0.relu_2"}  # the body and the identity shortcut
    assert view.kinds == ["add"]


def test_highway_edges_are_gate_and_labelled_with_their_term():
    graph = archc.build_graph(SPECS / "highway_small.yaml")
    view = build_view(graph)
    for op in ("sub", "mul", "add"):
        assert connection_of(graph, f"hw1.{op}") == "gate"
        assert kinds_into(view, f"hw1.{op}") == {"gate"}
    labels = {(e.source, e.target): e.label for e in view.edges}
    assert labels[("hw1.relu", "hw1.sub")] == "H"
    assert labels[("hw0.add", "hw1.sub")] == "x"
    assert labels[("hw1.sigmoid", "hw1.mul")] == "T"
    assert labels[("hw0.add", "hw1.add")] == "x"
    assert view.kinds == ["gate", "se"]


def test_squeeze_excitation_edges_are_se():
    graph = archc.build_graph(SPECS / "highway_small.yaml")
    view = build_view(graph)
    assert connection_of(graph, "se.mul") == "se"
    assert kinds_into(view, "se.mul") == {"se"}
    assert {e.label for e in view.edges if e.target == "se.mul"} == {"σ", ""}


def test_se_resnet_mixes_add_and_se():
    view = build_view(archc.build_graph("se_resnet50"))
    assert view.kinds == ["add", "se"]


def test_dense_concats_are_bundled_unless_all_edges():
    graph = archc.build_graph("densenet121")
    bundles = dense_bundles(graph)
    layer3 = "features.denseblock1.denselayer3.concat"
    assert bundles[layer3] == ("features.denseblock1.denselayer2.concat", 2)
    bundled = build_view(graph)
    full = build_view(graph, all_edges=True)
    into = [e for e in bundled.edges if e.target == layer3]
    assert {e.source for e in into} == {"features.denseblock1.denselayer2.concat",
                                         "features.denseblock1.denselayer2.conv2"}
    assert {e.kind for e in into} == {"concat"}
    assert {e.source for e in full.edges if e.target == layer3} == set(graph.nodes[layer3]["inputs"])
    # each bundle stands for `shared` edges and is drawn as one
    assert len(full.edges) - len(bundled.edges) == sum(shared - 1 for _, shared in bundles.values())


def test_depth_collapses_groups_into_boxes_with_shape_and_params():
    graph = archc.build_graph("resnet50")
    view = build_view(graph, depth=1)
    assert list(view.nodes) == ["input", "conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4",
                                "avgpool", "flatten", "fc"]
    assert view.groups == {}
    layer3 = view.nodes["layer3"]
    assert layer3.is_group and layer3.shape == (1024, 14, 14)
    assert layer3.params == sum(d["params"] for n, d in graph.nodes(data=True) if n.startswith("layer3."))
    assert layer3.kinds == ["add"]
    assert sum(n.params for n in view.nodes.values()) == graph.num_params
    view2 = build_view(graph, depth=2)
    assert view2.nodes["layer1.0"].group == "layer1" and view2.nodes["layer1.0"].count == 12
    assert {e.kind for e in view2.edges if (e.source, e.target) == ("layer1.0", "layer1.1")} == {"data", "add"}


def test_collapsed_dense_edges_say_the_concat_width():
    view = build_view(archc.build_graph("densenet121"), depth=3)
    labels = {(e.source, e.target): e.label for e in view.edges}
    assert labels[("features.denseblock1.denselayer3", "features.denseblock1.denselayer4")] == "160 ch"
    overview = build_view(archc.build_graph("densenet121"), depth=2)
    assert {e.label for e in overview.edges} == {""}  # a block's box holds many concats: no single width to show


def test_errors_attach_to_their_node_or_group():
    graph = archc.build_graph(SPECS / "broken.yaml", strict=False)
    assert len(graph.diagnostics) == 2
    view = build_view(graph)
    assert any("divisible by groups" in m for m in view.nodes["conv2"].errors)
    assert any("shortcut is identity" in m for m in view.groups["block1"].messages)
    assert view.groups["block1"].errors == 1
    assert view.nodes["pool"].shape is None and not view.nodes["pool"].errors
    collapsed = build_view(graph, depth=1)
    assert any("shortcut is identity" in m for m in collapsed.nodes["block1"].errors)
    assert view.notes == []


def test_negative_depth_is_refused():
    with pytest.raises(ValueError):
        build_view(archc.build_graph("resnet18"), depth=-1)


def test_text_helpers():
    assert shape_text((64, 56, 56)) == "64×56×56" and shape_text(None) == "?"
    assert count_text(9408) == "9.4K" and count_text(25_557_032) == "25.6M" and count_text(12) == "12"
    graph = archc.build_graph("resnet18")
    assert op_text("maxpool", graph.nodes["maxpool"]["attrs"]) == "maxpool 3×3 /2"
    assert op_text("linear", graph.nodes["fc"]["attrs"]) == "linear 1000"


def test_the_transformer_ops_show_their_options():
    graph = archc.build_graph("swin_v2_t", depths=[2, 2], heads=[3, 6], resolution=64)
    assert op_text("window_attention", graph.nodes["features.1.1.attn"]["attrs"]) == \
        "window_attention 8×8, shift 4, 3 heads, cosine, mlp bias"
    assert op_text("patch_merging", graph.nodes["features.2"]["attrs"]) == "patch_merging, norm after"
    graph = archc.build_graph("swin_t", depths=[2, 2], heads=[3, 6], resolution=64)
    assert op_text("window_attention", graph.nodes["features.1.0.attn"]["attrs"]) == "window_attention 7×7, 3 heads"
    assert op_text("patch_merging", graph.nodes["features.2"]["attrs"]) == "patch_merging"
    vit = archc.build_graph("vit_b_16", layers=1, resolution=32)
    assert op_text("attention", vit.nodes["encoder.layers.encoder_layer_0.self_attention"]["attrs"]) == \
        "attention, 12 heads"


def test_tooltips_write_booleans_as_a_spec_does(tmp_path):
    from archc.cli import main

    out = tmp_path / "swin.dot"
    assert main(["draw", "swin_v2_t", "--set", "depths=[2]", "--set", "heads=[3]", "--set", "resolution=64",
                 "-o", str(out)]) == 0
    text = out.read_text()
    assert "cosine: true" in text and "cosine: True" not in text
