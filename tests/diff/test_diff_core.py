"""archc.diff.diff_graphs on real zoo specs and small written-out specs; expected deltas are derived independently
(closed forms of the conv costs, or archc.summarize of each side), never read back from the diff itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import archc
from archc.diff import AttrChange, GraphDiff, diff_graphs, diff_specs, grouped

SMALL = """
archc: 1
name: small
input: {shape: [3, 16, 16]}
params: {kernel: 3, width: 8}
network:
  - {name: stem, conv: {out: $width, kernel: $kernel, bias: false}}
  - {name: bn, bn: {}}
  - {name: act, relu: {}}
  - {name: pool, maxpool: {kernel: 2, stride: 2}}
  - {name: gap, global_avgpool: {}}
  - flatten
  - {name: fc, linear: {out: 10}}
"""


def small(text: str = SMALL, **params: object) -> archc.Graph:
    return archc.build_graph(text, **params)


@pytest.fixture(scope="module")
def resnet50() -> archc.Graph:
    return archc.build_graph("resnet50")


def test_identical_specs_give_an_empty_diff(resnet50: archc.Graph) -> None:
    result = diff_graphs(resnet50, archc.build_graph("resnet50"))
    assert result.identical
    assert (result.added, result.removed, result.changed, result.shapes) == ([], [], [], [])
    assert not any(stage.changed for stage in result.stages)
    assert result.total.params_delta == result.total.macs_delta == 0
    assert result.total.params_a == 25_557_032


def test_resnet18_to_resnet34_adds_whole_blocks() -> None:
    a, b = archc.build_graph("resnet18"), archc.build_graph("resnet34")
    result = diff_graphs(a, b)
    # resnet34 has [3, 4, 6, 3] basic blocks where resnet18 has [2, 2, 2, 2]: the extra ones are new namespaces
    expected = ["layer1.2", "layer2.2", "layer2.3", "layer3.2", "layer3.3", "layer3.4", "layer3.5", "layer4.2"]
    groups = grouped(result.added)
    assert [name for name, _ in groups] == expected
    assert all(len(nodes) == 7 for _, nodes in groups)  # conv1 bn1 relu conv2 bn2 add relu_1
    assert result.removed == [] and result.shapes == []
    # the only changes: the first node after each stage now reads the last (new) block of the stage before
    assert {change.name for change in result.changed} == {
        "layer2.0.conv1", "layer2.0.downsample.0", "layer3.0.conv1", "layer3.0.downsample.0", "layer4.0.conv1",
        "layer4.0.downsample.0", "avgpool"}
    assert all(change.inputs_changed and not change.attrs and not change.op_changed for change in result.changed)
    change = next(c for c in result.changed if c.name == "avgpool")
    assert (change.inputs_old, change.inputs_new) == (("layer4.1.relu_1",), ("layer4.2.relu_1",))
    # stage and total deltas agree with each side's own summary
    rows_a = {row.name: row for row in archc.summarize(a, depth=1).rows}
    rows_b = {row.name: row for row in archc.summarize(b, depth=1).rows}
    for stage in result.stages:
        assert stage.params_delta == rows_b[stage.name].params - rows_a[stage.name].params
        assert stage.macs_delta == rows_b[stage.name].macs - rows_a[stage.name].macs
    assert result.total.params_delta == 21_797_672 - 11_689_512
    assert [s.name for s in result.stages if s.changed] == ["layer1", "layer2", "layer3", "layer4"]


def test_added_block_costs_follow_the_conv_formulas() -> None:
    result = diff_graphs(archc.build_graph("resnet18"), archc.build_graph("resnet34"))
    by_group = dict(grouped(result.added))
    # a basic block of C channels on an S x S map: two 3x3 convs (9 C^2 each) and two BNs (2 C each)
    for group, channels, size in (("layer1.2", 64, 56), ("layer3.5", 256, 14), ("layer4.2", 512, 7)):
        nodes = by_group[group]
        assert sum(node.params for node in nodes) == 2 * 9 * channels**2 + 2 * 2 * channels
        assert sum(node.macs for node in nodes) == 2 * 9 * channels**2 * size**2


def test_stride_on_conv1_moves_strides_and_saves_macs(resnet50: archc.Graph) -> None:
    v1 = archc.build_graph("resnet50", stride_on="conv1")
    result = diff_graphs(resnet50, v1)
    assert result.added == [] and result.removed == []
    changes = {change.name: change.attrs for change in result.changed}
    for stage in (2, 3, 4):
        assert changes[f"layer{stage}.0.conv1"] == (AttrChange("stride", 1, 2),)
        assert changes[f"layer{stage}.0.conv2"] == (AttrChange("stride", 2, 1),)
    assert len(changes) == 6
    # conv1 (1x1, C_in -> planes) now runs on the halved map; conv2's output is halved either way. Per stage the
    # saving is 3/4 of conv1's full-resolution MACs: C_in * planes * H * W * 3 / 4.
    expected = {f"layer{s}": -(c_in * planes * size * size * 3 // 4)
                for s, c_in, planes, size in ((2, 256, 128, 56), (3, 512, 256, 28), (4, 1024, 512, 14))}
    assert {stage.name: stage.macs_delta for stage in result.stages if stage.changed} == expected
    assert result.total.macs_delta == sum(expected.values()) == -231_211_008
    assert result.total.macs_delta == archc.summarize(v1).macs - archc.summarize(resnet50).macs
    assert f"{result.total.macs_a / 1e9:.3f} -> {result.total.macs_b / 1e9:.3f}" == "4.089 -> 3.858"
    assert result.total.params_delta == 0
    assert [(s.name, s.old, s.new) for s in result.shapes if s.name.startswith("layer2")] == [
        ("layer2.0.conv1", (128, 56, 56), (128, 28, 28)), ("layer2.0.bn1", (128, 56, 56), (128, 28, 28)),
        ("layer2.0.relu", (128, 56, 56), (128, 28, 28))]


def test_se_resnet50_adds_an_se_namespace_per_block(resnet50: archc.Graph) -> None:
    result = diff_graphs(resnet50, archc.build_graph("se_resnet50"))
    groups = grouped(result.added)
    blocks = [f"layer{s + 1}.{i}" for s, count in enumerate([3, 4, 6, 3]) for i in range(count)]
    assert [name for name, _ in groups] == [f"{block}.se" for block in blocks]
    assert {tuple(n.name.rsplit(".", 1)[1] for n in nodes) for _, nodes in groups} == {
        ("global_avgpool", "fc1", "relu", "fc2", "sigmoid", "mul")}
    # each block's residual sum now reads the SE output instead of bn3; bn3 starts at gamma 0 (timm's zero_init_last)
    rewired = [c for c in result.changed if c.inputs_changed]
    assert [(c.name, c.inputs_old[0], c.inputs_new[0]) for c in rewired] == [
        (f"{block}.add", f"{block}.bn3", f"{block}.se.mul") for block in blocks]
    assert [(c.name, c.attrs) for c in result.changed if not c.inputs_changed] == [
        (f"{block}.bn3", (AttrChange("gamma_init", 1.0, 0.0),)) for block in blocks]

    # SE on C channels: fc1 C -> r and fc2 r -> C, 1x1 convs with bias, r = make_divisible(C / 16, 8)
    def se_params(channels: int) -> int:
        hidden = max(8, int(channels / 16 + 4) // 8 * 8)
        return 2 * channels * hidden + hidden + channels

    assert result.total.params_delta == sum(count * se_params(256 * 2**s) for s, count in enumerate([3, 4, 6, 3]))
    assert result.total.params_b == 28_088_024


def test_changed_attributes_and_op_list_old_and_new() -> None:
    result = diff_graphs(small(), small(SMALL.replace("act, relu", "act, gelu"), kernel=5))
    changes = {change.name: change for change in result.changed}
    assert set(changes) == {"stem", "act"}
    assert (changes["stem"].attrs) == (AttrChange("kernel", 3, 5), AttrChange("padding", 1, 2))
    assert changes["act"].op_changed and (changes["act"].op_old, changes["act"].op_new) == ("relu", "gelu")
    assert changes["act"].attrs == (AttrChange("approximate", None, "none"),)  # gelu has an attribute relu lacks
    assert result.shapes == []
    assert result.total.params_delta == 8 * 3 * (25 - 9)
    assert result.total.macs_delta == 8 * 3 * (25 - 9) * 16 * 16


def test_same_value_written_differently_is_no_change() -> None:
    written_out = SMALL.replace("kernel: $kernel, bias: false", "kernel: [3, 3], padding: 1, stride: [1, 1], "
                                                                 "bias: false")
    assert diff_graphs(small(), archc.build_graph(written_out)).identical


def test_widths_change_shapes_and_a_renamed_node_is_removed_and_added() -> None:
    renamed = SMALL.replace("name: fc,", "name: classifier,")
    result = diff_graphs(small(), archc.build_graph(renamed, width=16))
    assert [n.name for n in result.removed] == ["fc"] and [n.name for n in result.added] == ["classifier"]
    assert result.removed[0].params == 8 * 10 + 10 and result.added[0].params == 16 * 10 + 10
    assert [(s.name, s.old[0], s.new[0]) for s in result.shapes] == [
        ("stem", 8, 16), ("bn", 8, 16), ("act", 8, 16), ("pool", 8, 16), ("gap", 8, 16), ("flatten", 8, 16)]
    assert {c.name: c.attrs for c in result.changed}["stem"] == (AttrChange("out", 8, 16),)
    fc_stage = next(stage for stage in result.stages if stage.name == "fc")
    assert (fc_stage.in_a, fc_stage.in_b, fc_stage.params_delta) == (True, False, -90)
    # a stage found only in A keeps its place in network order: after the stage it follows in A
    assert [stage.name for stage in result.stages][-3:] == ["flatten", "fc", "classifier"]


def test_input_shape_change_is_reported() -> None:
    result = diff_specs("resnet20", "resnet20", depth=1)
    assert result.identical
    fashion = "archc: 1\nextends: resnet20\nname: resnet20_fashion\ninput: {shape: [1, 28, 28]}\n"
    result = diff_graphs(archc.build_graph("resnet20"), archc.build_graph(fashion))
    assert result.shapes[0].name == "input" and (result.shapes[0].old, result.shapes[0].new) == ((3, 32, 32),
                                                                                                  (1, 28, 28))
    assert result.total.params_delta == -(16 * 2 * 9)  # conv1 reads 1 channel instead of 3
    assert result.added == result.removed == result.changed == []


def test_depth_0_and_2_group_costs(resnet50: archc.Graph) -> None:
    v1 = archc.build_graph("resnet50", stride_on="conv1")
    per_node = diff_graphs(resnet50, v1, depth=0)
    assert [s.name for s in per_node.stages if s.changed] == [f"layer{s}.0.conv1" for s in (2, 3, 4)]
    per_block = diff_graphs(resnet50, v1, depth=2)
    assert [s.name for s in per_block.stages if s.changed] == [f"layer{s}.0" for s in (2, 3, 4)]
    with pytest.raises(ValueError):
        diff_graphs(resnet50, v1, depth=-1)


def test_to_dict_is_json(resnet50: archc.Graph) -> None:
    result = diff_graphs(resnet50, archc.build_graph("se_resnet50"))
    data = json.loads(json.dumps(result.to_dict()))
    assert data["identical"] is False and data["a"] == "resnet50" and data["b"] == "se_resnet50"
    assert len(data["added"]) == 16 * 6 and data["added"][0]["group"] == "layer1.0.se"
    add = next(change for change in data["changed"] if change["name"] == "layer1.0.add")
    assert add["inputs"] == {"old": ["layer1.0.bn3", "layer1.0.downsample.1"],
                             "new": ["layer1.0.se.mul", "layer1.0.downsample.1"]}
    assert data["total"]["params_delta"] == 28_088_024 - 25_557_032
    assert isinstance(result, GraphDiff)


def test_diff_specs_takes_overrides_per_side() -> None:
    result = diff_specs("resnet50", "resnet50", overrides_b=["stride_on=conv1"])
    assert result.total.macs_delta == -231_211_008
    with pytest.raises(archc.SpecError):
        diff_specs("resnet50", "resnet50", overrides_b=["no_such_param=1"])


def test_the_core_imports_no_framework() -> None:
    code = ("import sys, archc, archc.diff; archc.diff.diff_specs('resnet18', 'resnet18'); "
            "bad = [m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules]; sys.exit(len(bad))")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
