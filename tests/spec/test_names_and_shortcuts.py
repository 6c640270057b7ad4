"""Issue 13's naming and residual language: name: "#", names: for the nodes a connection adds, and a residual
whose shortcut exists only where the shapes agree."""

from __future__ import annotations

import pytest

import archc
from archc.errors import SpecError


def graph(network: list, shape: list[int] | None = None, **params) -> archc.Graph:
    spec = {"archc": 1, "name": "t", "input": {"shape": shape or [16, 8, 8]}, "params": {"expand": 1},
            "network": network}
    return archc.build_graph(spec, **params)


def error(network: list) -> str:
    with pytest.raises(SpecError) as caught:
        graph(network)
    return str(caught.value)


INVERTED = [{"name": "conv", "body": [
    {"when": "${expand != 1}", "name": "#", "body": [{"name": "0", "conv": {"out": "${16 * expand}", "kernel": 1}},
                                                    {"name": "1", "bn": {}}, {"name": "#", "relu6": {}}]},
    {"name": "#", "body": [{"name": "0", "conv": {"out": "${in_channels}", "kernel": 3, "groups": "${in_channels}"}},
                           {"name": "1", "bn": {}}]},
    {"name": "#", "conv": {"out": 16, "kernel": 1, "bias": False}},
    {"name": "#", "bn": {}}]}]


def test_next_index_follows_torchvision_numbering_when_an_optional_layer_is_absent():
    # MobileNetV2's InvertedResidual: with expand ratio 1, conv.0 is the depthwise conv
    names = [name for name, _ in graph(INVERTED).op_nodes()]
    assert names == ["conv.0.0", "conv.0.1", "conv.1", "conv.2"]
    names = [name for name, _ in graph(INVERTED, expand=6).op_nodes()]
    assert names == ["conv.0.0", "conv.0.1", "conv.0.2", "conv.1.0", "conv.1.1", "conv.2", "conv.3"]


def test_next_index_counts_after_written_numbers_and_on_repeats():
    names = [name for name, _ in graph([{"name": "3", "relu": {}}, {"name": "#", "relu": {}},
                                        {"repeat": 2, "name": "#", "body": ["relu"]}]).op_nodes()]
    assert names == ["3", "4", "5.relu", "6.relu"]


def test_names_rename_the_nodes_a_connection_adds():
    g = graph([{"residual": {"body": [{"name": "conv2_block1_1_conv", "conv": {"out": 16, "kernel": 3}}],
                             "names": {"add": "conv2_block1_add"}}},
               {"name": "block1a", "se": {"names": {"global_avgpool": "se_squeeze", "fc1": "se_reduce",
                                                    "fc2": "se_expand", "mul": "se_excite", "gate": "gate"}}}])
    names = [name for name, _ in g.op_nodes()]
    assert names == ["conv2_block1_1_conv", "conv2_block1_add", "block1a.se_squeeze", "block1a.se_reduce",
                     "block1a.relu", "block1a.se_expand", "block1a.gate", "block1a.se_excite"]
    assert g.nodes["conv2_block1_add"]["connection"]["kind"] == "residual"


def test_a_misspelt_role_or_a_bad_name_is_a_located_error():
    text = error([{"residual": {"body": ["relu"], "names": {"ad": "x"}}}])
    assert "network[0].residual.names: residual adds no 'ad' node (hint: did you mean 'add'?)" in text
    assert "invalid name 'a b' for the mul node" in error([{"se": {"names": {"mul": "a b"}}}])


def test_shortcut_when_shapes_agree_adds_only_where_the_body_keeps_the_shape():
    g = graph([{"name": "keep", "residual": {"body": [{"name": "conv", "conv": {"out": 16, "kernel": 3}}],
                                             "shortcut": "when_shapes_agree", "after": "relu"}},
               {"name": "down", "residual": {"body": [{"name": "conv", "conv": {"out": 24, "kernel": 3,
                                                                                "stride": 2}}],
                                             "shortcut": "when_shapes_agree", "after": "relu"}}])
    ops = {name: data["op"] for name, data in g.op_nodes()}
    assert ops == {"keep.conv": "conv", "keep.add": "add", "keep.relu": "relu", "down.conv": "conv",
                   "down.relu": "relu"}
    assert g.nodes["down.relu"]["inputs"] == ["down.conv"]
