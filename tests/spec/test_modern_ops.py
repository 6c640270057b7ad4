"""The ops of the modern residual families in the core: shapes as torch computes them, located errors."""

from __future__ import annotations

import pytest

import archc
from archc.errors import SpecError


def net(network: list, shape: list[int] | None = None) -> dict:
    return {"archc": 1, "name": "t", "input": {"shape": shape or [8, 9, 9]}, "network": network}


def shapes(network: list, shape: list[int] | None = None) -> dict[str, tuple[int, ...]]:
    graph = archc.build_graph(net(network, shape))
    return {name: data["shape"] for name, data in graph.op_nodes()}


def errors(network: list, shape: list[int] | None = None) -> str:
    with pytest.raises(SpecError) as caught:
        archc.build_graph(net(network, shape))
    return str(caught.value)


def test_ceil_mode_keeps_the_partial_window_unless_it_starts_in_the_padding():
    found = shapes([{"name": "floor", "maxpool": {"kernel": 3, "stride": 2}},
                    {"name": "ceil", "maxpool": {"kernel": 3, "stride": 2, "ceil_mode": True}, "from": "input"},
                    {"name": "pad", "maxpool": {"kernel": 2, "stride": 2, "padding": 1, "ceil_mode": True},
                     "from": "input"},
                    {"name": "avg", "avgpool": {"kernel": 2, "ceil_mode": True, "count_include_pad": False},
                     "from": "input"}], [8, 10, 10])
    # 10: floor((10 - 3) / 2) + 1 = 4; ceil: 5. padding 1: ceil(10 / 2) + 1 = 6 starts in the padding -> 6 - 1
    assert found == {"floor": (8, 4, 4), "ceil": (8, 5, 5), "pad": (8, 6, 6), "avg": (8, 5, 5)}


def test_adaptive_pools_give_the_size_asked():
    found = shapes([{"name": "a", "adaptive_avgpool": {"size": [7, 7]}},
                    {"name": "m", "adaptive_maxpool": {"size": [2, 3]}, "from": "input"}], [8, 1, 1])
    assert found == {"a": (8, 7, 7), "m": (8, 2, 3)}


def test_channel_ops_shapes():
    found = shapes([{"name": "mean", "channel_mean": {}}, {"name": "max", "channel_max": {}, "from": "input"},
                    {"name": "maps", "concat": {}, "from": ["mean", "max"]},
                    {"name": "gated", "mul": {}, "from": ["input", "mean"]},
                    {"name": "shuffle", "channel_shuffle": {"groups": 4}, "from": "input"}])
    assert found == {"mean": (1, 9, 9), "max": (1, 9, 9), "maps": (2, 9, 9), "gated": (8, 9, 9),
                     "shuffle": (8, 9, 9)}


def test_split_names_its_parts_by_number_and_the_last_flows_on():
    graph = archc.build_graph(net([{"split": {"chunks": 4}}, {"name": "after", "identity": {}},
                                   {"name": "parts", "split": {}, "from": "split.0"},
                                   {"name": "cat", "concat": {}, "from": ["parts.1", "split.2", "parts.0"]}]))
    assert [n for n, d in graph.op_nodes() if d["op"] == "chunk"] == \
        ["split.0", "split.1", "split.2", "split.3", "parts.0", "parts.1"]
    assert graph.nodes["after"]["inputs"] == ["split.3"]
    assert graph.nodes["cat"]["shape"] == (4, 9, 9)
    assert graph.nodes["split.2"]["connection"] == {"kind": "split", "name": "split"}
    assert graph.nodes["split.2"]["attrs"].bounds(8) == (4, 6)


def test_split_and_shuffle_errors_are_located():
    text = errors([{"split": {"chunks": 3}}])
    assert "network[0].split" in text and "cannot cut 8 channels into 3 equal parts" in text
    assert "channel_shuffle with groups=3 needs channels divisible by 3, got 8" in errors([{"channel_shuffle":
                                                                                             {"groups": 3}}])
    assert "index (2) must be less than chunks (2)" in errors([{"chunk": {"index": 2}}])


def test_drop_path_rate_is_an_expression_of_the_block_index():
    graph = archc.build_graph(net([{"repeat": 3, "as": "i", "name": "b${i}",
                                    "body": [{"name": "dp", "drop_path": {"rate": "${0.2 * i / 2}"}}]}]))
    assert [graph.nodes[f"b{i}.dp"]["attrs"].rate for i in range(3)] == [0.0, 0.1, 0.2]
    assert "rate" in errors([{"drop_path": {"rate": 1.0}}])


def test_se_squeeze_width_and_gate():
    graph = archc.build_graph(net([{"name": "se", "se": {"squeeze": 3, "activation": "hardswish",
                                                          "gate": "hardsigmoid"}}]))
    ops = {name: data["op"] for name, data in graph.op_nodes()}
    assert graph.nodes["se.fc1"]["shape"] == (3, 1, 1)
    assert "hardswish" in ops.values() and "hardsigmoid" in ops.values()
    assert "give the bottleneck width once" in errors([{"se": {"squeeze": 3, "channels": 4}}])
