"""The torch lowering: registry, names, generated code, and every op checked against hand-written torch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import torch.fx as fx  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch_backend_helpers import EVERY_OP  # noqa: E402

import archc  # noqa: E402
from archc.backends.torch import LOWERINGS, build_model, get_lowering, register_lowering  # noqa: E402
from archc.ops.registry import OPS, load_builtin_ops  # noqa: E402


def test_every_core_op_has_a_lowering():
    load_builtin_ops()
    LOWERINGS.load()
    assert set(OPS) <= set(LOWERINGS), f"ops without a torch lowering: {sorted(set(OPS) - set(LOWERINGS))}"


def test_duplicate_lowering_is_an_error():
    with pytest.raises(ValueError, match="'conv' is already registered"):
        register_lowering("conv")(lambda node: torch.nn.Identity())


def test_unknown_op_lists_the_known_ones():
    with pytest.raises(KeyError, match="unknown torch lowering 'convolution'.*; known torch lowerings: .*conv.*relu"):
        get_lowering("convolution")


def test_state_dict_keys_are_the_spec_names():
    densenet = build_model(archc.build_graph("densenet121", num_classes=10))
    assert "features.denseblock1.denselayer1.norm1.weight" in densenet.state_dict()
    assert "features.transition1.conv.weight" in densenet.state_dict()
    resnet = build_model(archc.build_graph("resnet18", num_classes=10))
    assert "layer2.0.downsample.0.weight" in resnet.state_dict()
    assert "layer2.0.downsample.1.num_batches_tracked" in resnet.state_dict()


def test_graph_module_names_input_output_and_code():
    graph = archc.build_graph("resnet18", num_classes=10)
    model = build_model(graph)
    assert isinstance(model, fx.GraphModule)
    assert type(model).__name__ == "Resnet18"
    placeholders = [node for node in model.graph.nodes if node.op == "placeholder"]
    assert [node.target for node in placeholders] == [graph.input_node]
    output = next(node for node in model.graph.nodes if node.op == "output")
    assert output.args[0].target == graph.output_node  # the fc module
    assert all(node.name.isidentifier() for node in model.graph.nodes)
    assert "layer1_0_conv1 = " in model.code and 'getattr(self.layer1, "0").conv1(' in model.code
    assert "torch.nn.functional.relu(" in model.code and "archc" not in model.code
    assert "torch._C" not in model.code  # no builtins printed by their C name
    # bn -> relu and add -> relu overwrite in place, as torchvision's ReLU(inplace=True); so does the residual sum
    assert model.code.count("inplace = True") == sum(1 for _, d in graph.op_nodes() if d["op"] == "relu")
    assert model.code.count(".add_(") == sum(1 for _, d in graph.op_nodes() if d["op"] == "add") == 8


def _reference_every_op(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """EVERY_OP written out with torch.nn.functional, reading the model's own parameters."""
    p = dict(model.named_parameters())
    b = dict(model.named_buffers())
    y = F.conv2d(x, p["stem.weight"], p["stem.bias"], padding=1)
    y = F.batch_norm(y, b["norm.running_mean"], b["norm.running_var"], p["norm.weight"], p["norm.bias"], eps=1e-3)
    y = torch.tanh(F.silu(F.gelu(F.relu6(F.leaky_relu(y, 0.2)), approximate="tanh")))
    y = F.pad(y[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2))
    avg = F.avg_pool2d(y, 3, 1, 1)
    gate = torch.sigmoid(avg.mean((2, 3), keepdim=True))
    scaled = avg * gate
    both = torch.cat([scaled - avg, scaled], 1)
    grow = F.conv2d(F.max_pool2d(both * 3, 2), p["grow.weight"])
    pair = torch.cat([grow.amax((2, 3)), grow.mean((2, 3))], 1)
    y = F.linear(pair, p["fc.weight"], p["fc.bias"])
    y = F.batch_norm(y, b["norm1d.running_mean"], b["norm1d.running_var"], p["norm1d.weight"], p["norm1d.bias"])
    return torch.softmax(F.relu(y), 1)


def test_every_op_matches_hand_written_torch():
    graph = archc.build_graph(EVERY_OP)
    model = build_model(graph, seed=0)
    with torch.no_grad():  # running statistics other than 0 / 1, so eval-mode bn is really exercised
        for name, buffer in model.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                buffer.uniform_(0.5, 1.5)
    model.eval()
    x = torch.randn(3, 4, 8, 8)
    keep = x.clone()
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference_every_op(model, x), rtol=1e-5, atol=1e-6)
    assert torch.equal(x, keep), "forward modified its input"


