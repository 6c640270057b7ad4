"""Gradient flow: the norm of the loss gradient of every conv / linear weight, by depth, measured with autograd.

``measure(spec)`` builds the torch model, takes one batch (synthetic, or Fashion-MNIST read from its IDX files),
computes the cross-entropy gradient at initialisation and, with ``steps`` > 0, again after that many SGD steps.
``plot(profiles, path)`` draws one curve per network against the layer index, log y. torch and matplotlib are
imported inside the functions that need them: importing this module costs nothing.
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from archc.ir.graph import Graph
from archc.ops.registry import has_trait

FASHION_MNIST_DIRS = ["/usr/share/datasets/fashion-mnist", "~/.cache/archc/fashion-mnist"]
FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530


@dataclass
class Layer:
    """One conv / linear weight: its node, where it sits and what its gradient norm was."""

    name: str
    op: str
    role: str  # main (the path through the network), gate (highway T), shortcut (projection), se (SE fc1 / fc2)
    index: int  # depth: 1-based position among the main-path layers; a side layer shares its main layer's index
    params: int
    order: int = 0  # 1-based position among all conv / linear layers, in topological order
    grad_init: float = math.nan
    grad_trained: float = math.nan


@dataclass
class Profile:
    """The gradient norms of one network."""

    name: str
    data: str
    batch_size: int
    steps: int
    lr: float
    seed: int
    device: str
    layers: list[Layer] = field(default_factory=list)
    loss_init: float = math.nan
    loss_trained: float = math.nan
    losses: list[float] = field(default_factory=list)  # training loss at each step

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        return _finite(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Profile:
        """The inverse of ``to_dict`` (null numbers back to NaN): replot saved measurements."""
        values = {k: (math.nan if v is None else v) for k, v in data.items() if k in cls.__dataclass_fields__}
        layers = [Layer(**{k: (math.nan if v is None else v) for k, v in layer.items()})
                  for layer in data.get("layers", [])]
        return cls(**{**values, "layers": layers, "losses": list(data.get("losses") or [])})


def _finite(value: Any) -> Any:
    """JSON has no NaN: unmeasured numbers become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def role_of(graph: Graph, name: str) -> str:
    """Whether a weighted node is on the main path or a side branch (highway gate, shortcut projection, SE)."""
    data = graph.nodes[name]
    connection = data.get("connection") or {}
    if connection.get("kind") == "se":
        return "se"
    if connection.get("kind") == "highway":  # the highway's own layers: its gate, or the projection of its carry
        return "shortcut" if name.rpartition(".")[2] == "proj" else "gate"
    path = str(data.get("path") or "")
    if ".shortcut" in path:  # the items of a residual's projection shortcut (written by the user)
        return "shortcut"
    return "main"


def weighted_layers(graph: Graph) -> list[Layer]:
    """Every conv / linear node in topological order. Depth counts the main-path layers only, so a highway net's
    gates or a ResNet's projections do not stretch its curve: a side layer takes the depth of the main-path layer
    built just before it (a gate that of its transform, a projection that of its block's last conv)."""
    layers: list[Layer] = []
    depth = 0
    for name, data in graph.op_nodes():
        if has_trait(data["op"], "weighted"):
            role = role_of(graph, name)
            depth += role == "main"
            layers.append(Layer(name, data["op"], role, max(depth, 1), data["params"], order=len(layers) + 1))
    return layers


# ---- data ----------------------------------------------------------------------------------------------------------
def find_fashion_mnist(data_dir: str | None = None) -> Path | None:
    for folder in [data_dir] if data_dir else FASHION_MNIST_DIRS:
        path = Path(folder).expanduser()
        if (path / "train-images-idx3-ubyte.gz").is_file() or (path / "train-images-idx3-ubyte").is_file():
            return path
    return None


