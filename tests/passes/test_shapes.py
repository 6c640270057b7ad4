"""Shape inference of every op family, checked against the formulas torch documents, and shape mismatches."""

from __future__ import annotations

import pytest

import archc
from archc import SpecError
from archc.ops.registry import OPS, ShapeError, load_builtin_ops

load_builtin_ops()


def shape_of(op: str, args: dict, *inputs: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(OPS[op].model_validate(args).infer_shape(list(inputs)))


def torch_conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    # torch.nn.Conv2d documentation: floor((H + 2p - d(k - 1) - 1) / s + 1)
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@pytest.mark.parametrize("kernel", [1, 3, 5, 7])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("size", [7, 8, 32, 33])
def test_conv_default_padding_is_same_for_odd_kernels(kernel, stride, dilation, size):
    padding = dilation * (kernel - 1) // 2
    expected = torch_conv_size(size, kernel, stride, padding, dilation)
    if expected < 1:
        return
    attrs = OPS["conv"].model_validate({"out": 5, "kernel": kernel, "stride": stride, "dilation": dilation})
    assert attrs.padding_hw == (padding, padding)
    assert shape_of("conv", {"out": 5, "kernel": kernel, "stride": stride, "dilation": dilation},
                    (3, size, size)) == (5, expected, expected)
    if stride == 1:
        assert expected == size  # "same"


@pytest.mark.parametrize(("args", "shape"), [
    ({"out": 8, "kernel": 3, "padding": 0}, (8, 30, 30)),
    ({"out": 8, "kernel": 7, "stride": 2, "padding": 3}, (8, 16, 16)),
    ({"out": 8, "kernel": [1, 7], "padding": [0, 3]}, (8, 32, 32)),
    ({"out": 8, "kernel": [3, 1], "stride": [2, 1]}, (8, 16, 32)),
    ({"out": 8, "kernel": 3, "dilation": 2, "padding": 0}, (8, 28, 28)),
    ({"out": 8, "kernel": 3, "padding": "same"}, (8, 32, 32)),
    ({"out": 8, "kernel": 2, "stride": 2}, (8, 16, 16)),  # even kernel: default padding 0
    ({"out": 12, "kernel": 3, "groups": 4}, (12, 32, 32)),
])
def test_conv_shapes(args, shape):
    assert shape_of("conv", args, (4, 32, 32)) == shape


def test_conv_errors():
    with pytest.raises(ShapeError, match="divisible by 3"):
        shape_of("conv", {"out": 6, "kernel": 1, "groups": 3}, (4, 8, 8))
    with pytest.raises(ShapeError, match="does not fit input height 2"):
        shape_of("conv", {"out": 6, "kernel": 5, "padding": 0}, (4, 2, 8))
    with pytest.raises(ShapeError, match=r"conv expects \[C, H, W\] input, got \[10\]"):
        shape_of("conv", {"out": 6, "kernel": 1}, (10,))


@pytest.mark.parametrize(("op", "args", "shape"), [
    ("maxpool", {"kernel": 2}, (4, 16, 16)),  # stride defaults to the kernel, padding to 0
    ("maxpool", {"kernel": 3, "stride": 2, "padding": 1}, (4, 16, 16)),
    ("maxpool", {"kernel": 3, "stride": 2}, (4, 15, 15)),
    ("avgpool", {"kernel": 2, "stride": 2}, (4, 16, 16)),
    ("avgpool", {"kernel": [2, 4]}, (4, 16, 8)),
    ("avgpool", {"kernel": 3, "stride": 1, "padding": 1}, (4, 32, 32)),
    ("global_avgpool", {}, (4, 1, 1)),
    ("global_avgpool", {"keepdims": False}, (4,)),
    ("global_maxpool", {}, (4, 1, 1)),
])
def test_pool_shapes(op, args, shape):
    assert shape_of(op, args, (4, 32, 32)) == shape


def test_pool_errors():
    with pytest.raises(ShapeError, match="more than half the kernel"):
        shape_of("maxpool", {"kernel": 2, "padding": 2}, (4, 8, 8))
    with pytest.raises(ShapeError, match="does not fit"):
        shape_of("avgpool", {"kernel": 9}, (4, 8, 8))


def test_linear_flatten_and_elementwise():
    assert shape_of("linear", {"out": 10}, (64,)) == (10,)
    message = r"linear expects \[features\] or \[N, D\] tokens input, got \[64, 2, 2\]"
    with pytest.raises(ShapeError, match=message) as info:
        shape_of("linear", {"out": 10}, (64, 2, 2))
    assert "flatten" in info.value.hint
    assert shape_of("flatten", {}, (64, 2, 3)) == (384,)
    for op in ("relu", "bn", "dropout", "identity", "sigmoid", "gelu", "softmax", "leaky_relu"):
        assert shape_of(op, {}, (4, 5, 6)) == (4, 5, 6)
    assert shape_of("bn", {}, (7,)) == (7,)


def test_merges():
    assert shape_of("concat", {}, (4, 8, 8), (6, 8, 8), (1, 8, 8)) == (11, 8, 8)
    assert shape_of("concat", {}, (4,), (6,)) == (10,)
    assert shape_of("add", {}, (4, 8, 8), (4, 8, 8), (4, 8, 8)) == (4, 8, 8)
    assert shape_of("mul", {}, (4, 8, 8), (4, 1, 1)) == (4, 8, 8)  # an SE gate broadcasts over H and W
    assert shape_of("sub", {}, (4, 8, 8), (4, 8, 8)) == (4, 8, 8)
    assert shape_of("channel_pad", {"out": 8, "stride": 2}, (4, 7, 7)) == (8, 4, 4)


def test_mismatches_name_both_shapes():
    with pytest.raises(ShapeError, match=r"cannot concatenate \[4, 4, 4\] with \[4, 8, 8\]"):
        shape_of("concat", {}, (4, 8, 8), (4, 4, 4))
    with pytest.raises(ShapeError, match=r"cannot add \[8, 8, 8\] and \[4, 8, 8\]") as info:
        shape_of("add", {}, (4, 8, 8), (8, 8, 8))
    assert "projection shortcut" in info.value.hint
    with pytest.raises(ShapeError, match="cannot shrink"):
        shape_of("channel_pad", {"out": 2}, (4, 8, 8))


def test_shape_errors_are_located_in_the_spec():
    with pytest.raises(SpecError) as info:
        archc.build_graph("archc: 1\nname: t\ninput: {shape: [3, 32, 32]}\nnetwork:\n"
                          "  - {name: a, conv: {out: 8, kernel: 3}}\n"
                          "  - {name: b, maxpool: {kernel: 2}}\n"
                          "  - {name: c, concat: {}, from: [a, b]}\n")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message.startswith("cannot concatenate [8, 16, 16] with [8, 32, 32]")
    assert (diagnostic.position.line, diagnostic.position.col) == (7, 15)
    assert diagnostic.hint == "downsample both branches to the same height and width"


def test_graph_shapes_along_a_network():
    graph = archc.build_graph("resnet18")
    assert graph.nodes["conv1"]["shape"] == (64, 112, 112)
    assert graph.nodes["maxpool"]["shape"] == (64, 56, 56)
    assert graph.nodes["layer2.0.downsample.0"]["shape"] == (128, 28, 28)
    assert graph.nodes["layer4.1.bn2"]["shape"] == (512, 7, 7)
    assert graph.nodes["avgpool"]["shape"] == (512, 1, 1)
    assert graph.nodes["fc"]["shape"] == (1000,)
