"""The specs of the tutorial docs/variants.md build, cost what the tutorial says, and run.

Parameter counts are derived here from the layer formulas (conv: C_in * C_out * k * k [+ C_out]; BN: 2 C;
linear: F_in * F_out + F_out; SE: two 1x1 convs with bias), independently of archc's cost pass. The torch checks
build each model with ``archc.load`` and run a forward pass on a small batch; the Keras check trains the corrected
original example for one step with Adam and categorical cross-entropy, as the tutorial shows.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import archc
from archc.diff import AttrChange, diff_graphs, grouped

ROOT = Path(__file__).resolve().parents[2]
VARIANTS = ROOT / "docs" / "variants"
DOC = ROOT / "docs" / "variants.md"


# ---- layer formulas ---------------------------------------------------------------------------------------------

def conv(c_in: int, c_out: int, kernel: int, bias: bool = False) -> int:
    return c_in * c_out * kernel * kernel + (c_out if bias else 0)


def bn(channels: int) -> int:
    return 2 * channels  # gamma and beta; the running statistics are buffers


def linear(f_in: int, f_out: int) -> int:
    return f_in * f_out + f_out


def se(channels: int) -> int:
    hidden = max(8, int(channels / 16 + 4) // 8 * 8)  # timm's make_divisible(C / 16, 8)
    return conv(channels, hidden, 1, bias=True) + conv(hidden, channels, 1, bias=True)


def highway_gate(channels: int, kernel: int = 3) -> int:
    return conv(channels, channels, kernel, bias=True)


# ---- the networks, by hand --------------------------------------------------------------------------------------

def resnet50_params(se_stages: tuple[int, ...] = (), num_classes: int = 1000) -> int:
    total = conv(3, 64, 7) + bn(64)
    c_in = 64
    for stage, blocks in enumerate([3, 4, 6, 3]):
        planes = 64 * 2**stage
        for block in range(blocks):
            total += conv(c_in, planes, 1) + bn(planes) + conv(planes, planes, 3) + bn(planes)
            total += conv(planes, 4 * planes, 1) + bn(4 * planes)
            if block == 0:  # the downsample projection: the width (and from layer2 on the size) changes
                total += conv(c_in, 4 * planes, 1) + bn(4 * planes)
            if stage in se_stages:
                total += se(4 * planes)
            c_in = 4 * planes
    return total + linear(2048, num_classes)


def densenet_bc_highway_params(growth: int = 12, layers: int = 6, blocks: int = 3, in_channels: int = 1,
                               num_classes: int = 10) -> int:
    channels = 2 * growth
    total = conv(in_channels, channels, 3)
    for block in range(blocks):
        for _ in range(layers):  # BN-ReLU-1x1 conv (4k), BN-ReLU-3x3 conv (k)
            total += bn(channels) + conv(channels, 4 * growth, 1) + bn(4 * growth) + conv(4 * growth, growth, 3)
            channels += growth
        if block < blocks - 1:  # transition (BN-ReLU-1x1 conv, compression 0.5, pool) + highway layer
            out = channels // 2
            total += bn(channels) + conv(channels, out, 1)
            total += bn(out) + conv(out, out, 3) + highway_gate(out)
            channels = out
    return total + bn(channels) + linear(channels, num_classes)


def fashion_hybrid_params(carry: str = "highway", widths: tuple[int, ...] = (16, 32, 64), blocks: int = 3) -> int:
    total = conv(1, widths[0], 3) + bn(widths[0])
    c_in = widths[0]
    for width in widths:
        for _ in range(blocks):
            total += conv(c_in, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
            if c_in == width and carry == "highway":  # shape kept: a highway layer gates the block
                total += highway_gate(width)
            c_in = width  # option-A shortcuts where the shape changes have no parameters
    return total + linear(widths[-1], 10)


def example_residual_params(num_classes: int = 1000) -> int:
    total, c_in = 0, 3
    for width in (64, 64, 128, 128, 256, 256):
        total += conv(c_in, width, 3) + bn(width) + conv(width, width, 3) + bn(width)
        if c_in != width:  # projection shortcut: 1x1 conv + BN, computed from the block input
            total += conv(c_in, width, 1) + bn(width)
        c_in = width
    return total + linear(256, num_classes)


CASES = {
    # file: (expected parameters, output shape, the input of the forward pass)
    "resnet50_se_late.yaml": (resnet50_params(se_stages=(2, 3)), (1000,), (3, 224, 224)),
    # ECA: one kernel of 5 weights per bottleneck of 256 to 1024 channels, of 7 for 2048 (timm's kernel rule)
    "resnet50_attention.yaml": (resnet50_params() + 5 * (3 + 4 + 6) + 7 * 3, (1000,), (3, 224, 224)),
    "densenet_fashion_highway.yaml": (densenet_bc_highway_params(), (10,), (1, 28, 28)),
    "fashion_hybrid.yaml": (fashion_hybrid_params(), (10,), (1, 28, 28)),
}


def test_the_formulas_reproduce_the_zoo() -> None:
    """The hand formulas above are right: they give the zoo's published counts."""
    assert resnet50_params() == archc.summarize("resnet50").params == 25_557_032
    assert resnet50_params(se_stages=(0, 1, 2, 3)) == archc.summarize("se_resnet50").params == 28_088_024
    assert fashion_hybrid_params("residual") == 269_722 - conv(3, 16, 3) + conv(1, 16, 3)  # resnet20, one channel


