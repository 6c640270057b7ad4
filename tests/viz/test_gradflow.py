"""``archc gradflow``: the gradient norms it reports are those autograd gives for the same weights and batch."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import archc
from archc.cli import main

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from archc.viz.gradflow import batch_for, find_fashion_mnist, measure, weighted_layers  # noqa: E402

SPECS = Path(__file__).parent / "specs"
MLP = SPECS / "mlp_small.yaml"
CONVNET = SPECS / "convnet_small.yaml"


def hand_written_mlp(graph) -> nn.Sequential:
    """The mlp_small spec written out in torch, holding the weights archc initialises with seed 3."""
    reference = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 12), nn.Tanh(), nn.Linear(12, 5))
    compiled = archc.load(MLP, seed=3)
    with torch.no_grad():
        for index, name in ((0, "fc1"), (2, "fc2"), (4, "fc3")):
            reference[index].weight.copy_(compiled.get_parameter(f"{name}.weight"))
            reference[index].bias.copy_(compiled.get_parameter(f"{name}.bias"))
    return reference


def synthetic_batch(size: int, seed: int, classes: int, features: int):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(size, features, generator=generator), torch.randint(0, classes, (size,), generator=generator)


def test_norms_at_init_equal_a_direct_autograd_computation():
    graph = archc.build_graph(MLP)
    profile = measure(graph, batch_size=8, seed=3, device="cpu")
    reference = hand_written_mlp(graph)
    x, y = synthetic_batch(8, 3, 5, 20)
    loss = nn.functional.cross_entropy(reference(x), y)
    loss.backward()
    expected = [float(reference[i].weight.grad.norm()) for i in (0, 2, 4)]
    assert [layer.name for layer in profile.layers] == ["fc1", "fc2", "fc3"]
    assert [layer.index for layer in profile.layers] == [1, 2, 3]
    assert [layer.grad_init for layer in profile.layers] == pytest.approx(expected, rel=1e-5)
    assert profile.loss_init == pytest.approx(loss.item(), rel=1e-6)


def test_norms_after_training_equal_a_direct_sgd_loop():
    graph = archc.build_graph(MLP)
    profile = measure(graph, steps=3, batch_size=8, lr=0.05, seed=3, device="cpu")
    reference = hand_written_mlp(graph)
    x, y = synthetic_batch(8, 3, 5, 20)
    optimizer = torch.optim.SGD(reference.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(reference(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    optimizer.zero_grad()
    nn.functional.cross_entropy(reference(x), y).backward()
    expected = [float(reference[i].weight.grad.norm()) for i in (0, 2, 4)]
    assert profile.losses == pytest.approx(losses, rel=1e-5)
    assert [layer.grad_trained for layer in profile.layers] == pytest.approx(expected, rel=1e-4)
    assert profile.losses[-1] < profile.losses[0]


def test_conv_net_norms_equal_backward_on_the_compiled_model():
    graph = archc.build_graph(CONVNET)
    profile = measure(graph, batch_size=6, seed=1, device="cpu")
    model = archc.load(CONVNET, seed=1)
    model.train()
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(6, 3, 12, 12, generator=generator)
    y = torch.randint(0, 4, (6,), generator=generator)
    nn.functional.cross_entropy(model(x), y).backward()
    names = ["stem", "block.conv1", "block.conv2", "block.down.0", "fc"]
    assert [layer.name for layer in profile.layers] == names
    assert [layer.role for layer in profile.layers] == ["main", "main", "main", "shortcut", "main"]
    expected = [float(model.get_parameter(f"{name}.weight").grad.norm()) for name in names]
    assert [layer.grad_init for layer in profile.layers] == pytest.approx(expected, rel=1e-5)


def test_roles_and_depth_of_side_branches():
    layers = {layer.name: layer for layer in weighted_layers(archc.build_graph(SPECS / "highway_small.yaml"))}
    assert layers["hw1.gate"].role == "gate" and layers["hw1.conv"].role == "main"
    assert layers["se.fc1"].role == "se" and layers["fc"].role == "main"
    # depth counts the main path: stem 1, hw0.conv 2, hw1.conv 3 ...; a gate sits at its transform's depth
    assert layers["hw1.conv"].index == layers["hw1.gate"].index == 3
    assert layers["se.fc2"].index == 4 and layers["fc"].index == 5 and layers["fc"].order == len(layers) == 10


@pytest.mark.skipif(find_fashion_mnist() is None, reason="Fashion-MNIST IDX files are not installed "
                    "(/usr/share/datasets/fashion-mnist)")
def test_fashion_mnist_batch_is_read_from_the_idx_files():
    graph = archc.build_graph("resnet20")
    x, y = batch_for(graph, 4, "fashion-mnist", offset=2)
    assert x.shape == (4, 3, 32, 32) and y.shape == (4,)
    folder = find_fashion_mnist()
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as images, gzip.open(folder / "train-labels-idx1-ubyte.gz") \
            as labels:
        pixels = images.read()[16:]
        expected_labels = list(labels.read()[8 + 2:8 + 6])
    assert y.tolist() == expected_labels
    third = torch.tensor(list(pixels[2 * 784:3 * 784]), dtype=torch.float32).reshape(28, 28)
    restored = x[0, 1, 2:30, 2:30] * 0.3530 + 0.2860  # channel 1 of the first image, inside the 2-pixel padding
    assert torch.allclose(restored * 255, third, atol=1e-3)
    assert torch.allclose(x[0, 0], x[0, 2])
    assert batch_for(archc.build_graph("highway_fc"), 2, "fashion-mnist")[0].shape == (2, 1, 28, 28)
    flat_spec = {"archc": 1, "name": "flat", "input": {"shape": [784]}, "network": [{"linear": {"out": 10}}]}
    flat, _ = batch_for(archc.build_graph(flat_spec), 2, "fashion-mnist")
    first = torch.tensor(list(pixels[:784]), dtype=torch.float32)
    assert flat.shape == (2, 784) and torch.allclose(flat[0], (first / 255 - 0.2860) / 0.3530, atol=1e-5)


def test_cli_writes_the_plot_and_json(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "flow.png"
    assert main(["gradflow", str(MLP), str(CONVNET), "-o", str(out), "--steps", "2", "--device", "cpu"]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "mlp_small: 3 weighted layers" in printed and "convnet_small: 5 weighted layers" in printed
    assert main(["gradflow", str(MLP), "-o", str(out), "--device", "cpu"]) == 2  # exists, no --force
    assert main(["gradflow", str(MLP), "--json", "--device", "cpu", "--seed", "3", "--batch-size", "8"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["name"] == "mlp_small" and data[0]["steps"] == 0
    assert data[0]["layers"][0]["grad_trained"] is None  # not measured: null, not NaN
    direct = measure(archc.build_graph(MLP), batch_size=8, seed=3, device="cpu")
    assert [layer["grad_init"] for layer in data[0]["layers"]] == pytest.approx(
        [layer.grad_init for layer in direct.layers], rel=1e-6)


def test_cli_replots_saved_measurements(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    saved = tmp_path / "flow.json"
    assert main(["gradflow", str(MLP), "--json", "--device", "cpu", "--steps", "1"]) == 0
    saved.write_text(capsys.readouterr().out)
    out = tmp_path / "again.svg"
    assert main(["gradflow", "--from-json", str(saved), "-o", str(out)]) == 0
    assert "<svg" in out.read_text()
    assert main(["gradflow", "--from-json", str(MLP), "-o", str(tmp_path / "x.png")]) == 2  # not JSON
    assert main(["gradflow", "-o", str(tmp_path / "y.png")]) == 2  # nothing to plot


def test_cli_bad_spec_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("archc: 1\nname: bad\ninput: {shape: [4]}\nnetwork: [{linear: {out: -3}}]\n")
    assert main(["gradflow", str(bad), "-o", str(tmp_path / "g.png")]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert main(["gradflow", str(MLP), "-o", str(tmp_path / "g.gif")]) == 2
