"""The IR contract of docs/architecture.md, determinism, and the `archc render` round trip."""

from __future__ import annotations

import networkx as nx
import pytest
import yaml

import archc
from archc.ops.registry import OPS, OpSpec
from archc.render import render_graph
from archc.zoo import zoo_names

NODE_KEYS = {"op", "attrs", "inputs", "shape", "params", "buffers", "macs", "pos", "path", "auto_name", "error",
             "connection"}


def fingerprint(graph: archc.Graph) -> list[tuple]:
    return [(name, data["op"], data["attrs"], data["shape"], tuple(data["inputs"]), data["params"], data["buffers"],
             data["macs"]) for name, data in graph.op_nodes()]


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "se_resnet50", "highway_cifar", "resnet20"])
def test_ir_contract(name):
    graph = archc.build_graph(name)
    assert isinstance(graph, nx.DiGraph) and graph.graph["name"] == name
    assert graph.nodes[graph.input_node]["op"] == "input"
    assert graph.output_node in graph and graph.output_node != graph.input_node
    assert nx.is_directed_acyclic_graph(graph)
    order = graph.order()
    assert order[0] == graph.input_node and order[-1] == graph.output_node
    position = {node: index for index, node in enumerate(order)}
    for node, data in graph.op_nodes():
        assert set(data) >= NODE_KEYS
        assert data["op"] in OPS and isinstance(data["attrs"], OpSpec) and data["error"] is None
        assert isinstance(data["shape"], tuple) and all(isinstance(v, int) and v > 0 for v in data["shape"])
        assert data["pos"] is not None and data["pos"].line >= 1
        assert all(position[source] < position[node] for source in data["inputs"])  # topological
        assert {source for source, _ in graph.in_edges(node)} == set(data["inputs"])
        for port, source in enumerate(data["inputs"]):
            assert graph.edges[source, node]["port"] == data["inputs"].index(source) <= port
    assert nx.descendants(graph, graph.input_node) >= {graph.output_node}


def test_the_draft_and_the_networkx_graph_hold_the_same_ir():
    """archc validate / summary read the networkx-free draft; build_graph adopts the same dicts as a DiGraph whose
    networkx views and algorithms see every node and edge, and which networkx can still change."""
    from archc.api import draft_graph
    from archc.ir.draft import GraphDraft

    draft, graph = draft_graph("densenet121"), archc.build_graph("densenet121")
    assert isinstance(draft, GraphDraft) and not isinstance(draft, nx.DiGraph)
    assert fingerprint(draft) == fingerprint(graph) and draft.order() == graph.order() and len(draft) == len(graph)
    totals = (7_978_856, 2_834_161_664)  # tests/zoo/test_counts.py (torchvision's count: 2.834 G)
    assert (draft.num_params, draft.num_macs) == (graph.num_params, graph.num_macs) == totals
    edges = {(source, target, data["port"]) for source, out in draft._succ.items() for target, data in out.items()}
    assert edges == {(source, target, data["port"]) for source, target, data in graph.edges(data=True)}
    assert list(nx.topological_sort(graph))[-1] == graph.output_node
    assert graph.in_degree(graph.output_node) == 1 and graph.out_degree(graph.input_node) == 1
    assert archc.summarize(draft).totals() == archc.summarize(graph).totals()
    graph.add_edge(graph.input_node, graph.output_node)  # the adopted dicts stay networkx's own to change
    assert graph.in_degree(graph.output_node) == 2 and graph.has_edge(graph.input_node, graph.output_node)


def test_conv_attributes_as_documented():
    attrs = archc.build_graph("resnet18").nodes["layer2.0.conv1"]["attrs"]
    assert (attrs.out, attrs.kernel_hw, attrs.stride_hw, attrs.padding_hw, attrs.dilation_hw) == (
        128, (3, 3), (2, 2), (1, 1), (1, 1))
    assert (attrs.groups, attrs.bias, attrs.init, attrs.bias_init) == (1, False, "kaiming_normal_fan_out",
                                                                       "torch_default")
    bn = archc.build_graph("densenet121").nodes["features.norm0"]["attrs"]
    assert (bn.eps, bn.momentum, bn.gamma_init, bn.beta_init) == (1e-5, 0.1, 1.0, 0.0)


def test_positions_point_at_the_yaml_that_produced_the_node():
    graph = archc.build_graph("resnet18")
    pos = graph.nodes["layer3.1.conv2"]["pos"]
    assert pos.file.endswith("resnet18.yaml") and "conv2" in pos.line_text
    assert graph.nodes["layer3.1.conv2"]["path"].startswith("blocks.basic.body[0].residual.body[")


def test_determinism():
    first, second = archc.build_graph("densenet121"), archc.build_graph("densenet121")
    assert fingerprint(first) == fingerprint(second)
    assert list(first.edges(data=True)) == list(second.edges(data=True))
    assert archc.summarize(first) == archc.summarize(second)


def test_a_failing_spec_still_gives_its_graph_when_not_strict():
    graph = archc.build_graph("archc: 1\nname: t\ninput: {shape: [3, 8, 8]}\nnetwork:\n"
                              "  - {name: a, conv: {out: -1, kernel: 3}}\n  - {name: b, relu: {}}\n", strict=False)
    assert len(graph.diagnostics) == 1
    assert graph.nodes["a"]["error"] == "expected a positive integer, got -1" and graph.nodes["a"]["attrs"] is None
    assert graph.nodes["b"]["shape"] is None and graph.output_node == "b"


def roundtrip(graph: archc.Graph, through_text: bool) -> archc.Graph:
    data = render_graph(graph)
    source = yaml.safe_dump(data, sort_keys=False) if through_text else data
    return archc.build_graph(source)


@pytest.mark.parametrize("name", zoo_names())
def test_render_round_trip_over_the_zoo(name):
    graph = archc.build_graph(name)
    again = roundtrip(graph, through_text=False)
    assert fingerprint(again) == fingerprint(graph)
    assert again.input_node == graph.input_node and again.output_node == graph.output_node


@pytest.mark.parametrize("name", ["resnet20", "se_resnet18", "highway_fc10", "densenet_bc_100_12"])
def test_render_round_trip_through_yaml_text(name):
    graph = archc.build_graph(name)
    assert fingerprint(roundtrip(graph, through_text=True)) == fingerprint(graph)
