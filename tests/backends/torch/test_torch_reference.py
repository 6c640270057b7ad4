"""The torch backend runs what torchvision runs (the same aten kernels), and the summary's costs equal torch's own
counters. Counts, strict loads and outputs against the references are tests/zoo/test_references.py.
"""

from __future__ import annotations

import collections

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch.build import build_graph_module, make_plan  # noqa: E402
from archc.zoo import zoo_names  # noqa: E402


class _AtenLog(TorchDispatchMode):
    """Records the aten ops a forward (and backward) runs."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("name", ["resnet18", "resnet50", pytest.param("densenet121", marks=pytest.mark.slow)])
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_same_kernels_as_torchvision(name, train):
    """The archc model runs torchvision's aten ops, in the same order: no extra copies, casts or allocations.

    The one difference: torchvision's first dense layer concatenates a single tensor (a copy archc leaves out).
    """
    reference = torchvision.models.get_model(name, weights=None).train(train)
    ours = archc.load(name, seed=0).train(train)
    logs = []
    for model in (ours, reference):
        x = torch.randn(2, 3, 32, 32)
        with _AtenLog() as log, torch.set_grad_enabled(train):
            output = model(x)
            if train:
                output.sum().backward()
        logs.append(log.ops)
    if name.startswith("densenet"):  # drop torchvision's torch.cat([x], 1) (and its backward slice) per block
        extra = collections.Counter(logs[1]) - collections.Counter(logs[0])
        assert extra == collections.Counter({"cat": 4} if not train else {"cat": 4, "slice": 4})
        return
    assert logs[0] == logs[1]


def _slow_to_count(name: str) -> object:
    # the flop counter hooks every module: the 1000-layer CIFAR nets take over 20 s on a small CPU
    slow = len(archc.build_graph(name)) > 2000
    return pytest.param(name, marks=[pytest.mark.slow] if slow else [], id=name)


@pytest.mark.parametrize("name", [_slow_to_count(name) for name in zoo_names()])
def test_summary_totals_equal_the_model(name):
    graph = archc.build_graph(name)
    # the archc model with its weights on the meta device: FlopCounterMode counts from shapes, so the spec's real
    # input size costs nothing to run, even for the largest zoo nets at 224 x 224
    model = build_graph_module(make_plan(graph, device="meta")).eval()
    x = torch.empty(1, *graph.nodes[graph.input_node]["shape"], device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    summary = archc.summarize(graph)
    assert summary.macs == counter.get_total_flops() // 2
    assert counter.get_total_flops() % 2 == 0
    assert summary.params == sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for key, b in model.named_buffers() if not key.endswith("num_batches_tracked"))
    assert summary.buffers == running