def test_every_variant_file_is_checked_and_named_in_the_doc() -> None:
    assert sorted(path.name for path in VARIANTS.glob("*.yaml")) == sorted(CASES)
    text = DOC.read_text(encoding="utf-8")
    for name in CASES:
        assert f"docs/variants/{name}" in text


@pytest.mark.parametrize("name", sorted(CASES))
def test_variant_summary(name: str) -> None:
    params, output, input_shape = CASES[name]
    summary = archc.summarize(VARIANTS / name)
    assert summary.params == params
    assert summary.output_shape == output and summary.input_shape == input_shape


def test_variant_numbers_quoted_in_the_doc() -> None:
    """Every total the tutorial prints (in its pasted summaries) is the one archc computes today."""
    text = DOC.read_text(encoding="utf-8")
    for name, (params, _, _) in CASES.items():
        assert f"{params:,}" in text, f"{name}: {params:,} is not in docs/variants.md"
    assert "27,929,384" in text and "282,286" in text and "368,746" in text


def test_se_late_differs_from_se_resnet50_only_by_the_early_se() -> None:
    """The restated bottleneck body equals resnet50's but for the SE condition: no other node changes."""
    result = diff_graphs(archc.build_graph("se_resnet50"), archc.build_graph(VARIANTS / "resnet50_se_late.yaml"))
    blocks = [f"layer{s + 1}.{i}" for s, count in enumerate([3, 4]) for i in range(count)]
    assert [group for group, _ in grouped(result.removed)] == [f"{block}.se" for block in blocks]
    assert result.added == [] and result.shapes == []
    # each early block's residual sum reads bn3 again instead of the SE output; its other input is unchanged. The
    # variant extends resnet50, so its bn3 start at gamma 1, where se_resnet50 zero-inits them (timm's zero_init_last)
    rewired = [c for c in result.changed if c.inputs_changed]
    assert [(c.name, c.inputs_old[0], c.inputs_new[0]) for c in rewired] == [
        (f"{block}.add", f"{block}.se.mul", f"{block}.bn3") for block in blocks]
    assert all(c.inputs_old[1] == c.inputs_new[1] and not c.attrs for c in rewired)
    assert {(c.name.rsplit(".", 1)[1], c.attrs) for c in result.changed if not c.inputs_changed} == {
        ("bn3", (AttrChange("gamma_init", 0.0, 1.0),))}
    assert result.total.params_delta == -sum(count * se(256 * 2**s) for s, count in enumerate([3, 4]))


