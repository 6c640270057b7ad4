"""Parameter, buffer and MAC formulas, hand-checked on small nets, and the totals of docs/zoo.md's reference table."""

from __future__ import annotations

import math

import pytest

import archc
from archc.passes.cost import summarize_graph

SMALL = """\
archc: 1
name: small
input: {shape: [3, 32, 32]}
network:
  - {name: conv, conv: {out: 16, kernel: 3, bias: false}}
  - {name: bn, bn: {}}
  - relu
  - {name: pool, maxpool: {kernel: 2}}
  - {name: grouped, conv: {out: 8, kernel: 3, groups: 4}}
  - {name: depthwise, conv: {out: 8, kernel: 3, groups: 8, stride: 2, bias: false}}
  - {name: gap, global_avgpool: {}}
  - flatten
  - {name: fc, linear: {out: 10}}
  - {name: fc_nobias, linear: {out: 4, bias: false}}
"""


def test_small_net_by_hand():
    graph = archc.build_graph(SMALL)
    node = graph.nodes
    # conv 3 -> 16, 3x3, no bias, 32x32 output
    assert node["conv"]["params"] == 16 * 3 * 3 * 3 == 432
    assert node["conv"]["macs"] == 16 * 32 * 32 * 3 * 3 * 3 == 442_368
    # BatchNorm: weight and bias are parameters; running mean and variance are buffers, counted apart
    assert (node["bn"]["params"], node["bn"]["buffers"], node["bn"]["macs"]) == (32, 32, 0)
    # grouped conv 16 -> 8 in 4 groups: each output channel sees 16 / 4 inputs; 16x16 output after the pool
    assert node["grouped"]["params"] == 8 * (16 // 4) * 9 + 8 == 296
    assert node["grouped"]["macs"] == 8 * 16 * 16 * (16 // 4) * 9 == 73_728
    # depthwise 8 -> 8, stride 2: 8x8 output
    assert node["depthwise"]["shape"] == (8, 8, 8)
    assert node["depthwise"]["params"] == 8 * 1 * 9 == 72
    assert node["depthwise"]["macs"] == 8 * 8 * 8 * 1 * 9 == 4_608
    assert (node["fc"]["params"], node["fc"]["macs"]) == (8 * 10 + 10, 8 * 10)
    assert (node["fc_nobias"]["params"], node["fc_nobias"]["macs"]) == (40, 40)
    for name in ("relu", "pool", "gap", "flatten"):
        assert (node[name]["params"], node[name]["buffers"], node[name]["macs"]) == (0, 0, 0)
    summary = archc.summarize(graph)
    assert summary.params == 432 + 32 + 296 + 72 + 90 + 40
    assert summary.buffers == 32
    assert summary.macs == 442_368 + 73_728 + 4_608 + 80 + 40
    assert summary.flops == 2 * summary.macs
    assert summary.nodes == 10
    assert summary.output_shape == (4,)


def test_connections_by_hand():
    graph = archc.build_graph("""\
archc: 1
name: connections
input: {shape: [16, 8, 8]}
network:
  - {name: se, se: {reduction: 4, divisor: 1}}
  - {name: hw, highway: {body: [{conv: {out: 16, kernel: 3, bias: false}}]}}
""")
    node = graph.nodes
    # SE: 1x1 convs with bias 16 -> 4 -> 16 on [C, 1, 1]
    assert node["se.fc1"]["params"] == 16 * 4 + 4 and node["se.fc1"]["macs"] == 16 * 4
    assert node["se.fc2"]["params"] == 4 * 16 + 16 and node["se.fc2"]["macs"] == 4 * 16
    # highway conv: H (no bias) + gate T (3x3 with bias); widths agree, so no projection
    assert node["hw.conv"]["params"] == 16 * 16 * 9
    assert node["hw.gate"]["params"] == 16 * 16 * 9 + 16
    assert "hw.proj" not in node
    assert archc.summarize(graph).params == 68 + 80 + 2304 + 2320


def test_activation_memory_counts_every_node_output():
    graph = archc.build_graph(SMALL)
    total = sum(math.prod(data["shape"]) for _, data in graph.op_nodes())
    summary = archc.summarize(graph, batch_size=8)
    assert summary.activations == total
    assert summary.activation_bytes == total * 8 * 4


@pytest.mark.parametrize(("name", "params", "macs"), [
    ("resnet18", 11_689_512, 1_814_073_344),
    ("resnet50", 25_557_032, 4_089_184_256),
    ("densenet121", 7_978_856, 2_834_161_664),
])
def test_design_reference_totals(name, params, macs):
    summary = archc.summarize(name)
    assert summary.params == params
    assert summary.macs == macs
    assert f"{summary.macs / 1e9:.3f}" == {"resnet18": "1.814", "resnet50": "4.089", "densenet121": "2.834"}[name]


def test_batchnorm_statistics_are_separate_from_parameters():
    graph = archc.build_graph("resnet18")
    bn_channels = sum(data["shape"][0] for _, data in graph.op_nodes() if data["op"] == "bn")
    assert archc.summarize(graph).buffers == 2 * bn_channels == 9_600
    assert all(data["buffers"] == 0 for _, data in graph.op_nodes() if data["op"] != "bn")


def test_grouped_rows_sum_to_the_totals():
    graph = archc.build_graph("resnet50")
    flat, grouped = summarize_graph(graph), summarize_graph(graph, depth=1)
    assert sum(row.params for row in grouped.rows) == flat.params == 25_557_032
    assert sum(row.macs for row in grouped.rows) == flat.macs
    assert [row.name for row in grouped.rows][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    assert grouped.rows[4].op == "group" and grouped.rows[4].shape == (256, 56, 56)


def test_counts_agree_with_torch():
    torch = pytest.importorskip("torch")
    from torch import nn

    reference = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                              nn.MaxPool2d(2), nn.Conv2d(16, 8, 3, padding=1, groups=4),
                              nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False),
                              nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10), nn.Linear(10, 4, bias=False))
    summary = archc.summarize(SMALL)
    assert summary.params == sum(p.numel() for p in reference.parameters())
    assert summary.buffers == sum(b.numel() for name, b in reference.named_buffers() if "running" in name)
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        reference(torch.zeros(1, 3, 32, 32))
    assert summary.macs == counter.get_total_flops() // 2
