"""The zoo against its reference implementations, and the summary's costs against torch's own counters.

Every zoo spec whose name is a torchvision classification model (resnet18 ... wide_resnet101_2, densenet121 ...) is
compared with that model, and every ``se_*`` spec with timm's ``se*`` model of the same name: same parameter count,
same state_dict keys in the same order, the reference's state dict loads with strict=True, and then both compute the
same outputs. The counterparts are discovered by name, so a spec added to the zoo is checked without editing this file.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch.build import build_graph_module, make_plan  # noqa: E402
from archc.zoo import zoo_names  # noqa: E402

#: references above this many parameters take more than ~20 s to build and compare on a small CPU
SLOW_PARAMS = 50_000_000


def counterparts() -> dict[str, Callable[[], torch.nn.Module]]:
    """zoo name -> a builder of its reference model (random weights)."""
    zoo = set(zoo_names())
    found: dict[str, Callable[[], torch.nn.Module]] = {
        name: functools.partial(torchvision.models.get_model, name, weights=None)
        for name in sorted(zoo & set(torchvision.models.list_models(module=torchvision.models)))}
    try:
        import timm
    except ImportError:
        return found
    for name in sorted(zoo):
        reference = "se" + name[len("se_"):] if name.startswith("se_") else None
        if reference and timm.is_model(reference):
            found[name] = functools.partial(timm.create_model, reference, pretrained=False)
    return found


COUNTERPARTS = counterparts()


def _param(name: str) -> object:
    slow = archc.summarize(name).params > SLOW_PARAMS
    return pytest.param(name, marks=[pytest.mark.slow] if slow else [], id=name)


def test_the_first_zoo_has_its_references():
    assert {"resnet18", "resnet50", "densenet121"} <= set(COUNTERPARTS)


# module scope: pytest then runs all tests of one model before building the next pair
@pytest.fixture(scope="module", params=[_param(name) for name in COUNTERPARTS])
def pair(request: pytest.FixtureRequest) -> tuple[str, torch.nn.Module, torch.nn.Module]:
    name = request.param
    return name, archc.load(name, seed=0), COUNTERPARTS[name]()


def test_parameter_count(pair):
    name, ours, reference = pair
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in reference.parameters())
    assert count == archc.summarize(name).params


def test_state_dict_keys_and_order(pair):
    _, ours, reference = pair
    assert list(ours.state_dict()) == list(reference.state_dict())


def test_reference_weights_load_strictly_and_outputs_agree(pair):
    _, ours, reference = pair
    ours.load_state_dict(reference.state_dict(), strict=True)
    ours.eval()
    reference.eval()
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = reference(x)
        got = ours(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max().item() <= 1e-5


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