def test_hybrid_with_residual_carry_is_resnet20_on_one_channel() -> None:
    result = diff_graphs(archc.build_graph("resnet20"),
                         archc.build_graph(VARIANTS / "fashion_hybrid.yaml", carry="residual"))
    # the same nodes and attributes, but for resnet20's no-op option-A shortcuts where the shape is kept
    assert result.added == []
    assert {node.op for node in result.removed} == {"channel_pad"}
    assert all(change.inputs_changed and not change.attrs for change in result.changed)
    assert result.total.params_delta == conv(1, 16, 3) - conv(3, 16, 3)


def test_example_residual_is_the_corrected_original() -> None:
    path = ROOT / "specs" / "example_residual.yaml"
    if not path.exists():
        pytest.skip("specs/example_residual.yaml is not written yet")
    graph = archc.build_graph("example_residual")
    assert archc.summarize(graph).params == example_residual_params()
    assert graph.nodes[graph.output_node]["op"] == "softmax"
    # each block's shortcut reads the block input, not the convolved tensor
    for block, projected in (("block1", True), ("block2", False), ("block3", True), ("block5", True)):
        add = graph.nodes[f"{block}.add"]
        first_conv_input = graph.nodes[f"{block}.conv1"]["inputs"][0]
        shortcut = f"{block}.shortcut.bn" if projected else first_conv_input
        assert add["inputs"] == [f"{block}.bn2", shortcut]
        if projected:
            assert graph.nodes[f"{block}.shortcut.conv"]["inputs"] == [first_conv_input]


# ---- running them -----------------------------------------------------------------------------------------------

@cache
def torch_model(name: str) -> Any:
    """Each variant's torch model, built once for the tests below (ResNet-50 takes seconds)."""
    return archc.load(VARIANTS / name, backend="torch", seed=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_variant_runs_in_torch(name: str) -> None:
    torch = pytest.importorskip("torch")
    params, output, input_shape = CASES[name]
    model = torch_model(name)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == params
    model.eval()
    with torch.no_grad():
        y = model(torch.randn(2, *input_shape))
    assert tuple(y.shape) == (2, *output)
    assert bool(torch.isfinite(y).all())


def test_se_late_takes_torchvision_resnet50_weights() -> None:
    """Names are the checkpoint contract: every torchvision resnet50 tensor loads; only the SE tensors are new."""
    pytest.importorskip("torch")
    torchvision = pytest.importorskip("torchvision")
    model = torch_model("resnet50_se_late.yaml")
    result = model.load_state_dict(torchvision.models.resnet50().state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(".se." in key for key in result.missing_keys)
    assert len(result.missing_keys) == 9 * 4  # 9 blocks x (fc1, fc2) x (weight, bias)


@pytest.mark.slow  # imports tensorflow (tens of seconds on a loaded machine)
def test_keras_route_of_the_doc_trains_the_example() -> None:
    """The doc's Python route: archc.load(..., backend='keras'); compile with Adam and categorical cross-entropy."""
    if not (ROOT / "specs" / "example_residual.yaml").exists():
        pytest.skip("specs/example_residual.yaml is not written yet")
    np = pytest.importorskip("numpy")
    try:  # with tensorflow loaded first, a later import of triton (torch._dynamo) crashes the whole test process
        import torch._dynamo  # noqa: F401
    except ImportError:
        pass
    pytest.importorskip("keras")
    # the same network at 32 x 32 (global average pooling makes it size-agnostic): the route of the doc at 1/49
    # of the 224 x 224 cost
    small = "archc: 1\nextends: example_residual\nname: example_residual_32\ninput: {shape: [3, 32, 32]}\n"
    model = archc.load(small, backend="keras", num_classes=10, seed=0)
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    assert model.input_shape == (None, 32, 32, 3) and model.output_shape == (None, 10)  # NHWC in Keras
    assert model.layers[-1].name == "softmax"
    x = np.random.default_rng(0).random((4, 32, 32, 3), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[[3, 7, 0, 1]]
    history = model.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    probabilities = model.predict(x, verbose=0)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_doc_commands_name_real_files() -> None:
    """Every spec path in a command of the doc exists (zoo names are checked by building them)."""
    text = DOC.read_text(encoding="utf-8")
    for path in set(re.findall(r"(?:docs/variants|specs)/[\w.]+\.yaml", text)):
        assert (ROOT / path).is_file(), path