def read_idx_head(path: Path, count: int) -> tuple[list[int], bytes]:
    """The dimensions of an IDX file (uint8 data) and the bytes of its first ``count`` items."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as stream:
        header = stream.read(4)
        if len(header) != 4 or header[:2] != b"\0\0" or header[2] != 0x08:
            raise ValueError(f"{path}: not an IDX file of unsigned bytes")
        dims = [int.from_bytes(stream.read(4), "big") for _ in range(header[3])]
        item = math.prod(dims[1:])
        count = min(count, dims[0])
        data = stream.read(count * item)
    return [count, *dims[1:]], data


def _idx(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder / stem}(.gz) not found")


def batch_for(graph: Graph, batch_size: int, data: str = "synthetic", seed: int = 0, offset: int = 0,
              data_dir: str | None = None) -> tuple[Any, Any]:
    """(inputs, labels) shaped for ``graph``: standard-normal noise and random labels, or Fashion-MNIST images
    (normalised, padded or resized to the spec's height and width, repeated over its channels; flattened for a
    [784] input) starting at image ``offset``."""
    import torch

    shape = tuple(graph.nodes[graph.input_node]["shape"])
    classes = graph.nodes[graph.output_node]["shape"][0]
    generator = torch.Generator().manual_seed(seed + offset)
    if data == "synthetic":
        return torch.randn(batch_size, *shape, generator=generator), torch.randint(0, classes, (batch_size,),
                                                                                      generator=generator)
    if data != "fashion-mnist":
        raise ValueError(f"unknown data '{data}': synthetic or fashion-mnist")
    folder = find_fashion_mnist(data_dir)
    if folder is None:
        raise FileNotFoundError("Fashion-MNIST IDX files not found in " + ", ".join(FASHION_MNIST_DIRS)
                                + " (Debian: apt install dataset-fashion-mnist)")
    dims, pixels = read_idx_head(_idx(folder, "train-images-idx3-ubyte"), offset + batch_size)
    _, labels = read_idx_head(_idx(folder, "train-labels-idx1-ubyte"), offset + batch_size)
    images = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(dims[0], 1, dims[1], dims[2])
    x = (images[offset:offset + batch_size].float() / 255 - FASHION_MNIST_MEAN) / FASHION_MNIST_STD
    y = torch.tensor(list(labels[offset:offset + batch_size]), dtype=torch.long) % classes
    return _fit_input(x, shape), y


def _fit_input(x: Any, shape: tuple[int, ...]) -> Any:
    import torch.nn.functional as functional

    if len(shape) == 1:
        flat = x.flatten(1)
        if flat.shape[1] != shape[0]:
            raise ValueError(f"Fashion-MNIST images have {flat.shape[1]} pixels; the spec's input is {list(shape)}")
        return flat
    channels, height, width = shape
    if (height, width) != tuple(x.shape[2:]):
        pad_h, pad_w = height - x.shape[2], width - x.shape[3]
        if pad_h >= 0 and pad_w >= 0:  # 28 -> 32: zero-pad (the mean after normalisation), as CIFAR nets expect
            x = functional.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        else:
            x = functional.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    return x.repeat(1, channels, 1, 1) if channels != 1 else x


# ---- measuring ------------------------------------------------------------------------------------------------------
def gradient_norms(model: Any, layers: list[Layer], x: Any, y: Any) -> tuple[float, list[float]]:
    """(loss, ‖∂loss/∂W‖₂ for each layer's weight), one forward and backward pass in training mode."""
    import torch
    import torch.nn.functional as functional

    parameters = dict(model.named_parameters())
    weights = [parameters[f"{layer.name}.weight"] for layer in layers]
    model.train()
    loss = functional.cross_entropy(model(x), y)
    grads = torch.autograd.grad(loss, weights)
    return float(loss.detach()), [float(g.double().norm()) for g in grads]


def measure(graph: Graph, steps: int = 0, batch_size: int = 64, data: str = "synthetic", lr: float = 0.01,
            momentum: float = 0.9, seed: int = 0, device: str | None = None, data_dir: str | None = None,
            progress: Callable[[str], None] | None = None) -> Profile:
    """Gradient norms of ``graph``'s conv / linear weights at initialisation and after ``steps`` SGD steps.

    The norms are taken on one fixed batch. Training uses that batch again (synthetic data) or the next Fashion-MNIST
    batches; SGD with momentum, no weight decay, cross-entropy on the network's logits. ``progress`` receives a
    line now and then (the CLI prints them to stderr).
    """
    import torch

    from archc.api import lower

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    model = lower(graph, "torch", seed).to(device)  # the limits are checked first (archc/passes/limits.py)
    layers = weighted_layers(graph)
    profile = Profile(graph.graph.get("name", ""), data, batch_size, steps, lr, seed, device, layers)
    x, y = (t.to(device) for t in batch_for(graph, batch_size, data, seed, 0, data_dir))
    profile.loss_init, norms = gradient_norms(model, layers, x, y)
    for layer, norm in zip(layers, norms):
        layer.grad_init = norm
    if steps <= 0:
        return profile
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    model.train()
    for step in range(steps):
        if data == "synthetic":
            bx, by = x, y
        else:
            bx, by = (t.to(device) for t in batch_for(graph, batch_size, data, seed, (step + 1) * batch_size,
                                                      data_dir))
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(bx), by)
        loss.backward()
        optimizer.step()
        profile.losses.append(float(loss.detach()))
        if progress and (step + 1) % max(1, steps // 10) == 0:
            progress(f"{profile.name}: step {step + 1}/{steps}, loss {profile.losses[-1]:.4g}")
    profile.loss_trained, norms = gradient_norms(model, layers, x, y)
    for layer, norm in zip(layers, norms):
        layer.grad_trained = norm
    return profile


# ---- plotting -------------------------------------------------------------------------------------------------------
ROLE_MARKERS = {"gate": "^", "shortcut": "s", "se": "D"}


def plot(profiles: list[Profile], path: str | Path, title: str | None = None) -> None:
    """One panel at initialisation (and one after training where measured), one curve per network, log y.

    Main-path layers are joined by a line; side branches (highway gates, shortcut projections, SE) are unjoined
    markers of the same colour.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    trained = any(p.steps > 0 for p in profiles)
    panels = [("grad_init", "at initialisation")]
    if trained:
        steps = sorted({p.steps for p in profiles if p.steps > 0})
        panels.append(("grad_trained", f"after {', '.join(map(str, steps))} SGD step{'s' if steps != [1] else ''}"))
    figure, axes = plt.subplots(1, len(panels), figsize=(6.4 * len(panels), 4.6), sharey=True, squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for axis, (key, panel_title) in zip(axes[0], panels):
        for number, profile in enumerate(profiles):
            color = colors[number % len(colors)]
            main = [layer for layer in profile.layers if layer.role == "main"]
            loss = profile.loss_init if key == "grad_init" else profile.loss_trained
            axis.plot([layer.index for layer in main], [getattr(layer, key) for layer in main], "-o", color=color,
                      markersize=2.5, linewidth=1.3, label=f"{profile.name} (loss {loss:.3g})")
            for role, marker in ROLE_MARKERS.items():
                side = [layer for layer in profile.layers if layer.role == role]
                if side:
                    axis.plot([layer.index for layer in side], [getattr(layer, key) for layer in side], marker,
                              color=color, markersize=3.5, alpha=0.55, linestyle="none")
        axis.set_yscale("log")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_xlabel("depth: main-path conv / linear layer, input to output")
        axis.set_title(panel_title)
        axis.grid(True, which="both", alpha=0.25)
        axis.legend(fontsize=8)
    axes[0][0].set_ylabel("‖∂loss/∂W‖₂")
    sides = sorted({layer.role for p in profiles for layer in p.layers} - {"main"})
    note = (" · markers: " + ", ".join(f"{ROLE_MARKERS[r]} {r}" for r in sides)) if sides else ""
    first = profiles[0]
    figure.suptitle(title or f"gradient norm per layer · {first.data} batch of {first.batch_size}{note}", fontsize=10)
    figure.tight_layout()
    from archc.train.rundir import atomic_path

    with atomic_path(Path(path)) as tmp:  # no half-written plot under its name
        figure.savefig(str(tmp), dpi=130)
    plt.close(figure)
