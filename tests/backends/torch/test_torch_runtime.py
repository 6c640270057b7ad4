"""The generated model under torch's runtime features: compile, channels_last, autocast, export, jit, DataParallel."""

from __future__ import annotations

import copy
import pickle

import pytest

torch = pytest.importorskip("torch")

from torch_backend_helpers import run_without_archc  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch import build_model, save  # noqa: E402

#: resnet18's spec at a quarter of the width and one block per stage: every op of the full net, cheap to run
SMALL = {"layers": [1, 1, 1, 1], "width": 16, "num_classes": 10}


@pytest.fixture(scope="module")
def graph() -> archc.Graph:
    return archc.build_graph("resnet18", **SMALL)


@pytest.fixture()
def model(graph) -> torch.nn.Module:
    return build_model(graph, seed=0)


def _x(batch: int = 2, size: int = 32) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))


def test_forward_holds_no_state(model):
    model.eval()
    x = _x()
    with torch.no_grad():
        first = model(x)
        assert torch.equal(first, model(x))
        assert torch.equal(first, copy.deepcopy(model)(x))
        assert torch.equal(first, pickle.loads(pickle.dumps(model))(x))


def test_train_step(model):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.conv1.weight.detach().clone()
    loss = torch.nn.functional.cross_entropy(model(_x(4)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.conv1.weight)
    assert int(model.bn1.num_batches_tracked) == 1


def test_to_cpu_and_float64(model):
    model.eval()
    assert model.to("cpu") is model
    x = _x()
    with torch.no_grad():
        expected = model(x)
        torch.testing.assert_close(model.to(torch.float64)(x.double()).float(), expected, rtol=1e-4, atol=1e-5)


def test_channels_last(model):
    model.eval()
    x = _x()
    with torch.no_grad():
        expected = model(x)
        model = model.to(memory_format=torch.channels_last)
        assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
        got = model(x.to(memory_format=torch.channels_last))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)
    model.train()
    model(x.to(memory_format=torch.channels_last)).sum().backward()


def test_bf16_autocast_on_cpu(model):
    x = _x()
    with torch.no_grad():
        expected = model.eval()(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with torch.no_grad():
            got = model(x)
        model.train()
        loss = model(x).float().sum()
    loss.backward()
    assert got.dtype == torch.bfloat16 and model.conv1.weight.grad.dtype == torch.float32
    torch.testing.assert_close(got.float(), expected, rtol=0.1, atol=0.1)


@pytest.mark.filterwarnings("ignore:`torch.jit.trace.*` is deprecated:FutureWarning")
def test_jit_trace(model):
    model.eval()
    x = _x()
    with torch.no_grad():
        traced = torch.jit.trace(model, x)
        other = _x(3)
        torch.testing.assert_close(traced(other), model(other))


def test_data_parallel_on_cpu(model):
    model.eval()
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(torch.nn.DataParallel(model)(x), model(x))


@pytest.mark.slow
def test_torch_compile(model):
    model.eval()
    compiled = torch.compile(model)
    x = _x(1)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_export_has_a_dynamic_batch_and_loads_without_archc(graph, model, tmp_path):
    """save() writes a torch.export program; a Python where archc cannot be imported loads it and runs batch 1 and 3."""
    model.eval()
    path = tmp_path / "model.pt2"
    save(model, graph, path)
    assert model.training is False
    inputs = {batch: torch.randn(batch, 3, 224, 224) for batch in (1, 3)}
    torch.save(inputs, tmp_path / "inputs.pt")
    result = run_without_archc(
        "import torch\n"
        "program = torch.export.load('model.pt2')\n"
        "inputs = torch.load('inputs.pt')\n"
        "with torch.no_grad():\n"
        "    outputs = {batch: program.module()(x) for batch, x in inputs.items()}\n"
        "torch.save(outputs, 'outputs.pt')\n", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = torch.load(tmp_path / "outputs.pt")
    with torch.no_grad():
        for batch, x in inputs.items():
            assert outputs[batch].shape == (batch, 10)
            torch.testing.assert_close(outputs[batch], model(x), rtol=1e-4, atol=1e-5)


def test_save_exports_in_eval_mode_and_restores_training(graph, model, tmp_path):
    assert model.training
    save(model, graph, tmp_path / "model.pt2")
    assert model.training
    program = torch.export.load(tmp_path / "model.pt2")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model.eval()(x), rtol=1e-4, atol=1e-5)