def test_every_op_trains():
    model = build_model(archc.build_graph(EVERY_OP), seed=0)
    x = torch.randn(5, 4, 8, 8)
    model(x).log().mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    assert int(model.get_buffer("norm.num_batches_tracked")) == 1


INPLACE_TRAPS = """
archc: 1
name: inplace_traps
input: {shape: [3, 8, 8]}
network:
  - {name: conv, conv: {out: 4, kernel: 3}}
  - {name: bn, bn: {}}
  - {name: a, relu: {}}
  - {name: b, relu: {}, from: [bn]}
  - {name: sum, add: {}, from: [a, b, bn]}
  - {name: s, sigmoid: {}}
  - {name: r, relu: {}}
  - {name: alias, identity: {}, from: [bn]}
  - {name: r2, relu: {}}
  - {name: out, add: {}, from: [r, r2]}
"""


def test_in_place_only_where_nothing_else_reads_the_tensor():
    graph = archc.build_graph(INPLACE_TRAPS)
    model = build_model(graph, seed=0)
    inplace = {node.name for node in model.graph.nodes if node.kwargs.get("inplace")}
    # bn is read by a, b, sum and (through the identity) r2; r reads a sigmoid, which autograd keeps
    assert inplace == set()
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    model(x).sum().backward()  # an unsafe in-place op would fail here or give wrong values
    with torch.no_grad():
        bn = model.bn(model.conv(x))
        expected = torch.relu(torch.sigmoid(2 * torch.relu(bn) + bn)) + torch.relu(bn)
    torch.testing.assert_close(model(x), expected)


AUTOCAST_ADDS = """
archc: 1
name: autocast_adds
input: {shape: [4, 8, 8]}
network:
  - {name: conv, conv: {out: 4, kernel: 3}}
  - {name: bn, bn: {}}
  - {name: skip, add: {}, from: [bn, input]}
  - {name: plain, bn: {}, from: [input]}
  - {name: conv2, conv: {out: 4, kernel: 1}, from: [skip]}
  - {name: mix, add: {}, from: [plain, conv2]}
"""


def test_residual_sum_in_place_only_where_autocast_cannot_widen_it():
    model = build_model(archc.build_graph(AUTOCAST_ADDS), seed=0)
    # skip: bn(conv(x)) is bf16 under autocast, the input float32: bf16 += fp32 would fail, so out of place.
    # mix: plain = bn(input) stays float32, and fp32 += bf16 is fine
    assert {node.name for node in model.graph.nodes if node.target == "add_"} == {"mix"}
    x = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        expected = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = model(x)
    got.float().sum().backward()
    torch.testing.assert_close(got.float(), expected, rtol=0.05, atol=0.1)


def test_graph_input_is_never_overwritten():
    graph = archc.build_graph("archc: 1\nname: t\ninput: {shape: [4]}\nnetwork: [relu, {linear: {out: 2}}]\n")
    model = build_model(graph)
    x = torch.randn(3, 4)
    keep = x.clone()
    model(x)
    assert torch.equal(x, keep)


@pytest.mark.parametrize("bad", ["train", "forward", "layer.state_dict"])
def test_a_name_that_shadows_a_module_attribute_is_a_located_error(bad):
    spec = f"archc: 1\nname: t\ninput: {{shape: [4]}}\nnetwork:\n  - {{name: {bad}, linear: {{out: 2}}}}\n"
    with pytest.raises(archc.SpecError, match=f"'{bad.split('.')[-1]}' in the node name") as info:
        build_model(archc.build_graph(spec))
    assert info.value.diagnostics[0].position is not None


def test_a_layer_cannot_also_be_a_container():
    spec = ("archc: 1\nname: t\ninput: {shape: [4]}\nnetwork:\n  - {name: a, linear: {out: 4}}\n"
            "  - {name: a.b, linear: {out: 2}}\n")
    with pytest.raises(archc.SpecError, match="'a' would be both a layer and the container of other layers"):
        build_model(archc.build_graph(spec))


def test_identity_output_and_rank_one_flatten():
    spec = ("archc: 1\nname: t\ninput: {shape: [4]}\n"
            "network: [{linear: {out: 3}}, flatten, {name: out, identity: {}}]\n")
    model = build_model(archc.build_graph(spec), seed=0)
    x = torch.randn(2, 4)
    torch.testing.assert_close(model(x), F.linear(x, model.get_parameter("linear.weight"),
                                                  model.get_parameter("linear.bias")))


def test_load_returns_the_torch_model():
    model = archc.load("densenet121", num_classes=10)
    assert isinstance(model, fx.GraphModule) and model.training
    assert model.classifier.out_features == 10
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 10)
